"""What the benchmark scripts share: server and worker processes, their memory and CPU, percentiles, tables.

Everything runs on loopback (127.0.0.1); every wait is bounded in time; every process and
database a script starts is stopped or dropped by the script itself, on success or failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import orjson

if TYPE_CHECKING:
    from stores import Store

API = "/api/v2/callreport"
CLI = str(Path(sys.executable).with_name("callreport"))  # the venv's console script, beside its python
# A process whose heap (RssAnon) passes this is killed: a runaway query must not take the machine down.
RSS_LIMIT = int(float(os.environ.get("CALLREPORT_BENCH_RSS_LIMIT_MB", "3000")) * 1e6)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS), RssAnon and RssFile of a process in bytes, from /proc/<pid>/status.

    RssFile counts pages of files mapped in, such as SQLite's mmap of the database: the kernel
    can drop them at will, unlike RssAnon (the heap). {} once the process is gone.
    """
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                    name, value, _unit = line.split()
                    out[name[:-1]] = int(value) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return {}
    return out


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc/<pid>/stat; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is field 3, utime and stime fields 14 and 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples RSS every 50 ms, overall and per phase; kills the process if its heap passes the limit."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval, self.killed = pid, interval, False
        self.peak = self.phase_peak = self.anon_peak = self.phase_anon = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            mem = proc_memory(self.pid)
            rss, anon = mem.get("VmRSS", 0), mem.get("RssAnon", 0)
            self.peak, self.phase_peak = max(self.peak, rss), max(self.phase_peak, rss)
            self.anon_peak, self.phase_anon = max(self.anon_peak, anon), max(self.phase_anon, anon)
            if anon > RSS_LIMIT and not self.killed:  # file pages (mmap) are the kernel's to drop
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                print(f"!! process {self.pid} killed: heap {anon / 1e6:.0f} MB over the limit", flush=True)

    def phase(self) -> tuple[int, int]:
        """(peak RSS, peak RssAnon) sampled since the previous call (or the start); starts a new phase."""
        mem = proc_memory(self.pid)
        rss, anon = mem.get("VmRSS", 0), mem.get("RssAnon", 0)
        peaks = max(self.phase_peak, rss), max(self.phase_anon, anon)
        self.phase_peak, self.phase_anon = rss, anon
        return peaks

    def hwm(self) -> int:
        """The kernel's peak RSS (VmHWM) of the process so far, or the sampled peak once it is gone."""
        return proc_memory(self.pid).get("VmHWM", self.peak)

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(2)


@dataclass
class Proc:
    """A callreport process started by a benchmark, its memory sampled while it runs."""

    popen: subprocess.Popen
    log_path: Path
    sampler: RssSampler = field(init=False)
    final_cpu: float | None = None  # CPU seconds used, read just before it was stopped

    def __post_init__(self) -> None:
        self.sampler = RssSampler(self.popen.pid)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def cpu(self) -> float:
        """CPU seconds used so far (or in all, once stopped)."""
        return self.final_cpu if self.final_cpu is not None else proc_cpu(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the process's log, for error messages."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then SIGKILL after `timeout`; the peak RSS (VmHWM) read just before it ended."""
        peak = self.sampler.hwm()
        self.sampler.stop()
        if self.final_cpu is None:
            self.final_cpu = proc_cpu(self.pid) or None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return peak


def spawn(store: Store, args: Sequence[str], log_name: str, **env: str) -> Proc:
    """Start `callreport <args>` with the store's env, its output going to a log in the data folder."""
    log_path = store.data_dir / f"{log_name}-{secrets.token_hex(3)}.log"
    with open(log_path, "wb") as log:
        popen = subprocess.Popen([CLI, *args], env=store.env(**env), stdout=log, stderr=subprocess.STDOUT)
    return Proc(popen, log_path)


def wait_for(what: str, ready: Callable[[], bool], proc: Proc, timeout: float) -> None:
    """Poll `ready()` every 0.1 s until it is true; fail if the process dies or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.popen.returncode}:\n{proc.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if ready():
                return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f} s:\n{proc.log_tail()}")


@contextlib.contextmanager
def server(store: Store, timeout: float = 90) -> Iterator[tuple[Proc, str]]:
    """`callreport serve` on a free loopback port, without embedded worker; (process, base URL)."""
    port = free_port()
    args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = spawn(store, args, "server", CALLREPORT_EMBEDDED_WORKER="false")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("server", lambda: httpx.get(base + "/healthz", timeout=2).json()["status"] == "ok",
                 proc, timeout)  # fmt: skip
        yield proc, base
    finally:
        proc.stop()


def worker(store: Store, timeout: float = 60) -> Proc:
    """A standalone `callreport worker` polling every 0.05 s, returned once its loop has started."""
    env = {"CALLREPORT_WORKER_POLL_SECONDS": "0.05", "CALLREPORT_LOG_LEVEL": "INFO"}
    proc = spawn(store, ["worker"], "worker", **env)
    try:
        wait_for("worker", lambda: " started" in proc.log_tail(100_000), proc, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def call(client: httpx.Client, name: str, body: dict, timeout: float = 60) -> dict:
    """POST one API endpoint; its JSON body, which must be a success."""
    data = orjson.loads(client.post(f"{API}/{name}", content=orjson.dumps(body), timeout=timeout).content)
    if data.get("status") != "success":
        raise RuntimeError(f"{name} failed: {data}")
    return data


def mb(nbytes: float) -> str:
    """Bytes as MB (10^6) with one decimal."""
    return f"{nbytes / 1e6:.1f}"


def verdict(ok: bool) -> str:
    """The mark shown next to a figure that has a goal."""
    return "ok" if ok else "MISSED"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable on a terminal too)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [f"### {title}", "", line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells]) + "\n"


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so `finally` blocks stop servers and drop databases."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def load_note() -> str:
    """The load averages now (1, 5, 15 minutes): other work on the machine skews every figure."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def machine_note(start_load: str) -> str:
    """CPU count and the load at the start and the end of the run."""
    return f"{os.cpu_count()} CPUs; load average {start_load} at the start, {load_note()} at the end"
