"""`serve` and `worker`: migrate once, then the API processes and supervised export worker processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from callreport import db, metrics
from callreport.settings import Settings

log = logging.getLogger("callreport.supervisor")
FIRST_DELAY = 1.0  # seconds before restarting a worker that died; doubled at each death in a row
MAX_DELAY = 30.0
STEADY_SECONDS = 60.0  # a worker that lived this long died on its own, not in a start-up loop
STOP_SECONDS = 30.0  # how long a worker may take to hand its job back after SIGTERM
WATCH_SECONDS = 0.5


def setup(settings: Settings) -> None:
    """Logging for this process, to stderr (worker processes inherit it, so their lines go there too)."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")


def migrate_once(settings: Settings) -> None:
    """Create or upgrade the schema before any process that uses it starts."""
    engine = db.make_engine(settings.resolved_database_url())
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    log.info("database migrated")


class _Stopping(Exception):
    """SIGTERM or SIGINT reached `serve`: leave uvicorn.run and stop the worker processes."""


def _stop_on_signal(sig: int, frame: Any) -> None:
    raise _Stopping(sig)


def serve(host: str, port: int, workers: int, export_workers: int) -> None:
    """Migrate, start the export worker processes, run the API until SIGTERM, then stop them all."""
    import uvicorn

    settings = Settings()
    setup(settings)
    migrate_once(settings)
    metrics.prepare_processes(workers, settings.metrics)
    pool = WorkerPool(export_workers if settings.embedded_worker else 0)
    # uvicorn restores these handlers when it has shut down, then raises the signal it received
    # again: it reaches _stop_on_signal, so the workers are stopped before `serve` exits.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_on_signal)
    try:
        pool.start()
        uvicorn.run(
            "callreport.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=False,
            server_header=False,  # §1: no Server header naming the implementation
        )
    except _Stopping:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the workers' hand-back short
        pool.stop()


def run_worker(once: bool, supervised: bool) -> None:
    """One export worker in this process; started by `serve` (supervised) it neither migrates nor outlives it."""
    from callreport.storage import from_url
    from callreport.worker import Worker

    settings = Settings()
    setup(settings)
    if not supervised:
        migrate_once(settings)
    engine = db.make_engine(settings.resolved_database_url())
    storage = from_url(settings.resolved_storage_url(), settings.s3_endpoint_url)
    worker = Worker(engine, storage, settings, name="worker")
    if supervised:
        worker.stop_when_orphaned(os.getppid())
    worker.run_forever(once=once)


def worker_command() -> list[str]:
    """The command of a supervised worker: this interpreter, so the same environment and code."""
    return [sys.executable, "-m", "callreport", "worker", "--supervised"]


class WorkerPool:
    """K `callreport worker` processes, each restarted with a back-off when it dies, stopped by SIGTERM."""

    def __init__(self, size: int, command: list[str] | None = None) -> None:
        self.size = size
        self.command = command or worker_command()
        self.procs: list[subprocess.Popen | None] = [None] * size
        self._delay = [0.0] * size  # the last back-off of each slot
        self._due = [0.0] * size  # when a dead slot's worker is started again
        self._started = [0.0] * size
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the watcher and stop() never start and stop at once
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start every worker, and a thread that restarts any that dies (it renders nothing)."""
        if not self.size:
            log.info("no export worker: CALLREPORT_EMBEDDED_WORKER is false")
            return
        for slot in range(self.size):
            self._spawn(slot)
        self._watcher = threading.Thread(target=self._watch, name="export-worker-supervisor", daemon=True)
        self._watcher.start()

    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM every worker (each hands its job back), wait for them, kill any that hangs."""
        self._stopping.set()
        with self._lock:
            alive = [p for p in self.procs if p is not None and p.poll() is None]
            for proc in alive:
                proc.terminate()
            deadline = time.monotonic() + timeout
            for proc in alive:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log.warning("export worker %s did not stop in %.0f s; killed", proc.pid, timeout)
                    proc.kill()
                    proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout)

    def _spawn(self, slot: int) -> None:
        # stdout and stderr are inherited: the worker's log lines go where serve's go.
        proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL)
        self.procs[slot] = proc
        self._started[slot] = time.monotonic()
        log.info("export worker process %s started", proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot in range(self.size):
                    self._check(slot)

    def _check(self, slot: int) -> None:
        """Note a worker that died and when to restart it; restart it once its back-off has passed."""
        proc, now = self.procs[slot], time.monotonic()
        if proc is not None and proc.poll() is not None:
            lived = now - self._started[slot]
            delay = FIRST_DELAY if lived >= STEADY_SECONDS else min(MAX_DELAY, max(FIRST_DELAY, self._delay[slot] * 2))
            self._delay[slot], self._due[slot], self.procs[slot] = delay, now + delay, None
            log.warning(
                "export worker process %s exited with %s; restarting in %.1f s", proc.pid, proc.returncode, delay
            )
        elif proc is None and now >= self._due[slot]:
            self._spawn(slot)
