"""run_export(job): the one place that joins query -> writer -> temporary file -> storage."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from callreport import filters
from callreport.export.columns import resolve_columns, row_reader
from callreport.export.formats import ABSENT, FORMATS, Format
from callreport.export.meta import ReportMeta
from callreport.principal import Principal
from callreport.repo import accounts as accounts_repo
from callreport.repo import calls as calls_repo
from callreport.repo import leases
from callreport.settings import Settings
from callreport.storage import StorageError

log = logging.getLogger("callreport.export")
HEARTBEAT_SECONDS = 1.0


class TooLarge(Exception):
    """The export is larger than its format allows; the message says why, safe to show."""


class Stopped(Exception):
    """The job is no longer ours (cancelled or taken over) or the worker is shutting down."""


def job_principal(job: Row) -> Principal:
    """The request's creator as they were when they made it: the worker acts under them."""
    p = job.params
    if "principal" in p:
        # The row's own columns name the account and the creator, whatever the JSON says.
        snap = Principal.from_snapshot(p["principal"])
        return dataclasses.replace(snap, account_id=job.account_id, user_id=job.created_by)
    # A request made before the snapshot was stored: what its params and columns hold.
    agents = p["agents"] if "agents" in p else job.agent_scope
    return Principal(
        account_id=job.account_id,
        account_name="",
        account_tz=p["timezone"],
        user_id=job.created_by,
        permissions=frozenset() if job.masked else frozenset({"VIEW_NUMBER"}),
        agents=tuple(agents) if agents is not None else None,
    )


def job_scope(job: Row) -> tuple[Principal, filters.Resolved, bool]:
    """The creator's principal, the filter as resolved at request time, and whether to mask numbers."""
    p = job.params
    principal = job_principal(job)
    f = filters.CallFilter.model_validate({**p["filter"], "startDate": None, "endDate": None})
    r = filters.Resolved(f, ZoneInfo(p["timezone"]), p.get("start_ts"), p.get("end_ts"))
    return principal, r, bool(p["masked"])


def report_meta(conn: sa.Connection, job: Row, principal: Principal, r: filters.Resolved) -> ReportMeta:
    """Title, filters in words and the summary figures that Excel and PDF show."""
    by_status = calls_repo.summary(conn, principal, r, "status")
    totals = calls_repo.totals_of(by_status)
    per_day = calls_repo.summary(conn, principal, r, "day")
    by_agent = calls_repo.summary(conn, principal, r, "agent")
    return ReportMeta(
        title=job.title,
        account_name=accounts_repo.account_name(conn, principal),
        timezone=r.timezone,
        filters_text=job.params.get("filters_text", []),
        generated_at=datetime.now(r.tz),
        totals={
            "calls": totals["calls"],
            "answered": totals["answered"],
            "missed": totals["calls"] - totals["answered"],
            "talk_seconds": totals["total_talk"],
        },
        per_day=[(g["key"], int(g["answered"]), int(g["calls"] - g["answered"])) for g in per_day],
        by_status=[(g["key"], int(g["calls"])) for g in by_status],
        by_agent=[
            (g["key"], g["label"], int(g["calls"]), int(g["answered"]), int(g["answered_talk"])) for g in by_agent
        ],
    )


def _check_size(fmt: Format, total: int, settings: Settings) -> None:
    """TooLarge when more calls match than one file of the format may hold."""
    if fmt.max_rows_setting is None:
        return
    most = getattr(settings, fmt.max_rows_setting)
    if total > most:
        raise TooLarge(
            f"{total} calls match; a {fmt.name.upper()} holds at most {most} "
            f"(CALLREPORT_{fmt.max_rows_setting.upper()}): narrow the filters or export CSV or Excel"
        )


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return path.stat().st_size, h.hexdigest()


def _reading(engine: Engine) -> sa.Connection:
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        # One snapshot for the count, the summary and the rows, so they agree.
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def run_export(
    engine: Engine,
    storage,
    settings: Settings,
    job: Row,
    worker: str,
    stopping: Callable[[], bool] = lambda: False,
) -> str:
    """Make the job's file and store it; returns the outcome: done, failed, cancelled or released."""
    principal, r, masked = job_scope(job)
    fmt = FORMATS[job.format]
    columns = resolve_columns(job.params["columns"])
    key = f"{job.account_id}/{job.id}-{job.attempts}.{fmt.extension}"
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="callreport-") as tmp, _reading(engine) as conn, conn.begin():
        total = calls_repo.count(conn, principal, r)
        _check_size(fmt, total, settings)
        progress = _heartbeat(engine, settings, job, worker, total, stopping, started)
        fields = [c.name for c in calls_repo.ROW_COLUMNS]
        absent = ABSENT if fmt.marks_absent else None
        reader = row_reader(columns, fields, r.tz, masked, iso_times=fmt.iso_times, absent=absent)
        rows = map(reader, calls_repo.stream(conn, principal, r))
        path = Path(tmp) / f"export.{fmt.extension}"
        count = fmt.write(columns, rows, path, lambda: report_meta(conn, job, principal, r), progress)
        size, sha = _digest(path)
        _store(storage, key, path)
    if not leases.finish(
        engine,
        job.id,
        worker,
        key=key,
        size=size,
        sha256=sha,
        rows=count,
        retention_days=settings.export_retention_days,
    ):
        storage.delete(key)  # cancelled while uploading: leave no file behind
        return "cancelled"
    log.info("export %s done: %s rows, %s bytes", job.id, count, size)
    return "done"


def _heartbeat(
    engine: Engine,
    settings: Settings,
    job: Row,
    worker: str,
    total: int,
    stopping: Callable[[], bool],
    started: float,
) -> Callable[[int], None]:
    """The writers' progress callback: stops when asked, extends the lease every HEARTBEAT_SECONDS."""
    last_beat = [started]

    def progress(done: int) -> None:
        if stopping():
            raise Stopped("worker stopping")
        if time.monotonic() - last_beat[0] >= HEARTBEAT_SECONDS:
            last_beat[0] = time.monotonic()
            pct = min(99, done * 100 // total) if total else 99
            if not leases.heartbeat(engine, job.id, worker, settings.job_lease_seconds, pct, done):
                raise Stopped("job cancelled or taken over")

    return progress


def _store(storage, key: str, path: Path) -> None:
    """Put the file in storage; on any failure, leave nothing of it there."""
    try:
        storage.put_file(key, path)
    except BaseException:
        # A store may keep part of a failed upload (or all of it when only its answer was
        # lost); a failed job must leave no file behind.
        with contextlib.suppress(Exception):
            storage.delete(key)
        raise


def failure_reason(exc: BaseException) -> str:
    """Why a job failed, in words safe to show its owner (no paths, no secrets)."""
    if isinstance(exc, TooLarge):
        return str(exc)
    if isinstance(exc, StorageError):
        # An S3 error names the endpoint's URL; the owner needs the cause, not the address.
        return "storage unavailable: " + re.sub(r'[a-z][a-z0-9+.-]*://[^\s"]*', "<storage>", str(exc))
    if isinstance(exc, sa.exc.DBAPIError):
        return "database error while reading the calls"
    if isinstance(exc, OSError):
        return f"could not write the file ({os.strerror(exc.errno) if exc.errno else exc.__class__.__name__})"
    return f"internal error ({exc.__class__.__name__}); see the worker's log"
