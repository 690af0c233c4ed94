"""All SQL over export requests that users make: create, get, page, set title, cancel.

What a user does takes their Principal and is scoped in the same statement (`visible`). The
worker's side (claim with a lease, heartbeat, finish, fail, release, expire) is in leases.py.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from callreport import db
from callreport.jobs import shown_state_sql
from callreport.models import export_requests as jobs
from callreport.principal import Principal


def _covered(agents: tuple[str, ...], postgres: bool) -> Any:
    """Whether the request's agent set is known and lies within `agents` (a JSON array subset test)."""
    spread = sa.func.jsonb_array_elements_text if postgres else sa.func.json_each
    elems = spread(jobs.c.agent_scope).table_valued("value")
    outside = sa.select(1).select_from(elems).where(elems.c.value.not_in(list(agents))).exists()
    return sa.and_(jobs.c.agent_scope.is_not(None), ~outside)


def visible(conn: sa.Connection, principal: Principal) -> list[Any]:
    """The conditions under which a principal sees an export request (API.md §4)."""
    conds = [jobs.c.account_id == principal.account_id]
    own = jobs.c.created_by == principal.user_id
    if not principal.is_admin:
        return [*conds, own]
    # An ADMIN reaches another user's request only where it could have made that file itself.
    limits = []
    if not principal.sees_numbers:
        limits.append(jobs.c.masked == sa.true())
    if principal.agents is not None:
        limits.append(_covered(principal.agents, db.is_postgres(conn)))
    if limits:
        conds.append(sa.or_(own, sa.and_(*limits)))
    return conds


def agent_scope(agents: tuple[str, ...] | None, agent_ids: list[str] | None) -> list[str] | None:
    """The agents a request may cover: the creator's, narrowed by its agentIds filter; None for all."""
    if agents is None and agent_ids is None:
        return None
    if agents is None or agent_ids is None:
        return sorted(set(agents if agent_ids is None else agent_ids))
    return sorted(set(agents) & set(agent_ids))


def get(conn: sa.Connection, principal: Principal, request_id: str) -> Row | None:
    """One request the principal may see."""
    return conn.execute(sa.select(jobs).where(jobs.c.id == request_id, *visible(conn, principal))).first()


def find_idempotent(conn: sa.Connection, principal: Principal, key: str, since: int) -> Row | None:
    """The user's earliest request with this idempotency key in the window."""
    if db.is_postgres(conn):
        # Two retries racing under READ COMMITTED would both find nothing and both insert; this
        # lock, held to the end of the caller's transaction, makes the second wait for the first.
        # (SQLite's BEGIN IMMEDIATE already serialises the writers.)
        conn.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(
                    sa.func.hashtextextended(f"callreport-idempotency:{principal.user_id}:{key}", 0)
                )
            )
        )
    return conn.execute(
        sa.select(jobs)
        .where(
            jobs.c.account_id == principal.account_id,
            jobs.c.created_by == principal.user_id,
            jobs.c.idempotency_key == key,
            jobs.c.created_at >= since,
        )
        .order_by(jobs.c.created_at, jobs.c.id)
        .limit(1)
    ).first()


def active(conn: sa.Connection, principal: Principal) -> int:
    """How many of the user's requests are pending or running, locked against a racing create."""
    if db.is_postgres(conn):
        # As in find_idempotent: two creates at the cap must not both count 9; the second waits
        # here until the first commits. (SQLite's BEGIN IMMEDIATE already serialises them.)
        conn.execute(
            sa.select(
                sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(f"callreport-active:{principal.user_id}", 0))
            )
        )
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(jobs)
        .where(
            jobs.c.account_id == principal.account_id,
            jobs.c.state.in_(("pending", "running")),
            jobs.c.created_by == principal.user_id,
        )
    ).scalar_one()


def create(conn: sa.Connection, principal: Principal, params: dict, **values: Any) -> None:
    """Insert a pending request of the principal; its params keep the principal for the worker to act under."""
    params = {**params, "principal": principal.snapshot()}
    conn.execute(
        jobs.insert().values(
            account_id=principal.account_id,
            created_by=principal.user_id,
            params=params,
            state="pending",
            progress=0,
            row_count=0,
            created_at=int(time.time()),
            **values,
        )
    )


def page(
    conn: sa.Connection,
    principal: Principal,
    formats: list[str] | None,
    states: list[str] | None,
    limit: int,
    offset: int,
) -> list[Row]:
    """A page of requests the principal sees, newest first."""
    stmt = sa.select(jobs).where(*visible(conn, principal))
    if formats:
        stmt = stmt.where(jobs.c.format.in_(formats))
    if states:
        # A done request past its retention is shown as expired before the sweep deletes its
        # file, so it is filtered as expired too.
        stmt = stmt.where(shown_state_sql(time.time()).in_(states))
    stmt = stmt.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit).offset(offset)
    return list(conn.execute(stmt))


def set_title(conn: sa.Connection, principal: Principal, request_id: str, title: str) -> bool:
    """Give a request the principal sees a user-chosen title (it names the file); whether it did."""
    stmt = jobs.update().where(jobs.c.id == request_id, *visible(conn, principal)).values(title=title, title_set=True)
    return conn.execute(stmt).rowcount == 1


def cancel(conn: sa.Connection, principal: Principal, request_id: str) -> None:
    """Cancel a pending or running request the principal sees; a finished one is left as it is."""
    conn.execute(
        jobs.update()
        .where(jobs.c.id == request_id, jobs.c.state.in_(("pending", "running")), *visible(conn, principal))
        .values(state="cancelled", finished_at=int(time.time()), lease_owner=None, lease_expires_at=None)
    )
