"""Rows per second of the CSV, Excel, PDF and JSON Lines writers next to the plain library doing the least.

    python benchmarks/bench_writers.py            # 50,000 CSV and JSONL rows, 20,000 XLSX and PDF rows
    python benchmarks/bench_writers.py 100000     # that many rows for every format

The "pdf, demo data" lines write the PDF's default columns for calls of the demo (Hindi,
Arabic, Russian, Greek and accented names): ours (ReportLab, HarfBuzz shaping of complex
scripts) next to fpdf2 with its text shaping, once wrapping long cells (as ours does) and
once cell by cell without wrapping, the least fpdf2 can do.

Each measurement runs in a fresh process, so its peak RSS is its own. Rows are made lazily
from a pool of 1,000 (as a cursor yields them, so memory reflects the writer, and cheaply, so
time does too). The "csv + SQLite read" line streams the rows out of an SQLite copy of the
calls table through columns.row_values: the path an export job takes, database read included.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import itertools
import multiprocessing
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from callreport.export.columns import DEFAULT_COLUMNS, PDF_COLUMNS, row_values
from callreport.export.meta import ReportMeta

TZ = ZoneInfo("Asia/Kolkata")
HAVE_FPDF2 = importlib.util.find_spec("fpdf") is not None
NAMES = ["Αλέξης Παπαδόπουλος", "Дмитрий Иванов", "Priya Sharma", "José Álvarez", None]


def records(n: int) -> Iterator[dict]:
    """Synthetic calls as stored: epoch seconds, numbers, a callAnalysis document."""
    rnd = random.Random(1)
    start = int(datetime(2024, 1, 1, tzinfo=TZ).timestamp())
    for i in range(n):
        begin, duration = start + i * 31, rnd.randint(5, 900)
        yield dict(
            call_id=f"call-{i:09d}", start_ts=begin, end_ts=begin + duration, duration=duration,
            talk_duration=duration // 2, hold_duration=rnd.randint(0, 30), wait_time=rnd.randint(0, 60),
            direction=rnd.choice(["inbound", "outbound"]), call_type=rnd.choice(["ivr", "click2call"]),
            status=rnd.choice(["answered", "answered", "missed", "busy"]), caller_number="+919876543210",
            customer_number=f"+91 98{rnd.randint(100, 999)} {rnd.randint(10000, 99999)}",
            did_number="+918000000000", agent_id=f"agent-{i % 40:03d}", agent_name=NAMES[i % len(NAMES)],
            campaign="spring", department="sales", disposition="=callback" if i % 50 == 0 else "done",
            hangup_by="customer", recording_url=f"https://rec.example/{i}.mp3",
            call_analysis={"sentiment": rnd.choice(["positive", "negative"]), "score": rnd.randint(1, 5)},
        )  # fmt: skip


class _Row:
    """A record read by attribute, as a database row is."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


POOL = 1000  # distinct rows made once; the writers see them again with fresh call ids


def value_rows(n: int) -> Iterator[tuple]:
    """Rows of column values, as an export job hands them to a writer, at almost no cost to make."""
    pool = [row_values(DEFAULT_COLUMNS, _Row(rec), TZ, True)[1:] for rec in records(min(n, POOL))]
    for i in range(n):
        yield (f"call-{i:09d}", *pool[i % POOL])


def meta(n: int) -> ReportMeta:
    """Figures for the Summary sheet and the PDF cover."""
    first = datetime(2024, 1, 1)
    days = [(f"{first + timedelta(d):%Y-%m-%d}", 2000, 800) for d in range(n * 31 // 86400 + 1)]
    totals = {"calls": n, "answered": n // 2, "missed": n - n // 2, "talk_seconds": n * 200}
    return ReportMeta("Benchmark", "Bench Ltd", "Asia/Kolkata", ["All calls"], datetime.now(TZ), totals, days,
                      [("answered", n // 2)], [("agent-001", "Αλέξης", n, n // 2, n * 200)])  # fmt: skip


def ours_csv(n: int, path: str) -> None:
    from callreport.export.csv import write_csv

    with open(path, "wb") as out:
        write_csv(DEFAULT_COLUMNS, value_rows(n), out)


def ours_csv_sqlite(n: int, path: str) -> tuple[float, float]:
    """Load an SQLite file, then time the read-and-write alone: (wall, CPU) seconds."""
    import sqlalchemy as sa

    from callreport.export.csv import write_csv
    from callreport.models import calls, metadata

    engine = sa.create_engine(f"sqlite:///{path}.db")
    metadata.create_all(engine)
    with engine.begin() as conn:
        batch = []
        for rec in records(n):
            rev = "".join(ch for ch in reversed(rec["customer_number"]) if ch.isdigit())
            batch.append({**rec, "account_id": "a", "customer_rev": rev, "events": [], "updated_at": 0})
            if len(batch) == 5000:
                conn.execute(calls.insert(), batch)
                batch = []
        if batch:
            conn.execute(calls.insert(), batch)
    started, cpu = time.perf_counter(), time.process_time()
    with engine.connect() as conn, open(path, "wb") as out:
        stmt = sa.select(calls).where(calls.c.account_id == "a").order_by(calls.c.start_ts, calls.c.call_id)
        result = conn.execution_options(yield_per=2000).execute(stmt)
        write_csv(DEFAULT_COLUMNS, (row_values(DEFAULT_COLUMNS, r, TZ, True) for r in result), out)
    return time.perf_counter() - started, time.process_time() - cpu


def iso_rows(n: int) -> Iterator[tuple]:
    """value_rows with times as ISO 8601 text, as the export job hands them to CSV and JSONL."""
    for row in value_rows(n):
        yield tuple(v.isoformat() if isinstance(v, datetime) else v for v in row)


def ours_jsonl(n: int, path: str) -> None:
    from callreport.export.jsonl import write

    write(DEFAULT_COLUMNS, iso_rows(n), path, lambda: meta(n))


def base_jsonl(n: int, path: str) -> None:
    """orjson arrays (no field names) through gzip at the same level: the least JSON Lines can be."""
    import gzip

    import orjson

    from callreport.export.jsonl import LEVEL

    with gzip.open(path, "wb", compresslevel=LEVEL) as out:
        for row in iso_rows(n):
            out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))


def base_csv(n: int, path: str) -> None:
    with open(path, "wb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        csv.writer(text, lineterminator="\r\n").writerows(value_rows(n))
        text.flush()


def ours_xlsx(n: int, path: str) -> None:
    from callreport.export.xlsx import write_xlsx

    write_xlsx(DEFAULT_COLUMNS, value_rows(n), path, meta(n))


def base_xlsx(n: int, path: str) -> None:
    from xlsxwriter import Workbook

    wb = Workbook(path, {"constant_memory": True, "strings_to_urls": False})
    ws = wb.add_worksheet()
    for r, row in enumerate(value_rows(n)):
        # write_row cannot take an aware datetime or a dict: the least conversion it needs.
        ws.write_row(r, 0, [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row[:-1]])
        ws.write_string(r, len(row) - 1, str(row[-1]))
    wb.close()


def ours_pdf(n: int, path: str) -> None:
    from callreport.export.pdf import write_pdf

    write_pdf(DEFAULT_COLUMNS, value_rows(n), path, meta(n))


def base_pdf(n: int, path: str) -> None:
    """Canvas text objects, a column per object, the same page grid, no fitting nor cover."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen.canvas import Canvas

    from callreport.export.pdftext import FONT, register_fonts

    register_fonts()
    c = Canvas(path, pagesize=landscape(A4), pageCompression=1)
    per_page, xs = 66, [16 + 38.2 * i for i in range(len(DEFAULT_COLUMNS))]
    rows = value_rows(n)
    while page := [tuple("" if v is None else str(v) for v in row) for row in itertools.islice(rows, per_page)]:
        for i, x in enumerate(xs):
            text = c.beginText(x, 550)
            text.setFont(FONT, 5.5, 7.8)
            for row in page:
                text.textLine(row[i])
            c.drawText(text)
        c.showPage()
    c.save()


def demo_rows(n: int) -> Iterator[tuple]:
    """The PDF's default columns for demo calls, from a pool of 1,000, with fresh call ids."""
    from callreport.demo import generate_calls

    pool = []
    for rec in generate_calls(min(n, POOL), seed=7, start=datetime(2024, 1, 1)):
        values = {**rec, "startTime": datetime.fromisoformat(rec["startTime"])}
        pool.append(tuple(values.get(c.name) for c in PDF_COLUMNS[1:]))
    for i in range(n):
        yield (f"CALL-{i:08d}", *pool[i % POOL])


def ours_pdf_demo(n: int, path: str) -> None:
    from callreport.export.pdf import write_pdf

    write_pdf(PDF_COLUMNS, demo_rows(n), path, meta(n))


def _fpdf2(n: int, path: str, wrap: bool) -> None:
    """fpdf2 with HarfBuzz text shaping and fallback fonts: the same fonts, columns and page grid."""
    from fpdf import FPDF

    from callreport.export.pdftable import MARGIN, PAD, table_layout
    from callreport.export.pdftext import FONT_DIR, register_fonts

    register_fonts()
    size, widths = table_layout(PDF_COLUMNS, 842 - 2 * MARGIN)
    lead = size * 1.22
    pdf = FPDF(orientation="L", unit="pt", format="A4")
    pdf.set_margins(MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    for family, file in (
        ("dejavu", "DejaVuSans"),
        ("deva", "NotoSansDevanagari-Regular"),
        ("arab", "NotoSansArabic-Regular"),
    ):
        pdf.add_font(family, fname=str(FONT_DIR / f"{file}.ttf"))
    pdf.set_fallback_fonts(["deva", "arab"])
    pdf.set_text_shaping(True)
    pdf.set_font("dejavu", size=size)
    pdf.c_margin = PAD

    def header() -> None:
        pdf.add_page()
        for w, c in zip(widths, PDF_COLUMNS, strict=True):
            pdf.cell(w, lead * 2, c.name)
        pdf.set_xy(MARGIN, MARGIN + lead * 2)

    header()
    for row in demo_rows(n):
        texts = ["" if v is None else v.isoformat(" ")[:19] if isinstance(v, datetime) else str(v) for v in row]
        if wrap:
            h = max(
                pdf.multi_cell(w, lead, t, dry_run=True, output="HEIGHT") for w, t in zip(widths, texts, strict=True)
            )
        else:
            h = lead
        if pdf.get_y() + h > 595 - 28:
            header()
        x, y = MARGIN, pdf.get_y()
        for w, t in zip(widths, texts, strict=True):
            pdf.set_xy(x, y)
            if wrap:
                pdf.multi_cell(w, lead, t, new_x="RIGHT", new_y="TOP")
            else:
                pdf.cell(w, lead, t)
            x += w
        pdf.set_xy(MARGIN, y + h)
    pdf.output(path)


def fpdf2_wrapped(n: int, path: str) -> None:
    _fpdf2(n, path, wrap=True)


def fpdf2_cells(n: int, path: str) -> None:
    _fpdf2(n, path, wrap=False)


Job = Callable[[int, str], "tuple[float, float] | None"]


def _measure(job: Job, n: int, queue: multiprocessing.Queue) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out")
        started, cpu = time.perf_counter(), time.process_time()
        timed = job(n, path)
        wall, cpu = timed or (time.perf_counter() - started, time.process_time() - cpu)
        size = os.path.getsize(path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    queue.put((n / wall, n / cpu, peak_mb, size))


def measure(job: Job, n: int) -> tuple[float, float, float, int]:
    """(rows/s by the clock, rows/s of CPU time, peak RSS in MiB, file size) of a job in its own process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(job, n, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    """Print one line per format: ours, the baseline, peak memory and file size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="?", type=int, help="rows for every format")
    args = parser.parse_args()
    sizes = {"csv": 50_000, "jsonl": 50_000, "xlsx": 20_000, "pdf": 20_000, "shaped": 10_000}
    if args.rows:
        sizes = dict.fromkeys(sizes, args.rows)
    jobs = [
        ("csv", sizes["csv"], ours_csv, base_csv),
        ("csv + SQLite read", sizes["csv"], ours_csv_sqlite, None),
        ("jsonl", sizes["jsonl"], ours_jsonl, base_jsonl),
        ("xlsx", sizes["xlsx"], ours_xlsx, base_xlsx),
        ("pdf", sizes["pdf"], ours_pdf, base_pdf),
        ("pdf, demo data", sizes["shaped"], ours_pdf_demo, fpdf2_cells if HAVE_FPDF2 else None),
    ]
    if HAVE_FPDF2:
        jobs.append(("fpdf2 wrapping", sizes["shaped"], fpdf2_wrapped, None))
    else:
        print("fpdf2 is not installed (pip install -e '.[bench]'): its lines are left out")
    # CPU-time rates are steadier than clock rates on a shared machine; both are shown.
    heads = ("rows", "rows/s", "cpu r/s", "base r/s", "base cpu", "peak MiB", "base MiB", "file MiB")
    print(f"{'format':<18}" + "".join(f"{h:>10}" for h in heads))
    for name, n, ours, base in jobs:
        rate, cpu_rate, peak, size = measure(ours, n)
        base_rate, base_cpu, base_peak, _ = measure(base, n) if base else (float("nan"),) * 4
        figures = (n, rate, cpu_rate, base_rate, base_cpu, peak, base_peak)
        print(f"{name:<18}" + "".join(f"{v:>10,.0f}" for v in figures) + f"{size / 2**20:>10.1f}")


if __name__ == "__main__":
    main()
