"""Issue 3: CSV, Excel and PDF exports made by a standalone worker, on SQLite and PostgreSQL.

For each format: rows per second (client-timed from the export request to `done`), the worker's
peak RSS (VmHWM of a worker process started for that export alone), the file size and the
download speed over loopback; then the plain libraries writing the same rows as a baseline.

    .venv/bin/python benchmarks/bench_exports.py --quick                 # 100k / 20k / 10k rows
    .venv/bin/python benchmarks/bench_exports.py --data-dir DIR          # reuse bench_api.py's data
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import cycle, islice
from pathlib import Path
from zoneinfo import ZoneInfo

import common
import httpx
import orjson
import sqlalchemy as sa
import stores
from common import API, call, mb, verdict
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas
from stores import Store, Tenant
from xlsxwriter import Workbook

from callreport.export.columns import DEFAULT_COLUMNS, row_values
from callreport.export.pdftext import FONT, register_fonts
from callreport.models import calls

TZ = ZoneInfo("Asia/Kolkata")
ENDPOINT = {"csv": ("exportCsv", "downloadCsv"), "xlsx": ("exportExcel", "downloadExcel"),
            "pdf": ("exportPdf", "downloadPdf")}  # fmt: skip
GOALS = {"csv": {"sqlite": 60_000, "postgresql": 120_000}, "xlsx": 6_000, "pdf": 10_000}
WORKER_GOAL, DOWNLOAD_GOAL = 150e6, 300e6
SAMPLE_ROWS = 20_000  # the baselines cycle through this many real rows
FILE_TYPES = ("text/csv", "application/pdf", "application/vnd")


def load_calls(store: Store, engine: sa.Engine, n: int) -> str:
    """A new account with n generated calls, loaded in-process (setup, not timed)."""
    from callreport.demo import generate_calls
    from callreport.loading import load_records

    tenant = stores.make_tenant(store, timezone=TZ.key)
    t0 = time.perf_counter()
    load_records(engine, tenant.account_id, generate_calls(n, seed=3, days=365, tz=TZ.key), n, "load")
    print(f"loaded {n:,} calls in {time.perf_counter() - t0:.0f} s", flush=True)
    return tenant.account_id


def latest_since(engine: sa.Engine, account_id: str, rows: int) -> str | None:
    """A startDate that selects the account's latest calls, at most `rows` (never over a format's cap)."""
    stmt = sa.select(calls.c.start_ts).where(calls.c.account_id == account_id)
    stmt = stmt.order_by(calls.c.start_ts.desc()).offset(rows).limit(1)
    with engine.connect() as conn:
        ts = conn.execute(stmt).scalar()  # the first call left out; calls in the same second go too
    return None if ts is None else datetime.fromtimestamp(ts + 1, TZ).isoformat()


def sample_rows(engine: sa.Engine, account_id: str, size: int) -> list[tuple]:
    """The first `size` rows of an export of the account, as the column values the writers get."""
    stmt = sa.select(calls).where(calls.c.account_id == account_id)
    stmt = stmt.order_by(calls.c.start_ts.desc(), calls.c.call_id.desc()).limit(size)
    with engine.connect() as conn:
        return [row_values(DEFAULT_COLUMNS, r, TZ, False) for r in conn.execute(stmt)]


def wait_done(client: httpx.Client, tenant: Tenant, request_id: str, timeout: float) -> dict:
    """Poll exportStatus every 0.1 s until the job ends; its last status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = call(client, "exportStatus", {**tenant.creds, "requestId": request_id})["data"]
        if data["state"] in ("done", "failed", "cancelled", "expired"):
            return data
        time.sleep(0.1)
    raise TimeoutError(f"export {request_id} not finished after {timeout:.0f} s")


def download(client: httpx.Client, tenant: Tenant, fmt: str, request_id: str) -> tuple[int, float]:
    """Stream the file; (bytes, seconds)."""
    body = orjson.dumps({**tenant.creds, "requestId": request_id})
    size, t0 = 0, time.perf_counter()
    with client.stream("POST", f"{API}/{ENDPOINT[fmt][1]}", content=body, timeout=600) as res:
        if not res.headers.get("content-type", "").startswith(FILE_TYPES):
            raise RuntimeError(f"download failed: {res.read()[:300]!r}")
        for chunk in res.iter_raw(1 << 20):
            size += len(chunk)
    return size, time.perf_counter() - t0


def one_export(store: Store, base: str, tenant: Tenant, fmt: str, since: str | None, timeout: float) -> dict:
    """Export with a worker process of its own; rows/s, worker memory and CPU, file size, download speed."""
    proc = common.worker(store)
    idle, idle_cpu = common.proc_memory(proc.pid).get("VmRSS", 0), proc.cpu()
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            t0 = time.perf_counter()
            body = {**tenant.creds, **({"startDate": since} if since else {})}
            request_id = call(client, ENDPOINT[fmt][0], body)["requestId"]
            status = wait_done(client, tenant, request_id, timeout)
            seconds = time.perf_counter() - t0
            if status["state"] != "done":
                why = f"{status['state']}: {status['error']}"
                raise RuntimeError(f"{fmt} export ended {why}\n{proc.log_tail()}")
            peak = proc.stop()
            size, dl_seconds = download(client, tenant, fmt, request_id)
    finally:
        proc.stop()
    if size != status["fileSize"]:
        raise RuntimeError(f"downloaded {size} bytes of a {status['fileSize']}-byte file")
    rows, cpu = status["rowCount"], proc.cpu() - idle_cpu
    return {"rows": rows, "seconds": seconds, "rate": rows / seconds, "cpu_rate": rows / cpu,
            "worker_idle": idle, "worker_peak": peak, "worker_anon": proc.sampler.anon_peak,
            "size": size, "dl_rate": size / dl_seconds}  # fmt: skip


def _plain(value: object) -> object:
    """A value as the plain libraries take it: text for times and JSON documents."""
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value).decode() if isinstance(value, dict) else value


def baseline_csv(rows: Iterator[tuple], path: Path) -> None:
    """The csv module writing the rows."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)


def baseline_xlsx(rows: Iterator[tuple], path: Path) -> None:
    """XlsxWriter in constant-memory mode, one write_row per row (times as date-time cells)."""
    wb = Workbook(str(path), {"constant_memory": True, "strings_to_urls": False,
                              "default_date_format": "yyyy-mm-dd hh:mm:ss"})  # fmt: skip
    ws = wb.add_worksheet()
    for r, values in enumerate(rows):
        ws.write_row(r, 0, [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in values])
    wb.close()


def baseline_pdf(rows: Iterator[tuple], path: Path) -> None:
    """A ReportLab canvas, landscape A4, one text object per column on each page of 68 rows."""
    width, height = landscape(A4)
    c = Canvas(str(path), pagesize=(width, height), pageCompression=1)
    step = (width - 32) / len(DEFAULT_COLUMNS)
    for page in iter(lambda: list(islice(rows, 68)), []):
        for i in range(len(DEFAULT_COLUMNS)):
            text = c.beginText(16 + i * step, height - 24)
            text.setFont(FONT, 5.5, 7.8)
            for row in page:
                text.textLine("" if row[i] is None else str(row[i]))
            c.drawText(text)
        c.showPage()
    c.save()


def baselines(sample: list[tuple], sizes: dict[str, int]) -> dict[str, dict]:
    """Each plain library writing `sizes[fmt]` rows (the sample, cycled); rows/s by wall clock and CPU."""
    plain = [tuple(_plain(v) for v in row) for row in sample]
    typed = [tuple(orjson.dumps(v).decode() if isinstance(v, dict) else v for v in row) for row in sample]
    jobs = {"csv": (baseline_csv, plain), "xlsx": (baseline_xlsx, typed), "pdf": (baseline_pdf, plain)}
    register_fonts()  # the same embedded TTF as the pipeline: subsetting it is part of any real PDF
    out = {}
    with tempfile.TemporaryDirectory(prefix="crbench-base-") as tmp:
        for fmt, (write, rows) in jobs.items():
            path = Path(tmp) / f"baseline.{fmt}"
            t0, c0 = time.perf_counter(), time.process_time()
            write(islice(cycle(rows), sizes[fmt]), path)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            out[fmt] = {"rate": sizes[fmt] / seconds, "cpu_rate": sizes[fmt] / cpu}
            print(f"  baseline {fmt}: {out[fmt]['rate']:,.0f} rows/s", flush=True)
    return out


def prepare(store: Store, args: argparse.Namespace) -> tuple[Tenant, dict[str, str | None], list[tuple]]:
    """The account to export (reused or loaded), a user of it, each format's startDate, sample rows."""
    account, have = stores.busiest_account(store)
    engine = stores.engine_of(store)
    try:
        if have < args.calls:
            account, have = load_calls(store, engine, args.calls), args.calls
        since = {fmt: latest_since(engine, account, n) if n < have else None for fmt, n in args.sizes.items()}
        sample = sample_rows(engine, account, SAMPLE_ROWS)
    finally:
        engine.dispose()
    return stores.make_tenant(store, account_id=account), since, sample


def run_backend(backend: str, args: argparse.Namespace) -> tuple[dict, list[tuple]]:
    """Every export on one database; (figures by format, sample rows for the baselines)."""
    data_dir = args.data_dir if backend == "sqlite" else None
    with stores.open_store(backend, data_dir, args.database_url) as store:
        tenant, since, sample = prepare(store, args)
        results = {}
        with common.server(store) as (srv, base):
            for fmt in ("csv", "xlsx", "pdf"):
                print(f"[{backend}] {fmt}: {args.sizes[fmt]:,} rows ...", flush=True)
                srv.sampler.phase()
                r = results[fmt] = one_export(store, base, tenant, fmt, since[fmt], args.timeout)
                r["server_peak"] = srv.sampler.phase()[0]
                print(f"  {r['rate']:,.0f} rows/s, worker peak {mb(r['worker_peak'])} MB, "
                      f"download {mb(r['dl_rate'])} MB/s", flush=True)  # fmt: skip
    return results, sample


def report(results: dict[str, dict], base: dict[str, dict], args: argparse.Namespace, note: str) -> str:
    """The figures as a Markdown table, goals and the baseline ratio beside them."""
    rows = []
    for backend, by_fmt in results.items():
        for fmt, r in by_fmt.items():
            goal, b = GOALS[fmt][backend] if fmt == "csv" else GOALS[fmt], base[fmt]
            rows.append([
                backend, fmt, f"{r['rows']:,}", f"{r['seconds']:.1f}",
                f"{r['rate']:,.0f} (>= {goal:,}: {verdict(r['rate'] >= goal)})", f"{r['cpu_rate']:,.0f}",
                f"{b['rate']:,.0f} / {b['cpu_rate']:,.0f}",
                f"{b['rate'] / r['rate']:.1f}x / {b['cpu_rate'] / r['cpu_rate']:.1f}x",
                f"{mb(r['worker_idle'])} -> {mb(r['worker_peak'])} (heap {mb(r['worker_anon'])}) "
                f"{verdict(r['worker_peak'] < WORKER_GOAL)}",
                mb(r["size"]), f"{mb(r['dl_rate'])} ({verdict(r['dl_rate'] >= DOWNLOAD_GOAL)})",
                mb(r["server_peak"]),
            ])  # fmt: skip
    headers = ["database", "format", "rows", "seconds", "rows/s (goal)", "rows per worker CPU-s",
               "baseline rows/s wall / CPU", "pipeline cost wall / CPU", "worker RSS idle -> peak MB (< 150)",
               "file MB", "download MB/s (>= 300)", "server peak MB"]  # fmt: skip
    sizes = ", ".join(f"{fmt} {n:,}" for fmt, n in args.sizes.items())
    head = " ".join([
        f"# Export benchmark (issue 3)\n\n{time.strftime('%Y-%m-%d %H:%M')}; rows: {sizes} (the latest",
        f"calls of an account of at least {args.calls:,}); each export run by a `callreport worker` process",
        "of its own (poll 0.05 s), requested over HTTP and timed by the client from the request to `done`",
        "(status polled every 0.1 s); default columns, numbers unmasked.\nBaseline: the plain library",
        f"writing the same number of rows, cycling through the first {SAMPLE_ROWS:,} rows of the export,",
        "already in memory (csv.writer; XlsxWriter constant_memory write_row; ReportLab canvas text objects",
        "with the same embedded font); pipeline cost = baseline rows/s / pipeline rows/s, by wall clock and",
        "by CPU time (the worker's CPU seconds for the job: with SQLite that includes the database engine,",
        f"with PostgreSQL not).\nMachine: {note}; the worker, server, database and client share the cores,",
        "so figures are noisy: compare the per-CPU-second figures between runs.\n\n",
    ])  # fmt: skip
    return head + common.table("Figures against the goals", headers, rows)


def parse_args() -> argparse.Namespace:
    """The options, with the sizes that depend on --quick filled in."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, help="calls in the account (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="100,000 calls; 100,000 / 20,000 / 10,000 rows")
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--data-dir", help="SQLite data of bench_api.py --data-dir to reuse (kept)")
    p.add_argument("--database-url", help="PostgreSQL database to reuse (kept)")
    for fmt, full in (("csv", "all"), ("xlsx", "200,000"), ("pdf", "100,000")):
        p.add_argument(f"--{fmt}-rows", type=int, help=f"rows in the {fmt} export (default {full})")
    p.add_argument("--timeout", type=float, default=3600.0, help="at most this many seconds per export")
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS-exports.md")))
    args = p.parse_args()
    args.calls = args.calls or (100_000 if args.quick else 1_000_000)
    scale = args.calls / 1_000_000 if args.quick else 1
    args.sizes = {"csv": min(args.csv_rows or args.calls, args.calls),
                  "xlsx": min(args.xlsx_rows or int(200_000 * scale), args.calls),
                  "pdf": min(args.pdf_rows or int(100_000 * scale), args.calls)}  # fmt: skip
    return args


def main() -> None:
    """Run each database and the baselines, print and save the figures."""
    args = parse_args()
    common.exit_on_sigterm()
    start_load = common.load_note()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results, sample = {}, []
    for backend in backends:
        results[backend], sample = run_backend(backend, args)
    print("baselines ...", flush=True)
    text = report(results, baselines(sample, args.sizes), args, common.machine_note(start_load))
    print("\n" + text)
    Path(args.out).write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
