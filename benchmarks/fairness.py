"""Issue 8, item 6: a noisy account flooding exports must not delay a quiet account's small export.

Run through `benchmarks/load.py --noisy-neighbour` (see there for the common options). One account
keeps its cap of full exports queued (it tops up as its jobs finish, for the whole run) while a
quiet account asks for a one-row CSV every few seconds; prints the quiet export's time from
request to done (p50, max) and how many exports each side finished.
"""

from __future__ import annotations

import argparse
import threading
import time

import httpx
import orjson
import sqlalchemy as sa
import stores
from common import API, percentile

from callreport import auth, db
from callreport.demo import generate_calls
from callreport.loading import load_records
from callreport.models import calls

QUIET_EVERY, POLL, GRACE = 3.0, 0.05, 120.0  # seconds between quiet exports, status poll, time to finish
CAP = 10  # the noisy client keeps this many pending or running: the server's default cap


def _post(client: httpx.Client, name: str, body: dict) -> dict:
    return orjson.loads(client.post(f"{API}/{name}", content=orjson.dumps(body), timeout=60).content)


def tenant(engine: sa.Engine, name: str, n: int, tz: str) -> dict:
    """An account with an all-permissions user and n demo calls; its credentials and one callId."""
    with db.writing(engine) as conn:
        account = auth.create_account(conn, name, tz)
        user = auth.create_user(conn, account, f"{name.lower()}-user", "bench-password-123", list(auth.PERMISSIONS))
        token, _ = auth.issue(conn, user, "token", None)
    load_records(engine, account, generate_calls(n, seed=len(name), tz=tz), n, "calls")
    with engine.connect() as conn:
        call_id = conn.execute(sa.select(calls.c.call_id).where(calls.c.account_id == account).limit(1)).scalar()
    return {"creds": {"userId": user, "token": token}, "call_id": call_id}


def noisy_loop(base: str, creds: dict, deadline: float, tally: dict) -> None:
    """Keep CAP full exports of the whole account pending or running until the deadline."""
    with httpx.Client(base_url=base) as client:
        while time.monotonic() < deadline:
            listed = _post(client, "exportList", {**creds, "states": ["pending", "running"], "limit": 100})
            for _ in range(CAP - len(listed.get("data", []))):
                out = _post(client, "exportCsv", creds)
                tally["noisy_asked" if out.get("status") == "success" else "noisy_refused"] += 1
            time.sleep(0.2)


def quiet_loop(base: str, creds: dict, call_id: str, deadline: float, times: list[float], tally: dict) -> None:
    """A one-row export every QUIET_EVERY seconds; each one's time from request to done."""
    with httpx.Client(base_url=base) as client:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            out = _post(client, "exportCsv", {**creds, "callIds": [call_id]})
            rid, state = out.get("requestId"), out.get("state")
            while rid and state in ("pending", "running") and time.monotonic() < deadline + GRACE:
                time.sleep(POLL)
                state = _post(client, "exportStatus", {**creds, "requestId": rid}).get("data", {}).get("state")
            if state == "done":
                times.append(time.monotonic() - t0)
            else:
                tally["quiet_failed"] += 1
            time.sleep(max(0.0, t0 + QUIET_EVERY - time.monotonic()))


def run(backend: str, args: argparse.Namespace, start_processes) -> dict:
    """A fresh store, both accounts, the server (and worker), the two clients for args.seconds."""
    with stores.open_store(backend) as store:
        engine = stores.engine_of(store)
        try:
            noisy = tenant(engine, "Noisy", args.calls, "Asia/Kolkata")
            quiet = tenant(engine, "Quiet", 100, "Europe/Berlin")
            serve, worker, base = start_processes(store, not args.no_extra_worker, args.server_env)
            times: list[float] = []
            tally = dict.fromkeys(("noisy_asked", "noisy_refused", "quiet_failed"), 0)
            try:
                deadline = time.monotonic() + args.seconds
                threads = [
                    threading.Thread(target=noisy_loop, args=(base, noisy["creds"], deadline, tally), daemon=True),
                    threading.Thread(
                        target=quiet_loop,
                        args=(base, quiet["creds"], quiet["call_id"], deadline, times, tally),
                        daemon=True,
                    ),
                ]
                time_threads(threads, deadline)
                with httpx.Client(base_url=base) as client:
                    done = _post(client, "exportList", {**noisy["creds"], "states": ["done"], "limit": 1000})
                tally["noisy_done"] = len(done.get("data", []))
            finally:
                for proc in (worker, serve):
                    if proc:
                        proc.stop()
        finally:
            engine.dispose()
    return {"times": times, **tally}


def time_threads(threads: list[threading.Thread], deadline: float) -> None:
    """Start the threads and wait for them, bounded past the deadline."""
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline + GRACE + 60 - time.monotonic()))


def report(results: dict[str, dict], args: argparse.Namespace) -> str:
    """The quiet account's export times per backend, as text."""
    workers = "embedded worker only" if args.no_extra_worker else "embedded worker + 1 worker"
    lines = [
        f"Noisy neighbour: {args.seconds:.0f} s, noisy account {args.calls:,} calls, {CAP} full CSV exports "
        f"kept queued; quiet account one one-row CSV every {QUIET_EVERY:.0f} s; {workers}.",
        "",
        "| backend | quiet exports | p50 (s) | max (s) | quiet failed | noisy asked | noisy refused | noisy done |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, r in results.items():
        t = r["times"]
        p50, worst = (f"{percentile(t, 50):.2f}", f"{max(t):.2f}") if t else ("-", "-")
        lines.append(
            f"| {backend} | {len(t)} | {p50} | {worst} | {r['quiet_failed']} | {r['noisy_asked']} "
            f"| {r['noisy_refused']} | {r['noisy_done']} |"
        )
    return "\n".join(lines)
