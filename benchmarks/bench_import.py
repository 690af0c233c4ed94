"""Asterisk import speed (issue 12): a generated Master.csv parsed, merged and stored, against `ingest`.

Prints, each from its own child process (so peak RSS is that step's alone):
- parsing alone: rows/s and calls/s;
- the full import (`import asterisk-csv`'s path: parse, merge, build rows, upsert) into a new SQLite file;
- `ingest` (cli.load_records, the command's path) of the same calls as JSON Lines into another new file.
The file is written by this script (Asterisk 12+ layout with linkedid: queue calls of 2 legs, outbound 1).

    .venv/bin/python benchmarks/bench_import.py [--rows 1000000 | --quick] [--keep FILE]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

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


def measure(path: Path) -> None:
    """Parse and merge the file (in this process); print the figures."""
    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping

    rows = sum(1 for _ in open(path, "rb"))
    t0 = time.perf_counter()
    calls = rejected = skipped = 0
    for outcome in asterisk.read(path, Mapping()):
        if outcome.record is not None:
            calls += 1
        elif outcome.error is not None:
            rejected += 1
        else:
            skipped += 1
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{rows:,} rows -> {calls:,} calls ({skipped:,} skipped, {rejected:,} rejected) in {seconds:.1f} s")
    print(f"parse: {rows / seconds:,.0f} rows/s, {calls / seconds:,.0f} calls/s; peak RSS {peak_mb:.0f} MB")
    validate_rate(path)


def validate_rate(path: Path, n: int = 50_000) -> None:
    """For scale on this machine now: ingest's validation alone (no database) of n of the same calls."""
    from zoneinfo import ZoneInfo

    from callreport.ingest import to_rows
    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping

    records = []
    for outcome in asterisk.read(path, Mapping()):
        record = outcome.record
        record.pop("queueName")  # not an ingest field yet
        record["didNumber"] = record["didNumber"] or record["callerNumber"]  # ingest requires one; §11 allows null
        records.append(record)
        if len(records) == n:
            break
    t0 = time.perf_counter()
    for i in range(0, len(records), 10_000):
        to_rows("bench", records[i : i + 10_000], ZoneInfo("UTC"))
    seconds = time.perf_counter() - t0
    print(f"ingest validation alone (to_rows, no database): {len(records) / seconds:,.0f} calls/s")


def _fresh_engine(folder: Path, name: str):
    from callreport import auth, db

    engine = db.make_engine(f"sqlite:///{folder / name}")
    db.migrate(engine)
    with db.writing(engine) as conn:
        account = auth.create_account(conn, "bench", "UTC")
    return engine, account


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_import(path: Path) -> None:
    """Parse and store the file as `import asterisk-csv` does, into a new database; print the figures."""
    from callreport.sources import asterisk
    from callreport.sources.mapping import Mapping
    from callreport.sources.store import load

    rows = sum(1 for _ in open(path, "rb"))
    engine, account = _fresh_engine(path.parent, "import.db")
    t0 = time.perf_counter()
    summary = load(engine, account, asterisk.read(path, Mapping()))
    seconds = time.perf_counter() - t0
    calls = summary.inserted
    print(f"import asterisk-csv: {rows:,} rows -> {calls:,} calls in {seconds:.1f} s: {rows / seconds:,.0f} rows/s, "
          f"{calls / seconds:,.0f} calls/s; peak RSS {_peak_mb():.0f} MB")  # fmt: skip


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


def ingest(jsonl: Path) -> None:
    """Load the JSON Lines through `callreport ingest`'s path (cli.load_records) into a new database."""
    import orjson

    from callreport.cli import load_records

    engine, account = _fresh_engine(jsonl.parent, "ingest.db")
    t0 = time.perf_counter()
    with open(jsonl, "rb") as fh:
        counts = load_records(engine, account, (orjson.loads(line) for line in fh), None, "ingest")
    seconds = time.perf_counter() - t0
    calls = counts["inserted"]
    print(f"ingest (JSON Lines): {calls:,} calls in {seconds:.1f} s: {calls / seconds:,.0f} calls/s; "
          f"peak RSS {_peak_mb():.0f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--keep", type=Path, help="write the generated file here and keep it")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child processes
    parser.add_argument("--import-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ingest-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    if args.import_file:
        full_import(args.import_file)
        return
    if args.ingest_file:
        ingest(args.ingest_file)
        return
    if args.quick:
        args.rows = 100_000
    with tempfile.TemporaryDirectory(prefix="callreport-bench-import-") as tmp:
        path = args.keep or Path(tmp) / "Master.csv"
        t0 = time.perf_counter()
        generate(path, args.rows)
        size = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size:.0f} MB) in {time.perf_counter() - t0:.1f} s", flush=True)
        subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True)
        subprocess.run([sys.executable, __file__, "--import-file", str(path)], check=True)
        jsonl = Path(tmp) / "calls.jsonl"
        print(f"wrote {write_jsonl(path, jsonl):,} calls as JSON Lines", flush=True)
        subprocess.run([sys.executable, __file__, "--ingest-file", str(jsonl)], check=True)


if __name__ == "__main__":
    main()
