"""The peers of compare.py (Datasette, pandas, ReportLab platypus) and the stdlib plumbing to drive them.

Run as a script (in benchmarks/.venv-compare, never the service's venv), it is the script people
write: one task in its own process, so its peak memory is its own; it prints one JSON object:

    compare_peers.py csv|xlsx|pdf DB ACCOUNT_ID LO HI TZ OUT [FONT]  ->  {rows, seconds, cpu, peak_kib}

Imported by compare.py, it gives the process and HTTP helpers and the Datasette driver.
Only the standard library is imported at the top, so both sides can load it.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

# The columns of callreport's list and default export, in its order (contract §5 without events).
COLUMNS = (
    "call_id", "start_ts", "end_ts", "duration", "talk_duration", "hold_duration", "wait_time",
    "direction", "call_type", "status", "caller_number", "customer_number", "did_number", "agent_id",
    "agent_name", "campaign", "department", "disposition", "hangup_by", "recording_url", "call_analysis",
)  # fmt: skip
SQL = (
    f"SELECT {', '.join(COLUMNS)} FROM calls WHERE account_id = ? AND start_ts >= ? AND start_ts <= ?"
    " ORDER BY start_ts DESC, call_id DESC"
)

# --- processes and HTTP --------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a process with its output appended to a log file."""
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen | None) -> None:
    """Stop a process we started: SIGTERM, then SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(check, what: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll check() until true; fail if the process died or the time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s")


class Http:
    """One keep-alive HTTP/1.1 connection to a loopback server (stdlib: little client overhead)."""

    def __init__(self, port: int, timeout: float = 600):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: dict | None = None) -> bytes:
        """The whole response body; any status but 200 raises."""
        return self._send(method, path, body).read()

    def sink(self, method: str, path: str, body: dict | None = None) -> tuple[int, int]:
        """Read a (streamed) body to its end in 1 MiB chunks: its bytes and its lines."""
        resp, size, lines = self._send(method, path, body), 0, 0
        while chunk := resp.read(1 << 20):
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
        return size, lines

    def _send(self, method: str, path: str, body: dict | None) -> http.client.HTTPResponse:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path[:80]} -> HTTP {resp.status}: {resp.read()[:200]!r}")
        return resp


def latency(port: int, make, n: int, warmup: int = 10) -> list[float]:
    """Seconds taken by each of n sequential requests from one client (after a warm-up)."""
    client, times = Http(port), []
    for i in range(warmup + n):
        method, path, body = make(i)
        started = time.perf_counter()
        client.request(method, path, body)
        times.append(time.perf_counter() - started)
    return times[warmup:]


def throughput(port: int, make, clients: int, seconds: float) -> tuple[int, float]:
    """Requests completed by `clients` concurrent keep-alive clients in about `seconds`, and the time."""
    done, errors, stop_at = [0] * clients, [], time.perf_counter() + seconds

    def run(k: int) -> None:
        client, i = Http(port), k
        try:
            while time.perf_counter() < stop_at:
                client.request(*make(i))
                done[k] += 1
                i += clients
        except Exception as exc:  # noqa: BLE001 - raised below, in the caller's thread
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(done), time.perf_counter() - started


# --- Datasette -----------------------------------------------------------------------------


class Datasette:
    """Datasette serving the SQLite file immutable (read-only, the same indexes), from the peers' venv."""

    def __init__(self, venv: Path, db: Path, account_id: str, log: Path):
        self.account_id, self.port = account_id, free_port()
        cmd = [
            str(venv / "bin" / "datasette"), "serve", "--immutable", str(db),
            "--host", "127.0.0.1", "--port", str(self.port), "--setting", "sql_time_limit_ms", "10000",
            "--setting", "max_returned_rows", "5000", "--setting", "allow_csv_stream", "on",
            "--setting", "suggest_facets", "off",
        ]  # fmt: skip
        self.proc = start(cmd, {}, log)
        wait_for(lambda: Http(self.port, 5).request("GET", "/-/versions.json"), "datasette", self.proc)
        self.base = f"/{db.stem}/calls"

    def path(self, ext: str, **params) -> str:
        """A table URL with callreport's columns (Datasette adds its primary key)."""
        pairs = [("account_id", self.account_id), *params.items(), *(("_col", c) for c in COLUMNS)]
        return f"{self.base}.{ext}?{urlencode(pairs)}"

    def listing(self, agent: str, lo: int, hi: int, min_duration: int) -> str:
        """The listing; _nocount/_nofacet so it runs only the page query, as callreport's list does."""
        return self.path(
            "json", agent_id=agent, start_ts__gte=lo, start_ts__lte=hi, duration__gte=min_duration,
            _sort_desc="start_ts", _size=50, _nocount=1, _nofacet=1,
        )  # fmt: skip

    def csv(self, lo: int, hi: int) -> tuple[int, float, float, int]:
        """The rows as Datasette's streamed CSV, read to the end: rows, seconds, CPU s, peak KiB."""
        path = self.path("csv", start_ts__gte=lo, start_ts__lte=hi, _sort_desc="start_ts", _stream="on", _size="max")
        started, cpu = time.perf_counter(), cpu_seconds(self.proc.pid)
        _, lines = Http(self.port).sink("GET", path)
        seconds, cpu = time.perf_counter() - started, cpu_seconds(self.proc.pid) - cpu
        return lines - 1, seconds, cpu, peak_kib(self.proc.pid)

    def close(self) -> None:
        """Stop the server."""
        stop(self.proc)


def peer_task(venv: Path, task: str, args: list[str], timeout: float) -> tuple[int, float, float, int]:
    """Run one pandas or LongTable script in its own process: rows, seconds, CPU s, peak KiB."""
    cmd = [str(venv / "bin" / "python"), __file__, task, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 1), check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{task} peer failed: {done.stderr.strip()[-300:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    return got["rows"], got["seconds"], got["cpu"], got["peak_kib"]


# --- the scripts people write --------------------------------------------------------------


def connect(db: str) -> sqlite3.Connection:
    """A read-only connection to the benchmark's SQLite file."""
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True)


def frame(db: str, params: tuple, tz: str, naive: bool):
    """pd.read_sql of the rows, times turned into the account's local time (naive for Excel)."""
    import pandas as pd

    with connect(db) as con:
        df = pd.read_sql(SQL, con, params=params)
    for col in ("start_ts", "end_ts"):
        local = pd.to_datetime(df[col], unit="s", utc=True).dt.tz_convert(tz)
        # Excel cells cannot hold a UTC offset: pandas refuses aware datetimes there.
        df[col] = local.dt.tz_localize(None) if naive else local
    return df


def pandas_csv(db: str, params: tuple, tz: str, out: str, _font: str | None) -> int:
    """read_sql then to_csv: the usual one-off export script."""
    df = frame(db, params, tz, naive=False)
    df.to_csv(out, index=False)
    return len(df)


def pandas_xlsx(db: str, params: tuple, tz: str, out: str, _font: str | None) -> int:
    """read_sql then DataFrame.to_excel with its default engine (openpyxl)."""
    df = frame(db, params, tz, naive=True)
    df.to_excel(out, index=False)
    return len(df)


def longtable_pdf(db: str, params: tuple, tz: str, out: str, font: str | None) -> int:
    """A platypus LongTable of the rows on A4 landscape, header repeated on every page."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, TableStyle

    face = "Helvetica"
    if font:  # the TrueType face callreport embeds, so both draw every script the same way
        pdfmetrics.registerFont(TTFont("Body", font))
        face = "Body"
    zone, data = ZoneInfo(tz), [list(COLUMNS)]
    with connect(db) as con:
        for row in con.execute(SQL, params):
            cells = ["" if v is None else str(v) for v in row]
            for i in (1, 2):
                cells[i] = datetime.fromtimestamp(row[i], zone).strftime("%Y-%m-%d %H:%M:%S")
            data.append(cells)
    page_w, _ = landscape(A4)
    # Fixed widths: letting LongTable measure every cell to size the columns is slower still.
    table = LongTable(data, colWidths=[(page_w - 32) / len(COLUMNS)] * len(COLUMNS), repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), face, 5.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f2f2f2")]),
    ]))  # fmt: skip
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=16, rightMargin=16, topMargin=16)
    doc.build([Paragraph("Call report", getSampleStyleSheet()["Title"]), table])
    return len(data) - 1


TASKS = {"csv": pandas_csv, "xlsx": pandas_xlsx, "pdf": longtable_pdf}


def main(argv: list[str]) -> None:
    """Run one task and print {rows, seconds, cpu, peak_kib} as JSON."""
    task, db, account, lo, hi, tz, out = argv[:7]
    font = argv[7] if len(argv) > 7 else None
    started, cpu = time.perf_counter(), time.process_time()
    rows = TASKS[task](db, (account, int(lo), int(hi)), tz, out, font)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu, "peak_kib": peak}))


if __name__ == "__main__":
    main(sys.argv[1:])
