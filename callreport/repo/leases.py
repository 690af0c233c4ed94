"""All SQL of the worker's side of export requests: claim with a lease, heartbeat, finish, fail, release, expire.

A worker acts as the worker: every transition after the claim is conditional on it still holding
the lease, so a worker that lost its job (cancelled, or taken over after its lease ran out) can
never overwrite the outcome of another.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, Row

from callreport import db
from callreport.jobs import MAX_ATTEMPTS, lapsed
from callreport.models import export_requests as jobs


def _fair_order(now: float) -> list[Any]:
    """Accounts take turns: fewest jobs running first, then the one served longest ago, then the oldest job."""
    peer = jobs.alias("peer")
    mates = peer.c.account_id == jobs.c.account_id
    running = sa.select(sa.func.count()).where(mates, peer.c.state == "running", peer.c.lease_expires_at >= now)
    # With one worker nothing else is ever running, so the last claim is what makes turns.
    served = sa.select(sa.func.coalesce(sa.func.max(peer.c.claimed_at), 0.0)).where(mates)
    return [running.scalar_subquery(), served.scalar_subquery(), jobs.c.created_at, jobs.c.id]


def claim(engine: Engine, worker: str, lease_seconds: float) -> Row | None:
    """Take the next job, fairly between accounts (a pending one, or a running one whose lease ran out)."""
    now = time.time()
    claimable = sa.or_(
        jobs.c.state == "pending",
        sa.and_(jobs.c.state == "running", jobs.c.lease_expires_at < now),
    )
    pick = sa.select(jobs.c.id, jobs.c.attempts).where(claimable).order_by(*_fair_order(now)).limit(1)
    with db.writing(engine) as conn:
        if db.is_postgres(conn):
            pick = pick.with_for_update(skip_locked=True)
        row = conn.execute(pick).first()
        if row is None:
            return None
        if row.attempts >= MAX_ATTEMPTS:
            conn.execute(
                jobs.update()
                .where(jobs.c.id == row.id)
                .values(
                    state="failed",
                    finished_at=int(now),
                    lease_owner=None,
                    error=f"the job stopped its worker {row.attempts} times; not retried",
                )
            )
            return None
        conn.execute(
            jobs.update()
            .where(jobs.c.id == row.id)
            .values(
                state="running",
                lease_owner=worker,
                lease_expires_at=now + lease_seconds,
                claimed_at=now,
                attempts=jobs.c.attempts + 1,
                started_at=sa.func.coalesce(jobs.c.started_at, int(now)),
                progress=0,
                row_count=0,
            )
        )
        return conn.execute(sa.select(jobs).where(jobs.c.id == row.id)).first()


def _mine(job_id: str, worker: str) -> list[Any]:
    return [jobs.c.id == job_id, jobs.c.state == "running", jobs.c.lease_owner == worker]


def _if_mine(engine: Engine, job_id: str, worker: str, **values: Any) -> bool:
    """Update the job only while this worker holds it; whether it did."""
    with db.writing(engine) as conn:
        result = conn.execute(jobs.update().where(*_mine(job_id, worker)).values(**values))
    return result.rowcount == 1


def heartbeat(engine: Engine, job_id: str, worker: str, lease_seconds: float, progress: int, rows: int) -> bool:
    """Extend the lease and record progress; False when the job is no longer this worker's."""
    return _if_mine(
        engine, job_id, worker, lease_expires_at=time.time() + lease_seconds, progress=progress, row_count=rows
    )


def finish(
    engine: Engine, job_id: str, worker: str, *, key: str, size: int, sha256: str, rows: int, retention_days: float
) -> bool:
    """Mark the job done with its file; False when it was cancelled or taken over meanwhile."""
    now = int(time.time())
    return _if_mine(
        engine,
        job_id,
        worker,
        state="done",
        progress=100,
        row_count=rows,
        file_size=size,
        sha256=sha256,
        storage_key=key,
        finished_at=now,
        expires_at=now + int(retention_days * 86400),
        lease_owner=None,
        lease_expires_at=None,
        error=None,
    )


def fail(engine: Engine, job_id: str, worker: str, reason: str) -> bool:
    """Mark the job failed with the reason; False when it was no longer this worker's."""
    return _if_mine(
        engine,
        job_id,
        worker,
        state="failed",
        error=reason[:1000],
        finished_at=int(time.time()),
        lease_owner=None,
        lease_expires_at=None,
    )


def release(engine: Engine, worker: str) -> int:
    """Hand the worker's running jobs back (pending) so another worker takes them at once."""
    with db.writing(engine) as conn:
        result = conn.execute(
            jobs.update()
            .where(jobs.c.state == "running", jobs.c.lease_owner == worker)
            .values(
                state="pending",
                lease_owner=None,
                lease_expires_at=None,
                progress=0,
                row_count=0,
                attempts=sa.func.max(jobs.c.attempts - 1, 0)
                if engine.dialect.name == "sqlite"
                else sa.func.greatest(jobs.c.attempts - 1, 0),
            )
        )
    return result.rowcount


def expired(engine: Engine, now: float | None = None, limit: int = 100) -> list[Row]:
    """Done jobs whose retention has ended."""
    now = time.time() if now is None else now
    with engine.connect() as conn:
        return list(conn.execute(sa.select(jobs.c.id, jobs.c.storage_key).where(lapsed(now)).limit(limit)))


def mark_expired(engine: Engine, job_id: str) -> None:
    """Record that a done job's file was deleted at the end of its retention."""
    with db.writing(engine) as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id, jobs.c.state == "done").values(state="expired"))
