"""The console's reads over calls besides list and summary: the heat map and the pick-lists.

Scoped like every read of calls: `scoped`/`matching` limit each statement to the principal.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from callreport import filters
from callreport.models import calls
from callreport.principal import Principal
from callreport.repo.calls import local_seconds, matching, scoped


def heat_map(conn: Connection, principal: Principal, r: filters.Resolved) -> list[list[int]]:
    """Calls per day of week (Monday first) and hour of day, in the filter's timezone."""
    grid = [[0] * 24 for _ in range(7)]
    dialect = conn.dialect.name
    span = (sa.func.min(calls.c.start_ts), sa.func.max(calls.c.start_ts))
    lo, hi = conn.execute(matching(principal, r, dialect, *span)).one()
    if lo is None:
        return grid
    local = local_seconds(calls.c.start_ts, r.tz, lo, hi)
    dow = ((local // 86400 + 3) % 7).label("dow")  # 1970-01-01 was a Thursday (3, Monday = 0)
    hour = ((local % 86400) // 3600).label("hour")
    stmt = matching(principal, r, dialect, dow, hour, sa.func.count()).group_by(dow, hour)
    for d, h, n in conn.execute(stmt):
        grid[int(d)][int(h)] = int(n)
    return grid


AGENT_LIMIT = 1000  # a pick-list longer than this is no help; the API filters by any id
RECENT_CALLS = 5_000  # call types are read from the newest calls only (~7 ms on SQLite, any account size)


def agents(conn: Connection, principal: Principal) -> list[tuple[str, str | None]]:
    """(agentId, its latest name) of every agent with calls the principal may see, sorted by id.

    A loose index scan over ix_calls_account_agent_start: one seek per agent for the next id and
    one for its newest name, instead of a DISTINCT over every call of the account (0.3 s at 10^6).
    """
    out: list[tuple[str, str | None]] = []
    after: str | None = None
    while len(out) < AGENT_LIMIT:
        nxt = scoped(sa.select(sa.func.min(calls.c.agent_id)), principal).where(calls.c.agent_id.is_not(None))
        if after is not None:
            nxt = nxt.where(calls.c.agent_id > after)
        after = conn.execute(nxt).scalar()
        if after is None:
            break
        name_of = (
            scoped(sa.select(calls.c.agent_name), principal)
            .where(calls.c.agent_id == after)
            .order_by(calls.c.start_ts.desc())
            .limit(1)
        )
        out.append((after, conn.execute(name_of).scalar()))
    return out


def recent_call_types(conn: Connection, principal: Principal) -> list[str]:
    """The call types among the principal's newest calls (a bounded read over the start-time index), sorted."""
    newest = (
        scoped(sa.select(calls.c.call_type), principal).order_by(calls.c.start_ts.desc()).limit(RECENT_CALLS).subquery()
    )
    stmt = sa.select(newest.c.call_type).distinct().where(newest.c.call_type.is_not(None))
    return sorted(conn.execute(stmt).scalars())
