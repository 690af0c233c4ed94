"""Asterisk import speed (issue 12): a generated Master.csv parsed, merged and stored, against `ingest`.

Prints, each from its own child process (so peak RSS is that step's alone):
- parsing alone: rows and calls per CPU-second;
- the full import (`import asterisk-csv`'s path: parse, merge, upsert tuples, upsert) into a new database;
- `ingest` (loading.load_records, the command's path) of the same calls as JSON Lines into another new one;
the two loads on SQLite and on PostgreSQL (`--backend`), then a Markdown table (`--table FILE` writes it).
Rates are per CPU-second of the loading process (user + system, time.process_time): the machine is
shared, so wall time measures the neighbours too. PostgreSQL's own server CPU is not in them.
The file is written by this script (Asterisk 12+ layout with linkedid: queue calls of 2 legs, outbound 1).

    .venv/bin/python benchmarks/bench_import.py [--rows 1000000 | --quick] [--backend sqlite] [--table FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PG_ADMIN_URL = os.environ.get("CALLREPORT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def _stamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _row(uid: str, src: str, dst: str, ctx: str, chan: str, dchan: str, app: str, data: str, t0: int, ta, t1, disp):
    bill = t1 - ta if ta else 0
    answer = f'"{_stamp(ta)}"' if ta else ""
    return (
        f'"","{src}","{dst}","{ctx}","""{src}"" <{src}>","{chan}","{dchan}","{app}","{data}",'
        f'"{_stamp(t0)}",{answer},"{_stamp(t1)}",{t1 - t0},{bill},"{disp}","DOCUMENTATION","{uid}","","",'
        f'"{uid.split("+")[0]}",0\n'
    )


def generate(path: Path, rows: int, seed: int = 12) -> None:
    """rows Master.csv rows: 60% of calls inbound through Queue(sales) (2 legs), the rest outbound (1 leg)."""
    rnd = random.Random(seed)
    written, call, t = 0, 0, START
    with open(path, "w", buffering=1 << 20) as out:
        while written < rows:
            call += 1
            t += rnd.randint(1, 20)
            uid = f"{t}.{call}"
            customer = f"06{rnd.randint(10_000_000, 99_999_999)}"
            agent = str(rnd.randint(2001, 2050))
            if rnd.random() < 0.6 and rows - written >= 2:
                answered = rnd.random() < 0.8
                ta, t1 = t + rnd.randint(5, 90), t + rnd.randint(100, 600)
                dchan = f"SIP/{agent}-{call:08x}" if answered else ""
                out.write(_row(uid, customer, "0201234567", "from-pstn", f"SIP/carrier-{call:08x}", dchan,
                               "Queue", "sales,t,,,300", t, t, t1, "ANSWERED"))  # fmt: skip
                out.write(_row(f"{uid}+", customer, agent, "from-queue", f"Local/{agent}@from-queue-{call:08x};2",
                               f"SIP/{agent}-{call:08x}", "Dial", f"SIP/{agent},,", t + 2, ta if answered else None,
                               t1, "ANSWERED" if answered else "NO ANSWER"))  # fmt: skip
                written += 2
            else:
                disp = rnd.choice(("ANSWERED", "ANSWERED", "BUSY", "NO ANSWER", "FAILED"))
                ta = t + rnd.randint(3, 30) if disp == "ANSWERED" else None
                out.write(_row(uid, agent, customer, "from-internal", f"SIP/{agent}-{call:08x}",
                               f"SIP/carrier-{call + 1:08x}", "Dial", f"SIP/carrier/{customer},60", t, ta,
                               (ta or t) + rnd.randint(0, 400), disp))  # fmt: skip
                written += 1


def _cpu() -> float:
    """CPU seconds of this process so far (user + system): the machine is shared, wall time is not ours."""
    return time.process_time()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _report(step: str, rows: int | None, calls: int, wall: float, cpu: float) -> None:
    """One step's figures: a line for people, then a JSON line for the parent's table."""
    per_row = f"{rows / cpu:,.0f} rows/CPU-s, " if rows else ""
    print(f"{step}: {f'{rows:,} rows -> ' if rows else ''}{calls:,} calls in {cpu:.1f} CPU-s ({wall:.1f} s wall): "
          f"{per_row}{calls / cpu:,.0f} calls/CPU-s; peak RSS {_peak_mb():.0f} MB")  # fmt: skip
    figures = {"step": step, "rows": rows, "calls": calls, "wall": wall, "cpu": cpu, "peak_mb": _peak_mb()}
    print("FIGURES " + json.dumps(figures), flush=True)


def measure(path: Path) -> None:
    """Parse and merge the file (in this process); print the figures."""
    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping

    rows = sum(1 for _ in open(path, "rb"))
    t0, c0 = time.perf_counter(), _cpu()
    calls = rejected = skipped = 0
    for outcome in asterisk.read(path, Mapping()):
        if outcome.record is not None:
            calls += 1
        elif outcome.error is not None:
            rejected += 1
        else:
            skipped += 1
    if rejected or skipped:
        print(f"  ({skipped:,} skipped, {rejected:,} rejected)")
    _report("parse", rows, calls, time.perf_counter() - t0, _cpu() - c0)


def _fresh_engine(url: str):
    from callreport import auth, db

    engine = db.make_engine(url)
    db.migrate(engine)
    with db.writing(engine) as conn:
        account = auth.create_account(conn, "bench", "UTC")
    return engine, account


def full_import(path: Path, url: str) -> None:
    """Parse and store the file as `import asterisk-csv` does, into a new database; print the figures."""
    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping
    from callreport.sources.store import load

    rows = sum(1 for _ in open(path, "rb"))
    engine, account = _fresh_engine(url)
    t0, c0 = time.perf_counter(), _cpu()
    summary = load(engine, account, asterisk.read(path, Mapping()))
    _report("import", rows, summary.inserted, time.perf_counter() - t0, _cpu() - c0)


def write_jsonl(path: Path, out: Path) -> int:
    """The same calls as ingest takes them (JSON Lines); ingest has no queueName and needs a DID."""
    import orjson

    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping

    n = 0
    with open(out, "wb") as fh:
        for outcome in asterisk.read(path, Mapping()):
            record = outcome.record
            if record is None:
                continue
            record.pop("queueName")
            record["didNumber"] = record["didNumber"] or "0"
            record["customerNumber"] = record["customerNumber"] or "0"
            record["callerNumber"] = record["callerNumber"] or "0"
            fh.write(orjson.dumps(record) + b"\n")
            n += 1
    return n


def ingest(jsonl: Path, url: str) -> None:
    """Load the JSON Lines through `callreport ingest`'s path (loading.load_records) into a new database."""
    import orjson

    from callreport.loading import load_records

    engine, account = _fresh_engine(url)
    t0, c0 = time.perf_counter(), _cpu()
    with open(jsonl, "rb") as fh:
        counts = load_records(engine, account, (orjson.loads(line) for line in fh), None, "ingest")
    _report("ingest", None, counts["inserted"], time.perf_counter() - t0, _cpu() - c0)


def _child(*args: str) -> dict:
    """Run one step in its own process (its peak RSS is that step's alone); its figures."""
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    figures = {}
    for line in out.stdout.splitlines():
        if line.startswith("FIGURES "):
            figures = json.loads(line.removeprefix("FIGURES "))
        else:
            print(line, flush=True)
    return figures


@contextlib.contextmanager
def _database(backend: str, folder: Path, name: str):
    """A new, empty database URL: a file in folder, or a PostgreSQL database dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    import psycopg

    db_name = f"callreport_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{db_name}"')
    try:
        yield "postgresql+psycopg://" + PG_ADMIN_URL.split("://", 1)[1].rsplit("/", 1)[0] + "/" + db_name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def table(rows: int, results: list[tuple[str, dict]]) -> str:
    """The run as a Markdown table: per CPU-second rates (the comparison) and wall rates."""
    # the options of the run, not where its files went (no paths of this machine in the results)
    shown = re.sub(r"\s*--(table|keep)[= ]\S+", "", " ".join(sys.argv[1:])).strip()
    lines = [
        f"{rows:,} Master.csv rows, Python {sys.version.split()[0]}, `{shown or '(defaults)'}`",
        "",
        "| database | step | calls | CPU s | rows/CPU-s | calls/CPU-s | wall s | calls/s (wall) | peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, f in results:
        per_row = f"{f['rows'] / f['cpu']:,.0f}" if f["rows"] else "-"
        lines.append(
            f"| {backend} | {f['step']} | {f['calls']:,} | {f['cpu']:.1f} | {per_row} | {f['calls'] / f['cpu']:,.0f} "
            f"| {f['wall']:.1f} | {f['calls'] / f['wall']:,.0f} | {f['peak_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--table", type=Path, help="also write the Markdown table of the run to this file")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--import-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ingest-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.measure)
    if args.import_file:
        return full_import(args.import_file, args.url)
    if args.ingest_file:
        return ingest(args.ingest_file, args.url)
    if args.quick:
        args.rows = 100_000
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="callreport-bench-import-") as tmp:
        path = args.keep or Path(tmp) / "Master.csv"
        t0 = time.perf_counter()
        generate(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s", flush=True)
        results = [("-", _child("--measure", str(path)))]
        jsonl = Path(tmp) / "calls.jsonl"
        print(f"wrote {write_jsonl(path, jsonl):,} calls as JSON Lines", flush=True)
        for backend in backends:
            print(f"-- {backend}", flush=True)
            with _database(backend, Path(tmp), "import") as url:
                results.append((backend, _child("--import-file", str(path), "--url", url)))
            with _database(backend, Path(tmp), "ingest") as url:
                results.append((backend, _child("--ingest-file", str(jsonl), "--url", url)))
    print()
    print(text := table(args.rows, results))
    if args.table:
        args.table.write_text(text)


if __name__ == "__main__":
    main()
