"""Every export format read back and compared with expectations computed here from the
records this module generates and ingests over HTTP (never from the service's output)."""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from pypdf import PdfReader

from tests.export_data import (
    ACCOUNT_TZ,
    DEFAULT_COLUMNS,
    DID,
    PDF_DEFAULT,
    VIEW_TZ,
    Dataset,
    csv_cell,
    export,
    ingest,
    make_records,
    mask,
    ordered,
    parse_csv,
    select,
    xlsx_cell,
)
from tests.factories import make_tenant


@pytest.fixture(scope="module")
def dataset(client: TestClient, engine: sa.Engine) -> Dataset:
    """150 records (three PDF table pages) in a fresh account, per backend."""
    viewer = make_tenant(engine, timezone=ACCOUNT_TZ)
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=viewer.account_id)
    records = make_records(150, seed=20240306, prefix="FMT")
    ingest(client, viewer, records)
    return Dataset(viewer, masked, records, f"acct {viewer.username}")


@pytest.fixture
def run(client: TestClient, engine: sa.Engine, local_storage: Any, settings: Any):
    """export(creds, endpoint, body) on the session's app and local storage."""
    return lambda creds, endpoint, body: export(client, engine, local_storage, settings, creds, endpoint, body)


def check_csv_rows(rows: list[list[str]], columns: list[str], expected: list[dict], masked: bool) -> None:
    """Header and every cell against the records."""
    assert rows[0] == columns
    assert [r[columns.index("callId")] for r in rows[1:]] == [r["callId"] for r in expected]
    for got, rec in zip(rows[1:], expected, strict=True):
        for name, cell in zip(columns, got, strict=True):
            want = csv_cell(rec, name, masked)
            if isinstance(want, dict):
                assert json.loads(cell) == want
                assert cell == json.dumps(json.loads(cell), separators=(",", ":"), ensure_ascii=False)
            else:
                assert cell == want, (rec["callId"], name)


def test_csv_default_columns_in_the_effective_timezone(dataset: Dataset, run) -> None:
    start, end = "2024-03-07", "2024-03-11"
    _, body, _ = run(dataset.viewer.creds, "exportCsv", {"startDate": start, "endDate": end, "timezone": VIEW_TZ})
    tz = ZoneInfo(VIEW_TZ)
    lo = datetime(2024, 3, 7, tzinfo=tz).isoformat()
    hi = datetime(2024, 3, 11, 23, 59, 59, tzinfo=tz).isoformat()
    expected = ordered(select(dataset.records, lo, hi))
    assert 40 < len(expected) < len(dataset.records)
    rows = parse_csv(body)
    check_csv_rows(rows, DEFAULT_COLUMNS, expected, masked=False)
    # Both sides of the DST change show their own offsets.
    offsets = {cell[-6:] for row in rows[1:] for cell in (row[1], row[2])}
    assert offsets == {"-05:00", "-04:00"}


def test_csv_columns_sort_and_masking(dataset: Dataset, run) -> None:
    columns = [
        "callId",
        "callAnalysis.sentiment",
        "callAnalysis.score",
        "callAnalysis.flag",
        "customerNumber",
        "callerNumber",
        "didNumber",
        "duration",
        "disposition",
        "campaign",
        "agentName",
        "startTime",
    ]
    body = {"columns": columns, "sortBy": "duration", "sortOrder": "asc", "timezone": VIEW_TZ}
    _, data, _ = run(dataset.masked.creds, "exportCsv", body)
    rows = parse_csv(data)
    check_csv_rows(rows, columns, ordered(dataset.records, "duration", "asc"), masked=True)
    cells = {cell for row in rows[1:] for cell in row}
    # The contract's own examples of the formula rule and the masking.
    assert "'=SUM(A1)" in cells and "'+91XXXXXXXX10" in cells and "'=1+1" in cells
    assert "+919876543210" not in cells and "-42" in cells and "+1.5" in cells
    assert {row[columns.index("didNumber")] for row in rows[1:]} == {DID}


def test_csv_full_numbers_and_nulls_last(dataset: Dataset, run) -> None:
    columns = ["callId", "agentName", "customerNumber", "recordingUrl"]
    body = {"columns": columns, "sortBy": "agentName", "sortOrder": "desc", "timezone": VIEW_TZ}
    _, data, _ = run(dataset.viewer.creds, "exportCsv", body)
    rows = parse_csv(data)
    check_csv_rows(rows, columns, ordered(dataset.records, "agentName", "desc"), masked=False)
    assert rows[-1][1] == "" and "+919876543210" in {row[2] for row in rows}


# --- Excel ----------------------------------------------------------------------------------


def summary_tables(ws: Any) -> dict[str, list[tuple]]:
    """The Summary sheet's titled tables: title -> data rows (header row skipped)."""
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    tables: dict[str, list[tuple]] = {}
    for i, row in enumerate(rows):
        if row[0] in ("By status", "By agent"):
            body = []
            for data in rows[i + 2 :]:
                if all(v is None for v in data):
                    break
                body.append(data)
            tables[row[0]] = body
    return tables


def check_summary(ws: Any, records: list[dict]) -> None:
    """Totals by status and by agent equal a Python aggregation of the records."""
    tables = summary_tables(ws)
    assert {row[0]: row[1] for row in tables["By status"]} == dict(Counter(r["status"] for r in records))
    agents: dict[Any, list] = defaultdict(lambda: [None, 0, 0, 0, 0])
    for r in records:
        a = agents[r["agentId"]]
        answered = r["status"] == "answered"
        a[0] = r["agentName"]
        a[1] += 1
        a[2] += answered
        a[3] += not answered
        a[4] += r["talkDuration"] if answered else 0
    got = {row[0]: list(row[1:6]) for row in tables["By agent"]}
    assert got == {k: v for k, v in agents.items()}
    labels = {row[0].value: row[1].value for row in ws.iter_rows() if row[0].value}
    assert labels["Calls"] == len(records)
    assert labels["Answered"] == sum(r["status"] == "answered" for r in records)
    assert labels["Missed"] == sum(r["status"] != "answered" for r in records)


@pytest.mark.parametrize("who", ["viewer", "masked"])
def test_xlsx_cells_header_and_summary(dataset: Dataset, run, tmp_path: Path, who: str) -> None:
    tenant = getattr(dataset, who)
    _, data, _ = run(tenant.creds, "exportExcel", {"timezone": VIEW_TZ, "sortOrder": "asc"})
    path = tmp_path / "report.xlsx"
    path.write_bytes(data)
    wb = load_workbook(path)
    ws = wb["Calls"]
    expected = ordered(dataset.records, "startTime", "asc")
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == DEFAULT_COLUMNS
    assert all(c.font.b for c in rows[0])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:V{len(expected) + 1}"
    assert len(rows) == len(expected) + 1
    masked = who == "masked"
    for row, rec in zip(rows[1:], expected, strict=True):
        for name, cell in zip(DEFAULT_COLUMNS, row, strict=True):
            want = xlsx_cell(rec, name, masked)
            if name == "callAnalysis":
                assert cell.data_type == "s" and json.loads(cell.value) == want
            elif isinstance(want, str):
                # OOXML writes control characters as _xHHHH_, which Excel decodes and openpyxl does not.
                assert cell.data_type == "s" and unescape(cell.value) == want, (rec["callId"], name)
            elif isinstance(want, datetime):
                assert cell.is_date and cell.value == want
            else:
                assert cell.value == want, (rec["callId"], name)
                if want is not None:
                    assert cell.data_type == "n"
    check_summary(wb["Summary"], dataset.records)


# --- PDF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "masked"])
def test_pdf_cover_header_pages_and_rows(dataset: Dataset, run, who: str) -> None:
    tenant = getattr(dataset, who)
    title = "Weekly report"
    _, data, _ = run(tenant.creds, "exportPdf", {"timezone": VIEW_TZ, "title": title})
    reader = PdfReader(io.BytesIO(data))
    pages = [p.extract_text() or "" for p in reader.pages]
    n = len(pages)
    assert n >= 4  # a cover and 150 rows on more than two pages
    assert title in pages[0] and dataset.account_name in pages[0] and VIEW_TZ in pages[0]
    for i, text in enumerate(pages, start=1):
        assert re.findall(r"Page (\d+) of\s*(\d+)", text) == [(str(i), str(n))], text[-200:]
    table = [p for p in pages if "".join(p.split()).startswith("callId")]
    assert len(table) >= 3
    header = "".join(PDF_DEFAULT)  # the PDF's default columns, not every field: they must fit the page
    for text in table:
        assert "".join(text.split()).startswith(header)
    expected = ordered(dataset.records)
    joined = "\n".join(table)
    positions = [joined.find(r["callId"]) for r in expected]
    assert -1 not in positions and positions == sorted(positions)
    # Wide numbers may be cut with an ellipsis in the narrow PDF cell; these two are short.
    full, hidden = "+919876543210", "+91XXXXXXXX10"
    if who == "masked":
        assert hidden in joined and full not in joined
    else:
        assert full in joined and hidden not in joined
    # didNumber is never masked; it is not a default PDF column, so it is asked for.
    _, data, _ = run(tenant.creds, "exportPdf", {"timezone": VIEW_TZ, "columns": ["callId", "didNumber"]})
    numbers = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages[1:])
    assert DID in numbers and mask(DID) not in numbers
