"""The export worker: claim a job, run it, record the outcome; sweep expired files when idle."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import Any

from sqlalchemy.engine import Engine

from callreport import db
from callreport.db import is_db_unavailable
from callreport.export.run import Stopped, failure_reason, run_export
from callreport.repo import leases
from callreport.settings import Settings
from callreport.storage import StorageMissing

log = logging.getLogger("callreport.worker")
SWEEP_SECONDS = 60.0
ANALYZE_SECONDS = 3600.0  # ~1 s at 1,000,000 calls, once an hour by an idle worker


class Worker:
    """One export worker: `run_forever()` in its own process, `run_one()` for a single job."""

    def __init__(self, engine: Engine, storage: Any, settings: Settings, name: str = "worker"):
        self.engine = engine
        self.storage = storage
        self.settings = settings
        # Unique across machines and restarts: the lease names its holder. The lease column holds
        # 64 characters (pod names alone reach 63), so the host name gives way, the unique tail stays.
        tail = f":{os.getpid()}:{os.urandom(3).hex()}"
        self.name = f"{name}@{socket.gethostname()}"[: 64 - len(tail)] + tail
        self._stop = threading.Event()
        self._last_sweep = 0.0
        self._last_analyze = -ANALYZE_SECONDS

    def stop_when_orphaned(self, parent: int, every: float = 1.0) -> None:
        """Stop (handing the job back) once `parent` is gone: a killed `serve` leaves no worker behind."""

        def watch() -> None:
            while not self._stop.wait(every):
                if os.getppid() != parent:
                    log.warning("worker %s: its serve process %s is gone; stopping", self.name, parent)
                    self._stop.set()

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()

    def run_forever(self, once: bool = False) -> None:
        """Run in this thread until SIGTERM/SIGINT (or, with once, until no job is waiting)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        log.info("worker %s started", self.name)
        try:
            self._loop(once=once)
        finally:
            self._release()
            log.info("worker %s stopped", self.name)

    def run_one(self) -> str | None:
        """Claim and run one job; its outcome, or None when none was waiting."""
        job = leases.claim(self.engine, self.name, self.settings.job_lease_seconds)
        if job is None:
            return None
        log.info("worker %s runs export %s (%s, attempt %s)", self.name, job.id, job.format, job.attempts)
        try:
            return run_export(self.engine, self.storage, self.settings, job, self.name, self._stop.is_set)
        except Stopped:
            return "released" if self._stop.is_set() else "cancelled"
        except Exception as exc:
            if is_db_unavailable(exc):
                log.warning("export %s: database unavailable; its lease will run out and it is retried", job.id)
                return "interrupted"
            log.exception("export %s failed", job.id)
            leases.fail(self.engine, job.id, self.name, failure_reason(exc))
            return "failed"

    def _loop(self, once: bool = False) -> None:
        while not self._stop.is_set():
            try:
                outcome = self.run_one()
                if outcome is None:
                    if once:
                        return
                    self._sweep()
                    self._stop.wait(self.settings.worker_poll_seconds)
            except Exception as exc:  # the loop never dies: the database may come back
                level = logging.WARNING if is_db_unavailable(exc) else logging.ERROR
                log.log(level, "worker %s: %s", self.name, exc.__class__.__name__, exc_info=level == logging.ERROR)
                self._stop.wait(self.settings.worker_poll_seconds)

    def _sweep(self) -> None:
        """Delete the files of done jobs whose retention has ended; keep SQLite's statistics fresh."""
        if time.monotonic() - self._last_sweep < min(SWEEP_SECONDS, self.settings.worker_poll_seconds * 10):
            return
        self._last_sweep = time.monotonic()
        if self.engine.dialect.name == "sqlite" and time.monotonic() - self._last_analyze > ANALYZE_SECONDS:
            # SQLite, unlike PostgreSQL's autovacuum, never gathers statistics by itself.
            self._last_analyze = time.monotonic()
            db.analyze(self.engine)
        for row in leases.expired(self.engine):
            try:
                if row.storage_key:
                    self.storage.delete(row.storage_key)
            except StorageMissing:
                pass
            leases.mark_expired(self.engine, row.id)
            log.info("export %s expired; its file was deleted", row.id)

    def _release(self) -> None:
        try:
            released = leases.release(self.engine, self.name)
            if released:
                log.info("worker %s handed back %s job(s)", self.name, released)
        except Exception:
            log.warning("worker %s could not hand back its jobs; their leases will run out", self.name)
