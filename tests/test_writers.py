"""The CSV, Excel and PDF writers, each file read back with an independent reader."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pypdf
import pytest
from openpyxl.utils import get_column_letter

from callreport.export.cells import neutralize
from callreport.export.columns import DEFAULT_COLUMNS, PDF_COLUMNS, resolve_columns
from callreport.export.csv import write_csv
from callreport.export.meta import PROGRESS_EVERY, ReportMeta
from callreport.export.pdf import write_pdf
from callreport.export.xlsx import write_xlsx

KOLKATA, NEW_YORK = ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
COLUMNS = DEFAULT_COLUMNS + resolve_columns(["callAnalysis.sentiment", "callAnalysis.score"])
TRICKY = [
    "=SUM(A1)", "+1 (555) 010-9999", "-5", "@x", "\tx", "\rx", "-", "+91 98765 43210", "3.14",
    "x,y", 'say "hi"', "two\nlines", "Αλέξης", "Дмитрий", "王小明", "ok 😀", "<r>a&b</r>", "", None,
]  # fmt: skip
PHONES = ["+919876543210", "+91XXXXXXXX10", "+1 555-010-9999", "-12 34", "98765 43210", "XXXX"]
NAMES = ["Αλέξης", "Иван", "Dana", "王小明", "Zoë 😀", None]


def make_rows(n: int, seed: int = 7) -> list[tuple]:
    """Rows of values as columns.row_values gives them, with every awkward case mixed in."""
    rnd = random.Random(seed)
    start = int(datetime(2024, 3, 9, 22, 0, tzinfo=NEW_YORK).timestamp())  # hours before a DST change
    rows = []
    for i in range(n):
        begin = datetime.fromtimestamp(start + 17 * 60 * i, KOLKATA if i % 2 else NEW_YORK)
        duration = rnd.randint(0, 4000)
        analysis = {
            "sentiment": rnd.choice(["положительный", "αρνητικό", "=bad"]),
            "nested": {"k": ["α", 1, None]},
        }
        sentiment = rnd.choice(TRICKY + [True, False, 7, 2.5])
        rows.append(
            (f"c{i:05d}", begin, begin + timedelta(seconds=duration), duration, rnd.randint(0, duration),
             rnd.randint(0, 60), rnd.randint(0, 90), rnd.choice(["inbound", "outbound"]), "click2call",
             rnd.choice(["answered", "missed", "noanswer"]), rnd.choice(PHONES), rnd.choice(PHONES),
             "+911234567890", rnd.choice(["a1", None]), rnd.choice(NAMES), rnd.choice(TRICKY),
             rnd.choice(TRICKY), rnd.choice(TRICKY), "Queue Ω" if i % 3 else None, rnd.choice(["agent", None]),
             None, analysis,
             sentiment, rnd.choice([None, 3, -1.25]))
        )  # fmt: skip
    return rows


META = ReportMeta(
    title="Weekly calls — Εβδομάδα",
    account_name="Acme Ltd",
    timezone="Asia/Kolkata",
    filters_text=["Dates: 2024-03-09 to 2024-03-16", "Status: answered, missed"],
    generated_at=datetime(2024, 3, 17, 9, 30, tzinfo=KOLKATA),
    totals={"calls": 120, "answered": 80, "missed": 40, "talk_seconds": 3725},
    per_day=[("2024-03-09", 10, 5), ("2024-03-11", 30, 15), ("2024-03-12", 40, 20)],
    by_status=[("answered", 80), ("missed", 30), ("noanswer", 10)],
    by_agent=[("a1", "Αλέξης", 70, 50, 3000), (None, None, 50, 30, 725)],
)


def is_plain_number(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return all(ch in "0123456789 -." for ch in body)


def csv_cell(kind: str, value: object) -> str:
    """What the contract says a CSV cell holds, computed without the writer's code."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, int | float):
        return json.dumps(value)
    if value and value[0] in "=+-@\t\r" and not is_plain_number(value):
        return "'" + value
    return value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+91XXXXXXXX10", "'+91XXXXXXXX10"),
        ("+919876543210", "+919876543210"),
        ("+91 98765-43210", "+91 98765-43210"),
        ("+1 (555) 010-9999", "'+1 (555) 010-9999"),
        ("-5", "-5"),
        ("-2.5", "-2.5"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\r5", "'\r5"),
        ("+-5", "+-5"),  # a sign, then a dash and a digit: plain by the rule's letter
        ("+5x", "'+5x"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_neutralize_follows_the_formula_rule(text: str, expected: str) -> None:
    assert neutralize(text) == expected


def test_csv_matches_the_contract_cell_by_cell() -> None:
    rows = make_rows(400)
    out = io.BytesIO()
    assert write_csv(COLUMNS, iter(rows), out) == 400
    assert not out.closed
    raw = out.getvalue()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.count(b"\r\n") >= 401
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert parsed[0] == [c.name for c in COLUMNS]
    assert len(parsed) == 401
    for values, cells in zip(rows, parsed[1:], strict=True):
        assert cells == [csv_cell(c.kind, v) for c, v in zip(COLUMNS, values, strict=True)]


def test_csv_quotes_as_rfc_4180_and_masks_formulas() -> None:
    cols = resolve_columns(["callId", "customerNumber", "agentName"])
    rows = [("a", "+91XXXXXXXX10", 'say "hi", then\r\nbye'), ("b", "+919876543210", "=HYPERLINK(x)")]
    out = io.BytesIO()
    write_csv(cols, rows, out)
    assert out.getvalue().decode() == (
        "callId,customerNumber,agentName\r\n"
        'a,\'+91XXXXXXXX10,"say ""hi"", then\r\nbye"\r\n'
        "b,+919876543210,'=HYPERLINK(x)\r\n"
    )


def excel_text(value: str) -> str:
    """Undo the _xHHHH_ escapes of the XLSX format, as Excel does when it reads a cell."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def xlsx_expected(kind: str, value: object) -> object:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str):
        return value[:32767] or None  # Excel's cell limit; an empty text is a blank cell
    return value


def test_xlsx_typed_cells_sheets_and_summary(tmp_path) -> None:
    odd = ("<r>a&b</r>", "é" * 40000, "=SUM(A1)", "\rx\x01_x0041_", "", "@queue", None, None, {}, True, 2.5)
    rows = make_rows(12) + [("long", None, None, 1, 1, 1, 1, "x", "x", "x", "1", "2", "3", *odd)]
    path = str(tmp_path / "r.xlsx")
    assert write_xlsx(COLUMNS, rows, path, META, max_rows_per_sheet=5) == 13
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Calls", "Calls 2", "Calls 3", "Summary"]
    read = []
    for name, count in (("Calls", 5), ("Calls 2", 5), ("Calls 3", 3)):
        ws = wb[name]
        assert [c.value for c in ws[1]] == [c.name for c in COLUMNS]
        assert all(c.font.b for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{get_column_letter(len(COLUMNS))}{count + 1}"
        assert ws.max_row == count + 1
        read += list(ws.iter_rows(min_row=2))
    for values, cells in zip(rows, read, strict=True):
        for column, value, cell in zip(COLUMNS, values, cells, strict=True):
            got = excel_text(cell.value) if isinstance(cell.value, str) else cell.value
            assert got == xlsx_expected(column.kind, value), (column.name, value)
            if column.kind == "time" and value is not None:
                assert isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd hh:mm:ss"
            if column.kind == "int":
                assert cell.data_type == "n"
            if column.kind == "phone" or isinstance(value, str) and value:
                assert cell.data_type == "s"
            if isinstance(value, bool):
                assert cell.data_type == "b"
    assert [c.value for c in read[-1][13:16]] == ["<r>a&b</r>", "é" * 32767, "=SUM(A1)"]


def test_xlsx_summary_sheet(tmp_path) -> None:
    path = str(tmp_path / "r.xlsx")
    write_xlsx(COLUMNS, make_rows(3), path, META)
    rows = [
        tuple(v for v in r if v is not None)
        for r in openpyxl.load_workbook(path)["Summary"].iter_rows(values_only=True)
    ]
    rows = [r for r in rows if r]
    assert rows[0] == (META.title,)
    assert ("Account", "Acme Ltd") in rows and ("Timezone", "Asia/Kolkata") in rows
    assert ("Filters", "Dates: 2024-03-09 to 2024-03-16") in rows and ("Status: answered, missed",) in rows
    assert ("Calls", 120) in rows and ("Answered", 80) in rows and ("Missed", 40) in rows
    assert ("Talk time (s)", 3725, "1:02:05") in rows
    status = rows.index(("Status", "Calls"))
    assert rows[status + 1 : status + 4] == [("answered", 80), ("missed", 30), ("noanswer", 10)]
    agents = rows.index(("Agent ID", "Agent name", "Calls", "Answered", "Missed", "Talk time (s)"))
    assert rows[agents + 1 : agents + 3] == [("a1", "Αλέξης", 70, 50, 20, 3000), (50, 30, 20, 725)]


def pdf_pages(path: str) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def pdf_rows(rows: list[tuple]) -> list[tuple]:
    """The rows' values for the PDF's default columns."""
    at = [DEFAULT_COLUMNS.index(c) for c in PDF_COLUMNS]
    return [tuple(r[i] for i in at) for r in rows]


def test_pdf_pages_header_footer_and_text(tmp_path) -> None:
    rows = make_rows(300)
    path = str(tmp_path / "r.pdf")
    assert write_pdf(PDF_COLUMNS, pdf_rows(rows), path, META) == 300
    pages = pdf_pages(path)
    total = len(pages)
    assert total >= 4  # the cover and at least three table pages
    for number, text in enumerate(pages, start=1):
        assert re.search(r"Page (\d+) of\s*(\d+)", text).groups() == (str(number), str(total))
    cover = pages[0]
    for fact in (META.title, "Acme Ltd", "Asia/Kolkata", "2024-03-17 09:30:00+05:30", META.filters_text[1]):
        assert fact in cover
    assert "120" in cover and "1:02:05" in cover and "Calls per day" in cover
    table = pages[1:]
    header = "".join(c.name for c in PDF_COLUMNS)
    assert all("".join(t.split()).startswith(header) for t in table)
    ids = [m for t in table for m in re.findall(r"\bc\d{5}\b", t)]
    assert ids == [f"c{i:05d}" for i in range(300)]
    body = "\n".join(table)
    # Typical values are shown whole, on one line: the column widths fit them.
    for value in ("2024-03-09 22:00:00", "+1 555-010-9999", "click2call", "answered", "outbound", "Дмитрий"):
        assert value in body
    assert "Αλέξης" in body and "Иван" in body
    assert "Zoë ?" in body and "???" in body  # emoji and CJK, which the fonts lack


def test_pdf_every_column_wraps_whole_values(tmp_path) -> None:
    """Every record column asked for: smaller type, but every value is there whole (wrapped, not cut)."""
    rows = make_rows(40)
    path = str(tmp_path / "r.pdf")
    assert write_pdf(DEFAULT_COLUMNS, [r[: len(DEFAULT_COLUMNS)] for r in rows], path, META) == 40
    body = "".join("".join(pages.split()) for pages in pdf_pages(path)[1:])
    assert "\u2026" not in body
    for name in (c.name for c in DEFAULT_COLUMNS):
        assert name in body
    for row in rows:
        for value in (row[0], row[1].isoformat(" ")[:19], row[10], row[12]):
            assert "".join(value.split()) in body


def test_pdf_with_no_rows_and_many_days(tmp_path) -> None:
    days = [datetime(2020, 1, 1) + timedelta(n) for n in range(900)]
    meta = ReportMeta(**{**META.__dict__, "per_day": [(f"{d:%Y-%m-%d}", 3, 1) for d in days]})
    path = str(tmp_path / "r.pdf")
    assert write_pdf(DEFAULT_COLUMNS, [], path, meta) == 0
    pages = pdf_pages(path)
    assert len(pages) == 1 and "No calls match" in pages[0] and "callId" not in pages[0]
    assert "Calls per 15 days" in pages[0]


@pytest.mark.parametrize("writer", ["csv", "xlsx", "pdf"])
def test_progress_is_reported_and_can_abort(tmp_path, writer: str) -> None:
    rows = [r[: len(DEFAULT_COLUMNS)] for r in make_rows(PROGRESS_EVERY * 2 + 10)]

    def write(progress):
        if writer == "csv":
            return write_csv(DEFAULT_COLUMNS, rows, io.BytesIO(), progress)
        target = str(tmp_path / f"r.{writer}")
        fn = write_xlsx if writer == "xlsx" else write_pdf
        return fn(DEFAULT_COLUMNS, rows, target, META, progress)

    seen: list[int] = []
    assert write(seen.append) == len(rows)
    assert seen == sorted(seen) and seen[-1] == len(rows) and len(seen) >= 2

    def cancel(count: int) -> None:
        raise RuntimeError("cancelled")

    for leftover in tmp_path.iterdir():
        leftover.unlink()
    with pytest.raises(RuntimeError, match="cancelled"):
        write(cancel)
    assert list(tmp_path.iterdir()) == []  # no partial file is left behind


def test_chart_bars_fill_gaps_and_group_many_days() -> None:
    from callreport.export.pdfchart import day_bars

    bars, size = day_bars([("2024-03-12", 40, 20), ("2024-03-09", 10, 5), ("2024-03-09", 1, 0)])
    assert size == 1
    assert bars == [("2024-03-09", 11, 5), ("2024-03-10", 0, 0), ("2024-03-11", 0, 0), ("2024-03-12", 40, 20)]
    days = [(f"{datetime(2024, 1, 1) + timedelta(n):%Y-%m-%d}", 1, 2) for n in range(100)]
    bars, size = day_bars(days, max_bars=30)
    assert size == 4 and len(bars) == 25
    assert bars[0] == ("2024-01-01", 4, 8) and bars[-1] == ("2024-04-06", 4, 8)
