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


def distinct(conn: Connection, principal: Principal, col: sa.Column) -> list[str]:
    """The column's values (up to 1,000) among the calls the principal may see, sorted."""
    stmt = scoped(sa.select(col).distinct(), principal).where(col.is_not(None)).order_by(col).limit(1000)
    return list(conn.execute(stmt).scalars())


def agents(conn: Connection, principal: Principal) -> list[tuple[str, str | None]]:
    """(agentId, a name it was seen with): ids from the agent index, then one name each."""
    out = []
    for agent_id in distinct(conn, principal, calls.c.agent_id):
        name_of = scoped(sa.select(calls.c.agent_name), principal).where(calls.c.agent_id == agent_id).limit(1)
        out.append((agent_id, conn.execute(name_of).scalar()))
    return out
