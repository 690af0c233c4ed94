"""Issue 2: ingest and the read API over one account holding a year of calls, on SQLite and PostgreSQL.

Prints ingest rates (HTTP and CLI), p50/p99 latencies of list (first page, a page 5,000 rows deep
by cursor, callAnalysis filters), reportCount and summary over one month, list requests per
second with 16 concurrent clients, and the server's peak memory; then writes RESULTS-api.md.

    .venv/bin/python benchmarks/bench_api.py --quick            # 100,000 calls, both databases
    .venv/bin/python benchmarks/bench_api.py --backend sqlite   # 1,000,000 calls
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime
from pathlib import Path

import common
import httpx
import ingesting
import orjson
import stores
from common import API, call, mb, percentile, verdict
from stores import Store, Tenant

START = datetime(2025, 1, 1)  # the year of calls is 2025 in Asia/Kolkata, so the month below is fixed
TZ = "Asia/Kolkata"
MONTH = {"startDate": "2025-06-01", "endDate": "2025-06-30"}
LIST_FILTER = {**MONTH, "agentIds": ["AG-101", "AG-201"], "minDuration": 60}
DEEP = "list, cursor page 5,000 deep"
SENTIMENT = [{"field": "sentiment", "op": "eq", "value": "negative"}]
SCORE = [{"field": "score", "op": "gte", "value": 95}]
QUERIES = {  # name -> (endpoint, body, goal for p50 in ms or None)
    "list, first page": ("list", {**LIST_FILTER, "limit": 50}, 10),
    DEEP: ("list", {**LIST_FILTER, "limit": 50}, 10),
    "list, callAnalysis sentiment eq": ("list", {**MONTH, "limit": 50, "callAnalysis": SENTIMENT}, 10),
    "reportCount, month": ("reportCount", MONTH, 100),
    "summary by agent, month": ("summary", {**MONTH, "groupBy": "agent"}, 100),
    "list, callAnalysis score gte 95": ("list", {**MONTH, "limit": 50, "callAnalysis": SCORE}, None),
    "reportCount, month + agents + minDuration": ("reportCount", LIST_FILTER, None),
}
INGEST_GOAL, MEMORY_GOAL = 20_000, 300e6


def cursor_at(client: httpx.Client, body: dict, depth: int) -> tuple[str | None, int]:
    """The list cursor after `depth` rows of the query, walking pages of up to 1,000; (cursor, depth)."""
    cursor, passed = None, 0
    for _ in range(depth // 1000 + 2):
        take = min(1000, depth - passed)
        if take <= 0:
            break
        page = call(client, "list", {**body, "limit": take, **({"cursor": cursor} if cursor else {})})
        passed, cursor = passed + len(page["data"]), page["nextCursor"]
        if cursor is None:
            break
    return cursor, passed


def latencies(client: httpx.Client, name: str, body: dict, reps: int, budget: float) -> dict:
    """p50/p99/mean in ms of `reps` sequential requests (after 5 warm-ups), cut off after `budget` s."""
    for _ in range(5):
        data = call(client, name, body)
    times, deadline, raw = [], time.monotonic() + budget, orjson.dumps(body)
    while len(times) < reps and time.monotonic() < deadline:
        t0 = time.perf_counter()
        res = client.post(f"{API}/{name}", content=raw)
        times.append((time.perf_counter() - t0) * 1000)
        if res.status_code != 200 or b'"status":"success"' not in res.content[:40]:
            raise RuntimeError(f"{name} failed: {res.content[:300]!r}")
    rows = len(data["data"]) if "data" in data else data.get("count")
    return {"n": len(times), "p50": percentile(times, 50), "p99": percentile(times, 99),
            "mean": sum(times) / len(times), "rows": rows}  # fmt: skip


def query_bench(base: str, tenant: Tenant, reps: int, budget: float) -> dict[str, dict]:
    """Latency of each query of QUERIES over HTTP from one keep-alive client."""
    out = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        matching = call(client, "reportCount", {**tenant.creds, **LIST_FILTER}, timeout=120)["count"]
        for label, (name, body, _goal) in QUERIES.items():
            body, depth = {**tenant.creds, **body}, None
            if label == DEEP:
                cursor, depth = cursor_at(client, body, min(5000, max(0, matching - 50)))
                body["cursor"] = cursor
            out[label] = {**latencies(client, name, body, reps, budget), "depth": depth}
            print(f"  {label}: p50 {out[label]['p50']:.1f} ms, p99 {out[label]['p99']:.1f} ms", flush=True)
    return out


async def _concurrent(base: str, body: bytes, clients: int, seconds: float) -> tuple[list[float], int]:
    times: list[float] = []
    failures, deadline = [0], time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def one_client() -> None:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                try:
                    res = await client.post(f"{API}/list", content=body)
                except httpx.HTTPError:
                    failures[0] += 1
                    await asyncio.sleep(0.1)
                    continue
                if b'"status":"success"' not in res.content[:40]:
                    raise RuntimeError(f"list failed under load: {res.content[:300]!r}")
                times.append((time.perf_counter() - t0) * 1000)

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return times, failures[0]


def concurrency_bench(base: str, tenant: Tenant, clients: int, seconds: float) -> dict:
    """List requests per second (first page) with `clients` concurrent keep-alive connections."""
    body = orjson.dumps({**tenant.creds, **QUERIES["list, first page"][1]})
    t0 = time.perf_counter()
    times, failures = asyncio.run(_concurrent(base, body, clients, seconds))
    return {"clients": clients, "count": len(times), "rps": len(times) / (time.perf_counter() - t0),
            "p50": percentile(times, 50), "p99": percentile(times, 99), "failures": failures}  # fmt: skip


def ingest_phase(store: Store, proc: common.Proc, base: str, tenant: Tenant, files, args) -> dict:
    """Both ingests into the tenant's account; rates, CPU and the server's memory meanwhile."""
    print(f"[{store.backend}] HTTP ingest ...", flush=True)
    proc.sampler.phase()
    cpu = proc.cpu()
    n_http, s_http = ingesting.http_ingest(base, tenant, files[0], args.ingest_clients, args.timeout)
    r = {"http_ingest": (n_http, s_http, proc.cpu() - cpu), "rss_ingest": proc.sampler.phase()}
    print(f"[{store.backend}] CLI ingest ...", flush=True)
    r["cli_ingest"] = ingesting.cli_ingest(store, tenant, files[1], args.timeout)
    return r


def existing_account(store: Store, calls: int) -> str:
    """The account of an earlier run to measure again (--skip-ingest); it must hold `calls` calls."""
    account, have = stores.busiest_account(store)
    if have < calls:
        raise SystemExit(f"--skip-ingest: the {store.backend} store holds {have:,} calls, not {calls:,}")
    return account


def read_phase(proc: common.Proc, base: str, tenant: Tenant, args: argparse.Namespace) -> dict:
    """Query latencies, then throughput under concurrency; the server's memory meanwhile."""
    proc.sampler.phase()
    print("  queries ...", flush=True)
    r = {"queries": query_bench(base, tenant, args.reps, args.budget), "rss_queries": proc.sampler.phase()}
    print(f"  {args.clients} concurrent clients for {args.seconds:.0f} s ...", flush=True)
    cpu = proc.cpu()
    r["concurrent"] = {**concurrency_bench(base, tenant, args.clients, args.seconds),
                       "server_cpu": proc.cpu() - cpu, "killed": proc.sampler.killed}  # fmt: skip
    r["rss_concurrent"] = proc.sampler.phase()
    return r


def run_backend(backend: str, files: tuple[Path, Path] | None, args: argparse.Namespace) -> dict:
    """Every measurement on one database; the figures as a dict."""
    data_dir = args.data_dir if backend == "sqlite" else None
    with stores.open_store(backend, data_dir, args.database_url) as store:
        account = existing_account(store, args.calls) if files is None else None
        tenant = stores.make_tenant(store, account_id=account, timezone=TZ)
        with common.server(store) as (proc, base):
            r = ingest_phase(store, proc, base, tenant, files, args) if files else {}
            r["db_size"] = stores.database_size(store)
            if not args.analyze:
                r.update(read_phase(proc, base, tenant, args))
            r["rss_hwm"] = (proc.sampler.hwm(), proc.sampler.anon_peak)
        if args.analyze:
            # After ANALYZE a fresh server, since SQLite connections keep the statistics they first read.
            r["analyze"] = stores.analyze(store)
            with common.server(store) as (proc, base):
                r.update(read_phase(proc, base, tenant, args))
                hwm = max(r["rss_hwm"][0], proc.sampler.hwm()), max(r["rss_hwm"][1], proc.sampler.anon_peak)
                r["rss_hwm"] = hwm
    return r


def ingest_rows(results: dict[str, dict]) -> list[list[str]]:
    """Table rows of the ingest rates: wall clock, and per CPU second of the ingesting process."""
    rows = []
    kinds = (("http_ingest", "ingest over HTTP", "server"), ("cli_ingest", "ingest by CLI", "CLI"))
    for key, label, who in kinds if all("http_ingest" in r for r in results.values()) else ():
        cells = []
        for r in results.values():
            n, s, cpu = r[key][:3]
            cells.append(f"{n / s:,.0f} calls/s ({n:,} in {s:.1f} s; {n / cpu:,.0f} per {who} CPU-s) "
                         f"{verdict(n / s >= INGEST_GOAL)}")  # fmt: skip
        rows.append([label, f">= {INGEST_GOAL:,}/s", *cells])
    return rows


def query_rows(results: dict[str, dict]) -> list[list[str]]:
    """Table rows of the query latencies."""
    rows = []
    for label, (_name, _body, goal) in QUERIES.items():
        cells = []
        for r in results.values():
            q = r["queries"][label]
            deep = f", after {q['depth']:,} rows" if q["depth"] is not None else ""
            mark = f" {verdict(q['p50'] < goal)}" if goal else ""
            cells.append(f"{q['p50']:.1f} / {q['p99']:.1f} ms (n={q['n']}, rows={q['rows']}{deep}){mark}")
        rows.append([label + " p50 / p99", f"p50 < {goal} ms" if goal else "-", *cells])
    return rows


def other_rows(results: dict[str, dict], args: argparse.Namespace) -> list[list[str]]:
    """Table rows of throughput under concurrency, memory and database size."""
    cells = []
    for c in (r["concurrent"] for r in results.values()):
        broke = f"; {c['failures']} failed" + (", server killed over the RSS limit" if c["killed"] else "")
        cells.append(f"{c['rps']:,.0f} req/s (p50 {c['p50']:.1f}, p99 {c['p99']:.1f} ms; "
                     f"{c['count'] / max(c['server_cpu'], 0.01):,.0f} per server CPU-s"
                     f"{broke if c['failures'] or c['killed'] else ''})")  # fmt: skip
    rows = [[f"list first page, {args.clients} concurrent clients", "-", *cells]]
    ingested = all("rss_ingest" in r for r in results.values())
    for key, label in (("rss_ingest", "server peak RSS (heap) during HTTP ingest"),
                       ("rss_queries", "... during sequential queries"),
                       ("rss_concurrent", "... under concurrent load"),
                       ("rss_hwm", "server VmHWM (sampled heap peak), whole run")):  # fmt: skip
        if key != "rss_ingest" or ingested:
            peaks = [r[key] for r in results.values()]
            cells = [f"{mb(rss)} ({mb(anon)}) MB {verdict(rss < MEMORY_GOAL)}" for rss, anon in peaks]
            rows.append([label, "< 300 MB", *cells])
    if ingested:
        cli_peaks = [f"{mb(r['cli_ingest'][3])} MB" for r in results.values()]
        rows.append(["CLI ingest process peak RSS", "-", *cli_peaks])
    sizes = [f"{mb(r['db_size'][0])} MB" + (f" + WAL {mb(r['db_size'][1])} MB" if r["db_size"][1] else "")
             for r in results.values()]  # fmt: skip
    rows.append(["database size on disk (after ingest)", "-", *sizes])
    if args.analyze:
        rows.append(["ANALYZE, then a fresh server, before the queries", "-",
                     *[f"{r['analyze']:.1f} s" for r in results.values()]])  # fmt: skip
    return rows


def report(results: dict[str, dict], args: argparse.Namespace, note: str) -> str:
    """The figures of every database as a Markdown table, goals beside them."""
    cli_n = ingesting.cli_share(args.calls)
    loaded = (f"{args.calls - cli_n:,} through HTTP ingest in batches of 10,000 from {args.ingest_clients} "
              f"clients, then {cli_n:,} through `callreport ingest`")  # fmt: skip
    head = " ".join([
        f"# API benchmark (issue 2)\n\n{time.strftime('%Y-%m-%d %H:%M')}; {args.calls:,} calls over 2025",
        f"in one account ({'loaded by an earlier run' if args.skip_ingest else loaded});",
        f"{'planner statistics refreshed by ANALYZE; ' if args.analyze else ''}latencies from one",
        f"keep-alive client over loopback, up to {args.reps} requests (at most {args.budget:.0f} s) each",
        f"after 5 warm-ups; month = June 2025 (Asia/Kolkata), agents = {LIST_FILTER['agentIds']},",
        f"minDuration = {LIST_FILTER['minDuration']}.\nMachine: {note}; the client runs on the same cores,",
        "so figures are noisy: compare the per-CPU-second figures between runs.\n\n",
    ])  # fmt: skip
    rows = ingest_rows(results) + query_rows(results) + other_rows(results, args)
    return head + common.table("Figures against the goals", ["measure", "goal", *results], rows)


def parse_args() -> argparse.Namespace:
    """The options, with the defaults that depend on --quick filled in."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, help="calls in the account (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="100,000 calls and fewer repetitions")
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--data-dir", help="keep the SQLite data here (for bench_exports.py)")
    p.add_argument("--database-url", help="use (and keep) this PostgreSQL database instead of a fresh one")
    p.add_argument("--ingest-clients", type=int, default=3, help="concurrent HTTP ingest clients (3)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients for list requests/s (16)")
    p.add_argument("--seconds", type=float, help="length of the concurrent run (10; --quick 5)")
    p.add_argument("--reps", type=int, help="requests per latency figure (300; --quick 100)")
    p.add_argument("--budget", type=float, default=30.0, help="at most this many seconds per latency figure")
    p.add_argument("--timeout", type=float, default=3600.0, help="at most this many seconds per ingest")
    p.add_argument("--skip-ingest", action="store_true", help="measure the data of --data-dir/--database-url")
    p.add_argument("--analyze", action="store_true", help="run ANALYZE before the queries")
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS-api.md")))
    args = p.parse_args()
    args.calls = args.calls or (100_000 if args.quick else 1_000_000)
    args.seconds = args.seconds or (5.0 if args.quick else 10.0)
    args.reps = args.reps or (100 if args.quick else 300)
    return args


def main() -> None:
    """Run each database, print and save the figures."""
    args = parse_args()
    common.exit_on_sigterm()
    start_load = common.load_note()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="crbench-jsonl-") as tmp:
        files = None
        if not args.skip_ingest:
            files = ingesting.write_files(args.calls, ingesting.cli_share(args.calls), Path(tmp), START, TZ)
        results = {b: run_backend(b, files, args) for b in backends}
    text = report(results, args, common.machine_note(start_load))
    print("\n" + text)
    Path(args.out).write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
