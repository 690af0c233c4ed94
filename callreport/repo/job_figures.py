"""The metrics scrape's reads over export requests: counts and sums across every account.

They act as the operator (the /metrics endpoint), not as a principal, and return figures only:
no row of any account leaves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from callreport.models import export_requests as jobs


def by_state(conn: Connection) -> list[Row]:
    """(state, format, count, oldest pending created_at) per state and format."""
    oldest = sa.func.min(sa.case((jobs.c.state == "pending", jobs.c.created_at)))
    stmt = sa.select(jobs.c.state, jobs.c.format, sa.func.count(), oldest).group_by(jobs.c.state, jobs.c.format)
    return conn.execute(stmt).all()


def finished(conn: Connection, row_buckets: Sequence[float], second_buckets: Sequence[float]) -> list[Row]:
    """Per format: count, rows and seconds of finished exports, and how many fall in each bucket."""
    seconds = jobs.c.finished_at - jobs.c.started_at
    cols: list[Any] = [jobs.c.format, sa.func.count(), sa.func.sum(jobs.c.row_count), sa.func.sum(seconds)]
    cols += [sa.func.sum(sa.case((jobs.c.row_count <= b, 1), else_=0)) for b in row_buckets]
    cols += [sa.func.sum(sa.case((seconds <= b, 1), else_=0)) for b in second_buckets]
    # An expired job was done: its file is gone, its figures still count.
    done = jobs.c.state.in_(("done", "expired")) & jobs.c.started_at.is_not(None) & jobs.c.finished_at.is_not(None)
    return conn.execute(sa.select(*cols).where(done).group_by(jobs.c.format)).all()
