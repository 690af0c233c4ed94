"""Issue 5: a mixed load for a fixed time: errors, calls lost or duplicated, and memory growth.

    .venv/bin/python benchmarks/load.py --quick                # 20 s, 20,000 calls, both databases
    .venv/bin/python benchmarks/load.py --backend sqlite       # 120 s, 200,000 calls
    .venv/bin/python benchmarks/load.py --quick --hostile 2    # plus two unauthenticated 32 MiB ingesters

`--clients` threads (keep-alive httpx clients) mix list, reportCount, summary and exports (create,
poll exportStatus, download) against `callreport serve` (embedded worker) and one `callreport
worker`, while another thread ingests batches of 1,000 new calls for the whole run. Prints
requests/s, p50/p99 per endpoint, errors, the count check (before + ingested = after, by
reportCount and by SQL) and the server's memory; writes RESULTS-load.md. Loopback only; every
loop ends by a deadline and every process and database made here is stopped or dropped.
"""

from __future__ import annotations

import argparse
import random
import resource
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import common
import httpx
import orjson
import sqlalchemy as sa
import stores
from common import API, free_port, mb, percentile, verdict
from stores import Store

from callreport import auth, db
from callreport.demo import AGENTS, generate_calls
from callreport.loading import load_records
from callreport.models import calls

HERE = Path(__file__).resolve().parent
TZ, START, DAYS = "Asia/Kolkata", datetime(2025, 1, 1), 90  # data and new calls: Jan-Mar 2025
BATCH, POLL, GRACE = 1000, 0.25, 90.0  # ingest batch, status poll interval, time to finish exports
EXPORTS = (("csv", "Csv", 5), ("xlsx", "Excel", 3), ("pdf", "Pdf", 2))  # format, endpoint, weight
GROUPS = ("agent", "day", "hour", "status", "campaign")


class Stats:
    """Latencies (ms) and errors per endpoint, shared by every client thread."""

    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.tally = Counter()  # ingest: inserted, updated, failed batches; export rows, bytes
        self.lock = threading.Lock()

    def ok(self, label: str, ms: float) -> None:
        """One successful request."""
        with self.lock:
            self.lat[label].append(ms)

    def add(self, key: str, n: int) -> None:
        """Add to a tally (calls inserted, export rows, bytes downloaded...)."""
        with self.lock:
            self.tally[key] += n

    def error(self, label: str, what: str) -> None:
        """One failed request (or export), with a sample of what went wrong."""
        with self.lock:
            self.errors[label] += 1
            if len(self.samples) < 30:
                self.samples.append(f"{time.strftime('%H:%M:%S')} {label}: {what}")


def post(client: httpx.Client, stats: Stats, name: str, body: dict, label: str | None = None) -> dict | None:
    """One API request timed; its body on success, None (an error counted) otherwise."""
    label, t0 = label or name, time.perf_counter()
    try:
        res = client.post(f"{API}/{name}", content=orjson.dumps(body))
        data = orjson.loads(res.content)
    except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
        stats.error(label, f"{exc.__class__.__name__}: {exc}"[:200])
        return None
    if res.status_code != 200 or data.get("status") != "success":
        stats.error(label, f"HTTP {res.status_code} code {data.get('code')} {data.get('message')!r}")
        return None
    stats.ok(label, (time.perf_counter() - t0) * 1000)
    return data


def download(client: httpx.Client, stats: Stats, name: str, ask: dict, size: int) -> None:
    """Stream a finished file to the end; an error unless it is a file of the announced size."""
    t0, got = time.perf_counter(), 0
    try:
        with client.stream("POST", f"{API}/download{name}", content=orjson.dumps(ask)) as res:
            for chunk in res.iter_bytes(1 << 16):
                got += len(chunk)
            kind = res.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        stats.error(f"download{name}", f"{exc.__class__.__name__}: {exc}"[:200])
        return
    if res.status_code != 200 or kind.startswith("application/json") or got != size:
        stats.error(f"download{name}", f"HTTP {res.status_code} {kind}, {got} bytes of {size}")
        return
    stats.ok(f"download{name}", (time.perf_counter() - t0) * 1000)
    stats.add("download bytes", got)


def export_flow(client: httpx.Client, stats: Stats, creds: dict, rnd: random.Random, end: float) -> None:
    """Request an export of one random day, poll its status until done, download it."""
    fmt, name, _ = rnd.choices(EXPORTS, [w for *_, w in EXPORTS])[0]
    day = (START.date() + timedelta(days=rnd.randrange(DAYS))).isoformat()
    t0 = time.perf_counter()
    made = post(client, stats, f"export{name}", {**creds, "startDate": day, "endDate": day})
    if made is None:
        return
    ask, job = {**creds, "requestId": made["requestId"]}, {"state": "pending"}
    while job["state"] in ("pending", "running") and time.monotonic() < end:
        time.sleep(POLL)
        status = post(client, stats, "exportStatus", ask)
        if status is None:
            return
        job = status["data"]
    label = f"export {fmt}, request to done"
    if job["state"] != "done":
        stats.error(label, f"{made['requestId']} {job['state']}: {job.get('error')}")
        return
    stats.ok(label, (time.perf_counter() - t0) * 1000)
    stats.add("export rows", job["rowCount"])
    download(client, stats, name, ask, job["fileSize"])


def read_request(rnd: random.Random) -> tuple[str, dict]:
    """A random read: list of a week (one agent half the time), or reportCount / summary of a month."""
    first = START.date() + timedelta(days=rnd.randrange(DAYS - 30))
    month = {"startDate": first.isoformat(), "endDate": (first + timedelta(days=29)).isoformat()}
    pick = rnd.random()
    if pick < 0.5:
        week = {"startDate": first.isoformat(), "endDate": (first + timedelta(days=6)).isoformat(), "limit": 50}
        return "list", week | ({"agentIds": [rnd.choice(AGENTS).id]} if rnd.random() < 0.5 else {})
    if pick < 0.75:
        return "reportCount", month if rnd.random() < 0.8 else {}
    return "summary", {**month, "groupBy": rnd.choice(GROUPS)}


def client_loop(base: str, stats: Stats, creds: dict, seed: int, ends: tuple[float, float], slots) -> None:
    """One client until the deadline: reads, and an export when one of the export slots is free."""
    rnd, (deadline, hard_end) = random.Random(seed), ends
    with httpx.Client(base_url=base, timeout=60) as client:
        while time.monotonic() < deadline:
            if rnd.random() < 0.15 and slots.acquire(blocking=False):
                try:
                    export_flow(client, stats, creds, rnd, hard_end)
                finally:
                    slots.release()
                continue
            name, body = read_request(rnd)
            page = post(client, stats, name, {**creds, **body})
            if name == "list" and page and page["nextCursor"] and rnd.random() < 0.3:
                post(client, stats, "list", {**creds, **body, "cursor": page["nextCursor"]}, "list, next page")


def ingest_loop(base: str, stats: Stats, creds: dict, deadline: float) -> None:
    """Batches of 1,000 new calls (a distinct callId prefix each) back to back until the deadline."""
    with httpx.Client(base_url=base, timeout=120) as client:
        batch = 0
        while time.monotonic() < deadline:
            batch += 1
            new = generate_calls(BATCH, seed=batch, start=START, days=DAYS, tz=TZ, id_prefix=f"LOAD{batch:06d}")
            done = post(client, stats, "ingest", {**creds, "calls": list(new)}, f"ingest ({BATCH:,} calls)")
            if done is None:
                stats.add("failed batches", 1)
                continue
            stats.add("inserted", done["inserted"])
            stats.add("updated", done["updated"])


def hostile_body(limit: int = 32 << 20) -> bytes:
    """An ingest body without credentials, of plausible records, just under the 32 MiB limit."""
    one = orjson.dumps(next(iter(generate_calls(1, seed=7, start=START, days=DAYS, tz=TZ))), default=str)
    return b'{"calls":[' + b",".join([one] * ((limit - 32) // (len(one) + 1))) + b"]}"


def hostile_loop(base: str, stats: Stats, deadline: float) -> None:
    """Issue 8 item 4: unauthenticated 32 MiB ingest bodies back to back; each must be refused."""
    body = hostile_body()
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                code = orjson.loads(client.post(f"{API}/ingest", content=body).content).get("code")
            except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
                stats.error("hostile ingest", f"{exc.__class__.__name__}: {exc}"[:200])
                continue
            if code in (1000, 1050):  # no credentials; or the large-body queue is full
                stats.ok("hostile ingest (refused)", (time.perf_counter() - t0) * 1000)
                stats.add("hostile bytes", len(body))
            else:
                stats.error("hostile ingest", f"answered code {code}")


def tree_memory(root: int) -> tuple[int, int]:
    """VmRSS and RssAnon of a process and all its descendants, summed (bytes)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree, grew = tree | more, bool(more)
    mems = [common.proc_memory(pid) for pid in tree]
    return sum(m.get("VmRSS", 0) for m in mems), sum(m.get("RssAnon", 0) for m in mems)


def counts(base: str, creds: dict, engine: sa.Engine, account: str) -> dict[str, int]:
    """The account's calls by reportCount (no filter), and by SQL: rows and distinct callIds."""
    with httpx.Client(base_url=base, timeout=120) as client:
        api = common.call(client, "reportCount", creds, timeout=120)["count"]
    stmt = sa.select(sa.func.count(), sa.func.count(sa.distinct(calls.c.call_id))).where(calls.c.account_id == account)
    with engine.connect() as conn:
        rows, distinct = conn.execute(stmt).one()
    return {"api": api, "rows": rows, "distinct": distinct}


def prepare(store: Store, n: int) -> tuple[sa.Engine, str, dict]:
    """An account with every permission's user and token, and n demo calls loaded directly."""
    engine = stores.engine_of(store)
    with db.writing(engine) as conn:
        account = auth.create_account(conn, "Load", TZ)
        user = auth.create_user(conn, account, "load", "load-password-123", list(auth.PERMISSIONS))
        token, _ = auth.issue(conn, user, "token", None)
    t0 = time.perf_counter()
    load_records(engine, account, generate_calls(n, seed=1, start=START, days=DAYS, tz=TZ), n, "calls")
    print(f"[{store.backend}] loaded {n:,} calls in {time.perf_counter() - t0:.0f} s", flush=True)
    if store.backend == "postgresql":
        stores.analyze(store)  # fresh planner statistics, as after any bulk load
    return engine, account, {"userId": user, "token": token}


Procs = tuple[common.Proc, common.Proc | None, str]


def start_processes(store: Store, extra_worker: bool, more_env: list[str]) -> Procs:
    """`callreport serve` (embedded worker) and maybe one `callreport worker`; (serve, worker, base URL)."""
    env = {"CALLREPORT_WORKER_POLL_SECONDS": "0.2", "CALLREPORT_EMBEDDED_WORKER": "true"}
    env["CALLREPORT_RATE_LIMIT_PER_MINUTE"] = str(10**9)  # every client is one user at one address
    env.update(item.split("=", 1) for item in more_env)
    port = free_port()
    serve = common.spawn(store, ["serve", "--host", "127.0.0.1", "--port", str(port)], "server", **env)
    base, worker = f"http://127.0.0.1:{port}", None
    try:
        ready = lambda: httpx.get(base + "/healthz", timeout=2).json()["status"] == "ok"  # noqa: E731
        common.wait_for("server", ready, serve, 90)
        if extra_worker:
            worker = common.spawn(store, ["worker"], "worker", **env, CALLREPORT_LOG_LEVEL="INFO")
            common.wait_for("worker", lambda: " started" in worker.log_tail(100_000), worker, 60)
    except BaseException:
        for proc in (worker, serve):
            if proc:
                proc.stop()
        raise
    return serve, worker, base


def drive(base: str, creds: dict, args: argparse.Namespace, serve: common.Proc) -> dict:
    """The load itself: clients and the ingester until the deadline; stats and memory at the marks."""
    stats, t0 = Stats(), time.monotonic()
    deadline, slots = t0 + args.seconds, threading.BoundedSemaphore(args.exports)
    jobs = [(ingest_loop, (base, stats, creds, deadline))]
    jobs += [(client_loop, (base, stats, creds, i, (deadline, deadline + GRACE), slots)) for i in range(args.clients)]
    jobs += [(hostile_loop, (base, stats, deadline)) for _ in range(args.hostile)]
    threads = [threading.Thread(target=fn, args=a, daemon=True) for fn, a in jobs]  # daemons: never block the exit
    r = {"mem_start": tree_memory(serve.pid), "cpu": serve.cpu(), "client_cpu": _own_cpu(), "samples": []}
    for t in threads:
        t.start()
    # Memory every second from the end of the warm-up: a plateau or a steady climb.
    for mark in range(int(args.warmup), int(args.seconds)):
        time.sleep(max(0.0, t0 + mark - time.monotonic()))
        r["samples"].append((mark, tree_memory(serve.pid)))
    for t in threads:
        t.join(max(1.0, deadline + GRACE + 150 - time.monotonic()))  # each request is bounded by its timeout
    r["elapsed"], r["mem_after"] = time.monotonic() - t0, tree_memory(serve.pid)
    r["cpu"], r["client_cpu"] = serve.cpu() - r["cpu"], _own_cpu() - r["client_cpu"]
    return {**r, "stuck": sum(t.is_alive() for t in threads), "stats": stats}


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def log_problems(*procs: common.Proc | None) -> list[str]:
    """Warning, error and traceback lines of the processes' logs (the first 20)."""
    lines, marks = [], (" WARNING ", " ERROR ", "Error", "locked")
    for proc in filter(None, procs):
        text = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
        who = proc.log_path.stem.split("-")[0]
        lines += [f"{who}: {line[:300]}" for line in text.splitlines() if any(m in line for m in marks)]
    return lines[:20]


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    """Load data into a fresh store, start the processes, drive the load, check the counts."""
    with stores.open_store(backend) as store:
        engine, account, creds = prepare(store, args.calls)
        try:
            serve, worker, base = start_processes(store, not args.no_extra_worker, args.server_env)
            try:
                before = counts(base, creds, engine, account)
                print(f"[{backend}] {args.clients} clients + ingest for {args.seconds:.0f} s ...", flush=True)
                load_before = common.load_note()
                r = drive(base, creds, args, serve)
                r["load"] = (load_before, common.load_note())
                r["worker_mem"] = common.proc_memory(worker.pid).get("VmRSS", 0) if worker else None
                r["before"], r["after"] = before, counts(base, creds, engine, account)
                r["peak"], r["problems"] = serve.sampler.peak, log_problems(serve, worker)
            finally:
                for proc in (worker, serve):
                    if proc:
                        proc.stop()
        finally:
            engine.dispose()
    return r


def endpoint_rows(r: dict) -> list[list[str]]:
    """One row per endpoint: requests, per second, p50, p99, errors."""
    s, rows = r["stats"], []
    for label in sorted(set(s.lat) | set(s.errors)):
        lat = s.lat.get(label, [])
        rows.append([label, f"{len(lat):,}", f"{len(lat) / r['elapsed']:.1f}", f"{percentile(lat, 50):.1f}",
                     f"{percentile(lat, 99):.1f}", str(s.errors.get(label, 0))])  # fmt: skip
    return rows


def goal_rows(r: dict) -> list[list[str]]:
    """Errors, the count check and memory growth against the goals, and what explains them."""
    s, b, a = r["stats"], r["before"], r["after"]
    errors, ins, requests = sum(s.errors.values()) + r["stuck"], s.tally["inserted"], sum(map(len, s.lat.values()))
    want = b["rows"] + ins
    exact = a["api"] == a["rows"] == a["distinct"] == want and b["api"] == b["rows"] == b["distinct"]
    (rss0, anon0), (rss1, anon1), (rss2, anon2), (rss3, _) = memory_marks(r)
    growth, secs = rss2 / rss1 - 1, r["elapsed"]
    return [
        ["requests (successful) per second", "-", f"{requests / secs:,.1f} ({requests:,} in {secs:.0f} s)"],
        ["errors (envelopes, HTTP, failed exports, stuck clients)", "0", f"{errors} {verdict(errors == 0)}"],
        ["ingested", "-", f"{ins:,} calls in {ins // BATCH:,} batches ({ins / secs:,.0f} calls/s; "
                          f"{s.tally['updated']} updated, {s.tally['failed batches']} failed batches)"],
        ["calls before: reportCount / SQL rows / distinct callIds", "-",
         f"{b['api']:,} / {b['rows']:,} / {b['distinct']:,}"],
        ["calls after: reportCount / SQL rows / distinct callIds", f"{want:,}",
         f"{a['api']:,} / {a['rows']:,} / {a['distinct']:,} {verdict(exact)}"],
        ["server VmRSS (RssAnon) MB: start / after warm-up / end of the load / after the exports", "-",
         f"{mb(rss0)} ({mb(anon0)}) / {mb(rss1)} ({mb(anon1)}) / {mb(rss2)} ({mb(anon2)}) / {mb(rss3)}; "
         f"sampled peak {mb(r['peak'])}"],
        ["server memory growth, end of the load against after warm-up: VmRSS (RssAnon)", "< 10%",
         f"{growth:+.1%} ({anon2 / anon1 - 1:+.1%}) {verdict(growth < 0.10)}; from the start {rss2 / rss0 - 1:+.1%}"],
        ["server VmRSS MB each 10 s from the warm-up (mean, min-max of 1 s samples)", "-", timeline(r)],
        ["extra worker VmRSS at the end", "-", f"{mb(r['worker_mem'])} MB" if r["worker_mem"] else "none"],
        ["CPU seconds: server / this client process", "-", f"{r['cpu']:.0f} / {r['client_cpu']:.0f}"],
        ["export rows made / MB downloaded", "-", f"{s.tally['export rows']:,} / {mb(s.tally['download bytes'])}"],
        ["hostile 32 MiB ingests refused / MB sent", "-",
         f"{len(s.lat.get('hostile ingest (refused)', [])):,} / {mb(s.tally['hostile bytes'])}"],
        ["load average (1 / 5 / 15 min) at the start; at the end", "-", f"{r['load'][0]}; {r['load'][1]}"],
    ]  # fmt: skip


def _mean(samples: list[tuple[int, tuple[int, int]]], lo: float, hi: float) -> tuple[float, float]:
    picked = [mem for mark, mem in samples if lo <= mark < hi] or [samples[-1][1]]
    return sum(m[0] for m in picked) / len(picked), sum(m[1] for m in picked) / len(picked)


def memory_marks(r: dict) -> list[tuple[float, float]]:
    """(VmRSS, RssAnon): the raw start; the means of the first and the last 10 s of 1 s samples after
    the warm-up (single samples swing as freed heap goes back to the system); after the exports ended."""
    samples, first = r["samples"], r["samples"][0][0]
    span = min(10, (samples[-1][0] + 1 - first) / 2)
    last = samples[-1][0] + 1
    return [r["mem_start"], _mean(samples, first, first + span), _mean(samples, last - span, last), r["mem_after"]]


def timeline(r: dict) -> str:
    """The 1 s samples by 10 s: mean (min-max) of VmRSS in MB."""
    groups: dict[int, list[int]] = defaultdict(list)
    for mark, (rss, _) in r["samples"]:
        groups[(mark - r["samples"][0][0]) // 10 * 10].append(rss)
    return ", ".join(f"{mb(sum(g) / len(g))} ({mb(min(g))}-{mb(max(g))}) at +{k} s" for k, g in groups.items())


def report(results: dict[str, dict], args: argparse.Namespace, note: str) -> str:
    """The run's figures as Markdown: goals, then latency per endpoint, then error samples."""
    env = f"; server environment {' '.join(args.server_env)}" if args.server_env else ""
    out = [f"# Load test (issue 5)\n\n{time.strftime('%Y-%m-%d %H:%M')}, code {code_version()}; {args.calls:,} "
           f"calls over {DAYS} days loaded first; {args.clients} client threads for {args.seconds:.0f} s (warm-up "
           f"{args.warmup:.0f} s) plus one thread ingesting {BATCH:,} new calls per batch back to back; at most "
           f"{args.exports} exports (one day each) at a time; {args.hostile} hostile clients sending "
           f"unauthenticated 32 MiB ingest bodies back to back; `callreport serve` with its embedded worker"
           f"{'' if args.no_extra_worker else ' and one `callreport worker`'} (poll 0.2 s){env}.\n"
           f"Machine: {note}; the clients run on the same cores.\n"]  # fmt: skip
    for backend, r in results.items():
        out.append(common.table(f"{backend}: goals", ["measure", "goal", "figure"], goal_rows(r)))
        heads = ["endpoint", "ok", "per s", "p50 ms", "p99 ms", "errors"]
        out.append(common.table(f"{backend}: endpoints", heads, endpoint_rows(r)))
        for title, lines in (("errors seen by the clients", r["stats"].samples), ("server log", r["problems"])):
            if lines:
                out.append(f"{backend}, {title} (first {len(lines)}):\n\n" + "\n".join(f"    {x}" for x in lines))
    return "\n".join(out) + "\n"


def code_version() -> str:
    """The git commit of the code measured, with -dirty when the working tree differs from it."""
    git = ["git", "-C", str(HERE), "describe", "--always", "--dirty"]
    try:
        return subprocess.run(git, capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def parse_args() -> argparse.Namespace:
    """Options; --quick is 20 s over 20,000 calls."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--seconds", type=float, help="length of the load (default 120; --quick 20)")
    p.add_argument("--clients", type=int, default=32, help="concurrent client threads (default 32)")
    p.add_argument("--calls", type=int, help="calls loaded before the run (default 200,000; --quick 20,000)")
    p.add_argument("--quick", action="store_true", help="20 s over 20,000 calls")
    p.add_argument("--warmup", type=float, default=10, help="seconds before the memory baseline (at most half the run)")
    p.add_argument("--exports", type=int, default=4, help="exports in flight at most (default 4)")
    p.add_argument("--hostile", type=int, default=0, help="clients sending unauthenticated 32 MiB ingests (issue 8)")
    p.add_argument("--no-extra-worker", action="store_true", help="only the embedded worker makes exports")
    env_help = "extra environment of the server and the worker (repeatable), e.g. MALLOC_ARENA_MAX=2"
    p.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE", help=env_help)
    p.add_argument("--out", type=Path, default=HERE / "RESULTS-load.md")
    # Issue 8: its own scenario (benchmarks/fairness.py), not mixed into the load above.
    noisy_help = "instead: one account floods exports, another's one-row export is timed (prints only)"
    p.add_argument("--noisy-neighbour", action="store_true", help=noisy_help)
    args = p.parse_args()
    args.seconds = args.seconds or (20.0 if args.quick else 120.0)
    args.warmup = min(args.warmup, args.seconds / 2)
    args.calls = args.calls if args.calls is not None else (20_000 if args.quick else 200_000)
    return args


def _time_limit(*_: object) -> None:
    raise TimeoutError("time limit reached")


def main() -> None:
    """Run the load on each backend, print the figures and write them to RESULTS-load.md."""
    args = parse_args()
    common.exit_on_sigterm()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    # A hard stop past every bound (loading, the run, the grace for exports, the stops) that
    # still runs the `finally` blocks, so servers stop and databases are dropped.
    signal.signal(signal.SIGALRM, _time_limit)
    signal.alarm(int(len(backends) * (args.seconds + GRACE + 600 + args.calls / 200)))
    start_load, results = common.load_note(), {}
    if args.noisy_neighbour:
        import fairness

        print(fairness.report({b: fairness.run(b, args, start_processes) for b in backends}, args))
        return
    for backend in backends:
        results[backend] = run_backend(backend, args)
    text = report(results, args, common.machine_note(start_load))
    print("\n" + text)
    args.out.write_text(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
