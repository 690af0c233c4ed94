"""callreport against Datasette, pandas and ReportLab platypus: same calls, same machine, one run.

    python benchmarks/compare.py [--quick] [--calls N] [--time-limit S]   (make bench / bench-quick)

Generates N calls into a fresh data directory, then measures listing (latency, requests per
second), a month as CSV and Excel, and 20,000 rows as PDF; prints one table and writes it to
benchmarks/RESULTS.md. Loopback only; every loop is bounded by a count and a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from compare_peers import (
    Datasette,
    Http,
    cpu_seconds,
    free_port,
    latency,
    peak_kib,
    peer_task,
    start,
    stop,
    throughput,
    wait_for,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_VENV = HERE / ".venv-compare"
REQUIREMENTS = HERE / "requirements-compare.txt"
TZ = "Asia/Kolkata"
START = datetime(2025, 1, 1)  # with 90 days: January to March 2025, in TZ
MONTH = ("2025-03-01", "2025-03-31")  # the month that is listed and exported
MIN_DURATION = 60
API = "/api/v2/callreport/"
FORMAT_NAMES = {"csv": "Csv", "xlsx": "Excel", "pdf": "Pdf"}


@dataclass
class Setup:
    """The generated data: where it is and whose it is."""

    data_dir: Path
    db: Path
    account_id: str
    user_id: str
    token: str
    agents: list[str]


def peer_venv() -> Path:
    """The peers' own venv, created and installed from requirements-compare.txt when that changed."""
    stamp, want = PEER_VENV / ".requirements-sha256", hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != want:
        print(f"installing the peers into {PEER_VENV.relative_to(ROOT)} ...", flush=True)
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(PEER_VENV)], check=True)
        pip = [str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)]
        subprocess.run(pip, check=True)
        stamp.write_text(want)
    return PEER_VENV


def make_data(data_dir: Path, n: int, days: int) -> Setup:
    """An account, an admin with a token, and n demo calls loaded through callreport's own loader."""
    from callreport import auth, db
    from callreport.demo import AGENTS, generate_calls
    from callreport.loading import load_records
    from callreport.settings import Settings

    engine = db.make_engine(Settings(data_dir=data_dir).resolved_database_url())
    db.migrate(engine)
    with db.writing(engine) as conn:
        account_id = auth.create_account(conn, "Bench", TZ)
        user_id = auth.create_user(conn, account_id, "bench", "bench-password", list(auth.PERMISSIONS))
        token, _ = auth.issue(conn, user_id, "token", None)
    started = time.perf_counter()
    load_records(engine, account_id, generate_calls(n, seed=1, start=START, days=days, tz=TZ), n, "calls")
    print(f"loaded {n:,} calls in {time.perf_counter() - started:.0f} s", flush=True)
    with engine.connect() as conn:
        # Everything into the main file: Datasette opens it --immutable, which ignores the WAL.
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return Setup(data_dir, data_dir / "callreport.db", account_id, user_id, token, [a.id for a in AGENTS])


def window(first: str, last: str) -> tuple[int, int]:
    """The epoch seconds of a date range's first and last second in TZ (as callreport resolves it)."""
    zone = ZoneInfo(TZ)
    lo = datetime.fromisoformat(first).replace(tzinfo=zone)
    hi = datetime.fromisoformat(last).replace(tzinfo=zone) + timedelta(days=1)
    return int(lo.timestamp()), int(hi.timestamp()) - 1


def sql_one(db: Path, sql: str, params: tuple):
    """The first column of the first row of a read-only query (None when no row)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        row = con.execute(sql, params).fetchone()
    return row[0] if row else None


def newest_rows_window(setup: Setup, hi: int, rows: int) -> tuple[int, int]:
    """The window ending at hi that holds the newest `rows` calls (the PDF task's rows)."""
    sql = "SELECT start_ts FROM calls WHERE account_id = ? AND start_ts <= ? ORDER BY start_ts DESC LIMIT 1 OFFSET ?"
    return sql_one(setup.db, sql, (setup.account_id, hi, rows - 1)) or 0, hi


def count_rows(setup: Setup, lo: int, hi: int) -> int:
    """How many calls start in [lo, hi]: the row count every contender must produce."""
    sql = "SELECT count(*) FROM calls WHERE account_id = ? AND start_ts BETWEEN ? AND ?"
    return sql_one(setup.db, sql, (setup.account_id, lo, hi))


class Callreport:
    """`callreport serve` without its embedded worker; each export gets a fresh `callreport worker`."""

    def __init__(self, setup: Setup, logs: Path):
        self.setup, self.logs, self.port = setup, logs, free_port()
        self.cli = str(Path(sys.executable).parent / "callreport")
        self.env = {
            "CALLREPORT_DATA_DIR": str(setup.data_dir), "CALLREPORT_EMBEDDED_WORKER": "false",
            # An idle worker looks for jobs this often; the default 1 s would add 0-1 s to each export.
            "CALLREPORT_WORKER_POLL_SECONDS": "0.1", "CALLREPORT_LOG_LEVEL": "WARNING",
            # One client, one user, one address: the rate limit is not what is measured.
            "CALLREPORT_RATE_LIMIT_PER_MINUTE": "0",
        }  # fmt: skip
        self.proc = start([self.cli, "serve", "--port", str(self.port)], self.env, logs / "serve.log")
        wait_for(lambda: Http(self.port, 5).request("GET", "/openapi.json"), "callreport serve", self.proc)
        self.creds = {"userId": setup.user_id, "token": setup.token}

    def call(self, name: str, body: dict) -> dict:
        """An endpoint's JSON answer; an error envelope raises."""
        out = json.loads(Http(self.port).request("POST", API + name, {**self.creds, **body}))
        if out.get("status") != "success":
            raise RuntimeError(f"{name}: {out}")
        return out

    def listing(self, agent: str) -> dict:
        """The listing: one month, one agent, a minimum duration, the first page of 50."""
        return {
            **self.creds, "startDate": MONTH[0], "endDate": MONTH[1], "minDuration": MIN_DURATION,
            "agentIds": [agent], "limit": 50,
        }  # fmt: skip

    def export(self, fmt: str, filters: dict) -> tuple[int, float, float, int]:
        """Request, job and download of one export: rows, seconds end to end, CPU s, worker's peak KiB."""
        log = self.logs / f"worker-{fmt}.log"
        worker = start([self.cli, "worker"], {**self.env, "CALLREPORT_LOG_LEVEL": "INFO"}, log)
        try:
            wait_for(lambda: b" started" in log.read_bytes(), "callreport worker", worker)
            # An empty export first, so the measured one finds the writer imported, as a worker
            # that has been running for a while does.
            self.run_export(fmt, {"callIds": ["warm-up"]})
            pids = (worker.pid, self.proc.pid)  # the job in the worker, status and download in the API
            started, cpu = time.perf_counter(), sum(map(cpu_seconds, pids))
            rows = self.run_export(fmt, filters)
            seconds, cpu = time.perf_counter() - started, sum(map(cpu_seconds, pids)) - cpu
            return rows, seconds, cpu, peak_kib(worker.pid)
        finally:
            stop(worker)

    def run_export(self, fmt: str, filters: dict) -> int:
        """exportX, exportStatus every 50 ms until done, downloadX to the end; the file's rows."""
        name = FORMAT_NAMES[fmt]
        ask = {"requestId": self.call(f"export{name}", filters)["requestId"]}
        while (job := self.call("exportStatus", ask)["data"])["state"] != "done":
            if job["state"] not in ("pending", "running"):
                raise RuntimeError(f"export{name} ended {job['state']}: {job.get('error')}")
            time.sleep(0.05)
        Http(self.port).sink("POST", f"{API}download{name}", {**self.creds, **ask})
        return job["rowCount"]


def attempt(results: dict, key: str, who: str, fn, deadline: float) -> None:
    """Run one measurement; a failure (or no time left) becomes the cell's text, not the run's end."""
    if time.monotonic() > deadline:
        results.setdefault(key, {})[who] = (None, "skipped: time limit")
        return
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the table says what failed
        print(f"  {who} {key}: FAILED {exc}", flush=True)
        results.setdefault(key, {})[who] = (None, f"failed: {str(exc)[:80]}")


def bench_listing(cr: Callreport, ds: Datasette, setup: Setup, results: dict, args) -> None:
    """p50/p99 with one client and requests/s with 16, in rounds that alternate the servers."""
    lo, hi = window(*MONTH)
    agents = setup.agents  # taken in turn, the same sequence for both
    makers = {
        "callreport": (
            cr.proc.pid,
            cr.port,
            lambda i: ("POST", API + "list", cr.listing(agents[i % len(agents)])),
        ),
        "Datasette": (
            ds.proc.pid,
            ds.port,
            lambda i: ("GET", ds.listing(agents[i % len(agents)], lo, hi, MIN_DURATION), None),
        ),
    }
    samples, cpu, done = {w: [] for w in makers}, dict.fromkeys(makers, 0.0), {w: [0, 0.0] for w in makers}
    # Other work shares the machine: alternating short rounds spreads its noise over both servers.
    for _ in range(args.rounds):
        for who, (pid, port, make) in makers.items():
            before = cpu_seconds(pid)
            samples[who] += latency(port, make, args.requests // args.rounds)
            cpu[who] += cpu_seconds(pid) - before
        for who, (_, port, make) in makers.items():
            count, secs = throughput(port, make, 16, args.seconds / args.rounds)
            done[who] = [done[who][0] + count, done[who][1] + secs]
    for who in makers:
        times = sorted(samples[who])
        figures = {
            "list_p50": times[len(times) // 2] * 1000,
            "list_p99": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
            "list_cpu": cpu[who] / len(times) * 1000,
            "list_rps": done[who][0] / done[who][1],
        }
        for key, value in figures.items():
            results.setdefault(key, {})[who] = (value, "")
        print(f"  {who}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()), flush=True)


def same_first_page(cr: Callreport, ds: Datasette, setup: Setup) -> bool:
    """Whether both servers list the same calls on the first page (a check that the filters agree)."""
    lo, hi = window(*MONTH)
    ours = [c["callId"] for c in cr.call("list", cr.listing(setup.agents[0]))["data"]]
    theirs = json.loads(Http(ds.port).request("GET", ds.listing(setup.agents[0], lo, hi, MIN_DURATION)))
    col = theirs["columns"].index("call_id")
    return len(ours) > 0 and sorted(ours) == sorted(r[col] for r in theirs["rows"])


def datasette_csv(setup: Setup, logs: Path, lo: int, hi: int) -> tuple[int, float, float, int]:
    """Datasette's CSV stream from a fresh process, so its peak is this task's alone."""
    ds = Datasette(PEER_VENV, setup.db, setup.account_id, logs / "datasette-csv.log")
    try:
        return ds.csv(lo, hi)
    finally:
        ds.close()


def bench_files(setup: Setup, cr: Callreport, logs: Path, results: dict, args) -> dict:
    """The month as CSV and Excel, and the PDF rows, by every contender; the row counts used."""
    lo, hi = window(*MONTH)
    plo, phi = newest_rows_window(setup, hi, args.pdf_rows)
    month_rows, pdf_rows = count_rows(setup, lo, hi), count_rows(setup, plo, phi)
    zone, out = ZoneInfo(TZ), logs.parent / "out"
    month = {"startDate": MONTH[0], "endDate": MONTH[1]}
    span = {
        "startDate": datetime.fromtimestamp(plo, zone).isoformat(),
        "endDate": datetime.fromtimestamp(phi, zone).isoformat(),
    }
    out.mkdir(exist_ok=True)
    font = str(ROOT / "callreport" / "fonts" / "DejaVuSans.ttf")

    def peer(task: str, first: int, last: int):
        argv = [str(setup.db), setup.account_id, str(first), str(last), TZ, str(out / f"peer.{task}"), font]
        return lambda: peer_task(PEER_VENV, task, argv, args.deadline - time.monotonic())

    tasks = (
        ("csv", "Datasette", lambda: datasette_csv(setup, logs, lo, hi), month_rows),
        ("csv", "pandas", peer("csv", lo, hi), month_rows),
        ("csv", "callreport", lambda: cr.export("csv", month), month_rows),
        ("xlsx", "pandas", peer("xlsx", lo, hi), month_rows),
        ("xlsx", "callreport", lambda: cr.export("xlsx", month), month_rows),
        ("pdf", "LongTable", peer("pdf", plo, phi), pdf_rows),
        ("pdf", "callreport", lambda: cr.export("pdf", span), pdf_rows),
    )
    for key, who, run_task, expect in tasks:
        print(f"{key}: {who} ({expect:,} rows)", flush=True)

        def measure(key=key, who=who, run_task=run_task, expect=expect) -> None:
            rows, seconds, cpu, peak = run_task()
            note = "" if rows == expect else f", {rows:,} rows, not {expect:,}"
            results.setdefault(f"{key}_rate", {})[who] = (rows / seconds, f"{seconds:.1f} s{note}")
            results.setdefault(f"{key}_cpu", {})[who] = (rows / cpu if cpu else None, f"{cpu:.1f} s")
            results.setdefault(f"{key}_mem", {})[who] = (peak / 1024, "")

        attempt(results, f"{key}_rate", who, measure, args.deadline)
    return {"month": month_rows, "pdf": pdf_rows}


# (key, task, unit, better, [(peer, goal: the least advantage callreport must have, or None)])
ROWS = (
    ("list_p50", "list: p50 latency, 1 client", "ms", "low", [("Datasette", 2.0)]),
    ("list_p99", "list: p99 latency, 1 client", "ms", "low", [("Datasette", None)]),
    ("list_cpu", "list: server CPU per request", "ms", "low", [("Datasette", None)]),
    ("list_rps", "list: requests/s, 16 clients", "req/s", "high", [("Datasette", 1.0)]),
    ("csv_rate", "month as CSV, end to end", "rows/s", "high", [("Datasette", 1.5), ("pandas", 1.0)]),
    ("csv_cpu", "month as CSV, per CPU second", "rows/s", "high", [("Datasette", None), ("pandas", None)]),
    ("csv_mem", "month as CSV, peak RSS", "MiB", "low", [("Datasette", None), ("pandas", 5.0)]),
    ("xlsx_rate", "month as Excel, end to end", "rows/s", "high", [("pandas", 2.0)]),
    ("xlsx_cpu", "month as Excel, per CPU second", "rows/s", "high", [("pandas", None)]),
    ("xlsx_mem", "month as Excel, peak RSS", "MiB", "low", [("pandas", 5.0)]),
    ("pdf_rate", "PDF table, end to end", "rows/s", "high", [("LongTable", 5.0)]),
    ("pdf_cpu", "PDF table, per CPU second", "rows/s", "high", [("LongTable", None)]),
    ("pdf_mem", "PDF table, peak RSS", "MiB", "low", [("LongTable", None)]),
)
PEERS = ("Datasette", "pandas", "LongTable")
NOTES = """\
How it was measured (`benchmarks/compare.py`; peers from `requirements-compare.txt` in their own venv):
- Advantage = how many times better callreport is (peer time / ours, or our rate / peer's); > 1 means
  callreport wins.
- list: callreport `list` (the month, one of 12 agents in turn, `minDuration` 60, 50 rows) against
  Datasette's table JSON with the same filters, sort and columns, plus `_nocount=1&_nofacet=1` so that
  it runs only the page query, as `list` does. Datasette serves the same SQLite file `--immutable`: the
  same indexes. Latency: sequential requests from one keep-alive client; requests/s: 16 keep-alive
  clients (threads); both in alternating rounds.
- callreport exports are end to end: the request, the job in a fresh `callreport worker` process (after
  one empty export, as a worker that has been running; it polls every 0.1 s, the default 1 s adds up to
  1 s), status polled every 50 ms, and the whole download. Its peak RSS is the worker's VmHWM: the
  export work happens there.
- Datasette CSV: `_stream=on` over the month (same columns; times left as stored epoch seconds), read to
  the end; peak RSS of a fresh Datasette process. pandas: `read_sql` then `to_csv` / `to_excel` (default
  engine, openpyxl), times turned into the account's zone. LongTable: rows from sqlite3, fixed column
  widths, DejaVu Sans, header repeated on every page. Peer seconds leave out interpreter start and
  imports; peak RSS (ru_maxrss) includes them, as the worker's does.
"""


def cell(got: dict, who: str, unit: str) -> str:
    """One contender's figure (and note) as the table shows it."""
    if who not in got:
        return ""
    value, note = got[who]
    text = "—" if value is None else (f"{value:.2f}" if unit == "ms" else f"{value:,.0f}")
    return f"{text} ({note})" if note else text


def advantage(got: dict, peer: str, better: str) -> float | None:
    """How many times better callreport is than a peer on one row (> 1: callreport wins)."""
    ours, theirs = got.get("callreport", (None,))[0], got.get(peer, (None,))[0]
    if not ours or not theirs:
        return None
    return ours / theirs if better == "high" else theirs / ours


def render(results: dict, meta: dict) -> str:
    """The one table, with the machine, the sizes and the goals."""
    lines = [
        f"# callreport against its peers ({meta['date']})", "",
        f"Machine: {meta['cores']} cores, Python {meta['python']}, {meta['platform']}; load average at "
        f"the start {meta['load']}. Other work shared the machine: figures are noisy; the ratios matter.",
        f"Data: {meta['calls']:,} calls over {meta['days']} days; the month ({MONTH[0]} to {MONTH[1]}, "
        f"{TZ}) holds {meta.get('month', 0):,} calls; the PDF task takes the newest {meta.get('pdf', 0):,}.",
        f"Peers: {meta['peers']}. The run took {meta['elapsed']:.0f} s.", "",
        "| task | unit | callreport | Datasette | pandas | ReportLab LongTable "
        "| callreport's advantage (goal) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    for key, task, unit, better, goals in ROWS:
        got, ratios = results.get(key, {}), []
        for peer, goal in goals:
            adv = advantage(got, peer, better)
            text = f"vs {peer} " + ("n/a" if adv is None else f"{adv:.2f}x")
            if goal is not None:
                text += f" (≥ {goal:g}x: {'?' if adv is None else 'met' if adv >= goal else 'MISSED'})"
            ratios.append(text)
        cells = " | ".join(cell(got, who, unit) for who in ("callreport", *PEERS))
        lines.append(f"| {task} | {unit} | {cells} | {'; '.join(ratios)} |")
    return "\n".join([*lines, "", NOTES])


def peer_versions(venv: Path) -> str:
    """The peers' versions as installed in their venv."""
    names = ("datasette", "pandas", "openpyxl", "reportlab")
    code = f"import importlib.metadata as m; print(', '.join(n + ' ' + m.version(n) for n in {names!r}))"
    cmd = [str(venv / "bin" / "python"), "-c", code]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def prepare(args) -> Setup:
    """The data: reused from --data-dir when it holds the same size, else generated afresh."""
    marker = args.data_dir / "setup.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        if (saved["calls"], saved["days"]) == (args.calls, args.days):
            print(f"reusing the data in {args.data_dir}", flush=True)
            return Setup(**saved["setup"], data_dir=args.data_dir, db=args.data_dir / "callreport.db")
        shutil.rmtree(args.data_dir)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    setup = make_data(args.data_dir, args.calls, args.days)
    keep = {k: v for k, v in vars(setup).items() if k not in ("data_dir", "db")}
    marker.write_text(json.dumps({"calls": args.calls, "days": args.days, "setup": keep}))
    return setup


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options; --quick picks a small size and short phases."""
    p = argparse.ArgumentParser(description="callreport against Datasette, pandas and ReportLab platypus.")
    p.add_argument("--quick", action="store_true", help="100,000 calls and short load phases")
    p.add_argument("--calls", type=int, help="calls to generate (default 1,000,000; 100,000 with --quick)")
    p.add_argument("--days", type=int, default=90, help="days the calls span from 2025-01-01 (at least 90)")
    p.add_argument("--pdf-rows", type=int, default=20_000, help="rows of the PDF task")
    p.add_argument("--requests", type=int, help="sequential list requests for p50/p99, per server")
    p.add_argument("--seconds", type=float, help="time of the 16-client phase, per server")
    p.add_argument("--rounds", type=int, default=4, help="alternating rounds the listing is split into")
    p.add_argument("--time-limit", type=float, help="bound on the whole run, in seconds")
    p.add_argument("--data-dir", type=Path, help="keep the generated data here and reuse it next time")
    p.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="where to write the table")
    args = p.parse_args(argv)
    if args.days < 90:
        p.error("--days must be at least 90: the month listed and exported is March 2025")
    args.calls = args.calls or (100_000 if args.quick else 1_000_000)
    args.requests = args.requests or (400 if args.quick else 1000)
    args.seconds = args.seconds or (8.0 if args.quick else 20.0)
    args.time_limit = args.time_limit or (1200.0 if args.quick else 3600.0)
    return args


def run(args, work: Path) -> tuple[dict, dict]:
    """Every measurement, in order; the results and the row counts."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    setup = prepare(args)
    results, sizes, cr, ds = {}, {}, None, None
    try:
        cr = Callreport(setup, logs)
        ds = Datasette(PEER_VENV, setup.db, setup.account_id, logs / "datasette-list.log")
        print(f"listing (the same first page on both: {same_first_page(cr, ds, setup)})", flush=True)
        bench_listing(cr, ds, setup, results, args)
        ds.close()
        sizes = bench_files(setup, cr, logs, results, args)
    finally:
        stop(ds.proc if ds else None)
        stop(cr.proc if cr else None)
    return results, sizes


def main(argv: list[str]) -> None:
    """Install the peers, generate the data, measure, print the table and write RESULTS.md."""
    args = parse_args(argv)
    began = time.monotonic()
    args.deadline = began + args.time_limit

    def too_long(*_) -> None:
        raise TimeoutError("time limit reached")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(int(args.time_limit) + 300)  # a hard stop, past the bounds of each task
    meta = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(),
        "python": platform.python_version(), "platform": f"{platform.system()} {platform.machine()}",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()), "calls": args.calls, "days": args.days,
    }  # fmt: skip
    meta["peers"] = peer_versions(peer_venv())
    work = Path(tempfile.mkdtemp(prefix="callreport-compare-"))
    args.data_dir = args.data_dir.resolve() if args.data_dir else work / "data"
    try:
        results, sizes = run(args, work)
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    table = render(results, {**meta, **sizes, "elapsed": time.monotonic() - began})
    print("\n" + table)
    args.out.write_text(table)
    print(f"written to {args.out}")


if __name__ == "__main__":
    try:
        import callreport  # noqa: F401 - compare.py drives the service from the service's venv
    except ImportError:
        service_python = ROOT / ".venv" / "bin" / "python"
        os.execv(service_python, [str(service_python), __file__, *sys.argv[1:]])
    main(sys.argv[1:])
