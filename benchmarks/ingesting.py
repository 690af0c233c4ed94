"""The ingest drivers of bench_api.py: demo calls as JSON Lines, posted over HTTP or loaded by the CLI."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path

import common
import httpx
import orjson
from common import API
from stores import Store, Tenant

from callreport.demo import generate_calls


def cli_share(n: int) -> int:
    """How many of the calls go through the CLI: a fifth, at most 200,000 (keeps the run bounded)."""
    return min(200_000, n // 5)


def write_files(n: int, cli_n: int, folder: Path, start: datetime, tz: str) -> tuple[Path, Path]:
    """The year of calls as JSON Lines: the first n - cli_n for HTTP ingest, the rest for the CLI."""
    http_path, cli_path = folder / "http.jsonl", folder / "cli.jsonl"
    records = generate_calls(n, seed=2, start=start, days=365, tz=tz, id_prefix="BENCH")
    t0 = time.perf_counter()
    for path, count in ((http_path, n - cli_n), (cli_path, cli_n)):
        with open(path, "wb", buffering=1 << 20) as out:
            for rec in islice(records, count):
                out.write(orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE))
    print(f"generated {n:,} calls in {time.perf_counter() - t0:.1f} s", flush=True)
    return http_path, cli_path


def ingest_bodies(path: Path, tenant: Tenant, size: int) -> Iterator[bytes]:
    """Ingest bodies of `size` records each, the JSON lines spliced in without parsing them."""
    head = orjson.dumps(tenant.creds)[:-1] + b',"calls":['
    with open(path, "rb") as fh:
        while lines := list(islice(fh, size)):
            yield head + b",".join(line.rstrip(b"\n") for line in lines) + b"]}"


def http_ingest(base: str, tenant: Tenant, path: Path, clients: int, timeout: float) -> tuple[int, float]:
    """Post every record in batches of 10,000 from `clients` threads; (records stored, seconds)."""
    bodies, lock, done, errors = ingest_bodies(path, tenant, 10_000), threading.Lock(), [0], []
    deadline = time.monotonic() + timeout

    def client_loop() -> None:
        with httpx.Client(base_url=base, timeout=300) as client:
            while time.monotonic() < deadline and not errors:
                with lock:
                    body = next(bodies, None)
                if body is None:
                    return
                res = orjson.loads(client.post(f"{API}/ingest", content=body).content)
                if res.get("status") != "success":
                    errors.append(res)
                with lock:
                    done[0] += res.get("inserted", 0) + res.get("updated", 0)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"ingest failed: {errors[0]}")
    return done[0], time.perf_counter() - t0


def cli_ingest(store: Store, tenant: Tenant, path: Path, timeout: float) -> tuple[int, float, float, int]:
    """`callreport ingest FILE --account ID`, timed end to end; (records, seconds, CPU seconds, peak RSS)."""
    before, t0 = _children_cpu(), time.perf_counter()
    proc = common.spawn(store, ["ingest", str(path), "--account", tenant.account_id, "--json"], "cli-ingest")
    try:
        code = proc.popen.wait(timeout)
    finally:
        peak = proc.stop()
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - before
    if code != 0:
        raise RuntimeError(f"CLI ingest failed:\n{proc.log_tail()}")
    counts = orjson.loads(proc.log_tail().strip().splitlines()[-1])
    return counts["inserted"] + counts["updated"], seconds, cpu, max(peak, proc.sampler.peak)


def _children_cpu() -> float:
    """CPU seconds of every child process reaped so far (the finished CLI ingest among them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
