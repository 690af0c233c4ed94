"""Export job state rules: the states, the attempt limit, and the one place `expired` is computed.

A done request whose retention has ended is shown (and filtered) as expired at once, before the
worker's sweep deletes its file and records the state; `shown_state` says so in Python and
`lapsed`/`shown_state_sql` say the same in SQL, side by side so the two cannot drift.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from callreport.models import export_requests

STATES = ("pending", "running", "done", "failed", "cancelled", "expired")
FINAL = ("done", "failed", "cancelled", "expired")
MAX_ATTEMPTS = 3  # a job that killed its worker this often is failed, not retried forever


def shown_state(row: Any, now: float | None = None) -> str:
    """The request's state as clients see it: a done one past its retention is expired."""
    now = time.time() if now is None else now
    if row.state == "done" and row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return row.state


def lapsed(now: float) -> ColumnElement[bool]:
    """SQL twin of shown_state's rule: done, and its retention ended (a NULL expiry never ends)."""
    t = export_requests
    return sa.and_(t.c.state == "done", t.c.expires_at <= now)


def shown_state_sql(now: float) -> ColumnElement[str]:
    """SQL twin of shown_state(): the state column with lapsed done requests as expired."""
    return sa.case((lapsed(now), "expired"), else_=export_requests.c.state)
