"""Issue 10: the web console over 1,000,000 calls: the server's time per calls page, and a first visit's asset bytes.

The time is the server's own (the `Server-Timing: app;dur=` header of each console response: from the
request reaching the app to the response starting); the client's wall time is printed beside it.
The page comes without its count; the count fragment (/calls-count, fetched by htmx once the page has
loaded) is measured on its own line for each page. The first /calls after the server starts reads the
pick-lists (kept a minute) and is reported as "first load".

    .venv/bin/python benchmarks/bench_console.py                         # 1,000,000 calls on SQLite
    .venv/bin/python benchmarks/bench_console.py --calls 100000 --backend postgresql
    .venv/bin/python benchmarks/bench_console.py --data-dir /tmp/crcon   # keep the data to run again
    .venv/bin/python benchmarks/bench_console.py --quick                 # fewer repetitions (~2 minutes once loaded)
"""

from __future__ import annotations

import argparse
import re
import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path

import common
import httpx
import ingesting
import stores
from common import percentile, verdict

from callreport.demo import generate_calls, write_jsonl

TZ = "Asia/Kolkata"
START = datetime(2025, 1, 1)
PAGE_GOAL_MS, ASSET_GOAL = 50.0, 300_000
MONTH = "startDate=2025-06-01&endDate=2025-06-30"
PAGES = {  # name -> path of a calls page
    "calls, no filter (every call, newest first)": "/calls",
    "calls, one month": f"/calls?{MONTH}",
    "calls, month + 2 agents + minDuration 60": f"/calls?{MONTH}&agentIds=AG-101&agentIds=AG-201&minDuration=60",
    "calls, month sorted by duration": f"/calls?{MONTH}&sortBy=duration",
    "calls, callAnalysis sentiment eq negative": (
        f"/calls?{MONTH}&callAnalysis.field=sentiment&callAnalysis.op=eq&callAnalysis.value=negative"
    ),
}
ASSET = re.compile(r'(?:src|href)="(/console/static/[^"]+)"')
COUNT_URL = re.compile(r'hx-get="(/calls-count\?[^"]*)" hx-trigger="load"')
HTMX = {"HX-Request": "true"}
STATIC = "/console/static"
# A face's file and the first range of its unicode-range (the script's own block).
FACE = re.compile(r'url\("([^"]+)"\) format\("woff2"\);[^}]*?unicode-range: U\+([0-9A-F]+)-([0-9A-F]+)')


def load(store: stores.Store, calls: int) -> tuple[str, int]:
    """An account holding `calls` calls (reused when the store already has one); (accountId, seconds)."""
    account, have = stores.busiest_account(store)
    if account and have >= calls:
        stores.analyze(store)  # a load cut short may not have reached its ANALYZE
        return account, 0
    tenant = stores.make_tenant(store, timezone=TZ)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calls.jsonl"
        print(f"  writing {calls:,} demo calls ...", flush=True)
        write_jsonl(generate_calls(calls, seed=10, start=START, days=365, tz=TZ, id_prefix="CON"), path)
        print("  callreport ingest ...", flush=True)
        _, seconds, _, _ = ingesting.cli_ingest(store, tenant, path, timeout=3600)
    stores.analyze(store)
    return tenant.account_id, int(seconds)


def console_user(store: stores.Store, account: str) -> tuple[str, str]:
    """A reader (LIST_CALL_LOG, VIEW_NUMBER) with a password, for the sign-in form."""
    username, password = f"reader-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    perms = ["--permission", "LIST_CALL_LOG", "--permission", "VIEW_NUMBER"]
    stores.cli(store, "user", "create", "--account", account, "--username", username, "--password", password, *perms)
    return username, password


def sign_in(base: str, username: str, password: str) -> httpx.Client:
    """A client holding the console's session cookie."""
    client = httpx.Client(base_url=base, timeout=60)
    resp = client.post("/login", data={"username": username, "password": password}, headers={"Origin": base})
    if resp.status_code != 303 or "callreport_session" not in client.cookies:
        raise RuntimeError(f"sign-in failed: {resp.status_code} {resp.text[:300]}")
    return client


def timed(client: httpx.Client, path: str, headers: dict | None = None) -> tuple[float, float, str]:
    """(server ms, client ms, body) of one GET."""
    t0 = time.perf_counter()
    resp = client.get(path, headers=headers)
    wall = (time.perf_counter() - t0) * 1000
    if resp.status_code != 200:
        raise RuntimeError(f"{path}: {resp.status_code}")
    server = float(resp.headers["server-timing"].split("dur=")[1])
    return server, wall, resp.text


def repeat(client: httpx.Client, path: str, reps: int, budget: float, headers: dict | None = None) -> dict:
    """Server and client times of `reps` GETs of path (fewer if the budget runs out), after 3 warm-ups."""
    for _ in range(3):
        timed(client, path, headers)
    server, wall, deadline, body = [], [], time.monotonic() + budget, ""
    while len(server) < reps and time.monotonic() < deadline:
        s, w, body = timed(client, path, headers)
        server.append(s)
        wall.append(w)
    return {"server": server, "wall": wall, "body": body}


def page_bench(client: httpx.Client, reps: int, budget: float, count_reps: int) -> dict[str, dict]:
    """p50/p99 of the server's time per page and per count fragment, and the first (cold) load of /calls."""
    cold = timed(client, "/calls")[0]  # the first page after start reads the pick-lists
    first = timed(client, PAGES["calls, one month"])[2]
    nxt = re.search(r'href="/calls\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    pages = {**PAGES, "calls, one month, page 2 by cursor": "/calls?" + nxt}
    out: dict[str, dict] = {"cold": {"server": [cold], "wall": [cold], "count": "-"}}
    for name, path in pages.items():
        page = repeat(client, path, reps, budget)
        url = COUNT_URL.search(page["body"]).group(1).replace("&amp;", "&")
        count = repeat(client, url, count_reps, budget, HTMX)
        n = count["body"].strip().split()[0]
        out[name] = {**page, "count": n}
        out[f"{name} / count"] = {**count, "count": n, "fragment": True}
    return out


def asset_bytes(client: httpx.Client, base: str) -> tuple[int, int, dict[str, int]]:
    """(first visit: sign-in page then calls page; every page's assets; size of each asset).

    Fonts count where a browser without them fetches them: the Devanagari (or Arabic) face on a page
    showing one of its characters (the demo's agent names in the Agents pick-list do).
    """
    anonymous = httpx.get(base + "/login")
    calls = client.get("/calls").text
    first = set(ASSET.findall(anonymous.text)) | set(ASSET.findall(calls))
    every = set(first)
    for path in ["/summary", "/exports", "/calls/none"]:
        every |= set(ASSET.findall(client.get(path).text))
    css = client.get(f"{STATIC}/console.css").text
    for url, lo, hi in FACE.findall(css):
        font = f"{STATIC}/{url}"
        every.add(font)
        if any(int(lo, 16) <= ord(c) <= int(hi, 16) for c in anonymous.text + calls):
            first.add(font)
    sizes = {a: len(client.get(a).content) for a in sorted(every)}
    html = len(anonymous.content) + len(calls.encode())
    return html + sum(sizes[a] for a in first), sum(sizes.values()), sizes


def report(results: dict, assets: tuple[int, int, dict[str, int]], args: argparse.Namespace, note: str) -> str:
    """The figures as a table."""
    rows = []
    for name, r in results["pages"].items():
        s, w = r["server"], r["wall"]
        if name == "cold":
            label, goal, ok = "calls, first load after start (pick-lists read)", "-", ""
        elif r.get("fragment"):
            label, goal, ok = f"  its count fragment ({r['count']} calls)", "-", ""
        else:
            label, goal = f"{name} (page)", f"p50 < {PAGE_GOAL_MS:.0f} ms"
            ok = " " + verdict(percentile(s, 50) < PAGE_GOAL_MS)
        rows.append([label, goal, f"{percentile(s, 50):.1f} / {percentile(s, 99):.1f} ms (n={len(s)}){ok}",
                     f"{percentile(w, 50):.1f} ms"])  # fmt: skip
    first, every, sizes = assets
    rows.append(["first visit (sign-in + calls page, HTML included)", "< 300 KB",
                 f"{first / 1000:.1f} KB {verdict(first < ASSET_GOAL)}", "-"])  # fmt: skip
    rows.append(["every page's assets, all downloaded once", "< 300 KB",
                 f"{every / 1000:.1f} KB {verdict(every < ASSET_GOAL)}", "-"])  # fmt: skip
    head = f"{args.calls:,} calls on {args.backend}; {note}"
    table = common.table(head, ["measure", "goal", "server p50 / p99", "client p50"], rows)
    return table + "\n" + "\n".join(f"  {a}: {n:,} bytes" for a, n in sizes.items())


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=1_000_000)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--data-dir", help="keep (or reuse) the data in this folder")
    p.add_argument("--database-url", help="PostgreSQL database to use (kept)")
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--count-reps", type=int, default=30, help="repetitions of each count fragment")
    p.add_argument("--budget", type=float, default=30.0, help="seconds at most per page")
    p.add_argument("--quick", action="store_true", help="50 pages and 10 counts each, 10 s at most per measure")
    args = p.parse_args()
    if args.quick:
        args.reps, args.count_reps, args.budget = 50, 10, 10.0
    return args


def main() -> None:
    """Load, serve, sign in, measure, print."""
    args = parse_args()
    common.exit_on_sigterm()
    start_load = common.load_note()
    with stores.open_store(args.backend, args.data_dir, args.database_url) as store:
        account, seconds = load(store, args.calls)
        if seconds:
            print(f"  loaded in {seconds} s", flush=True)
        username, password = console_user(store, account)
        with common.server(store) as (_proc, base):
            client = sign_in(base, username, password)
            results = {"pages": page_bench(client, args.reps, args.budget, args.count_reps)}
            assets = asset_bytes(client, base)
    print(report(results, assets, args, common.machine_note(start_load)))


if __name__ == "__main__":
    main()
