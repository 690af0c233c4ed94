"""All SQL of the PBX sources (§11): push credentials, the legs a push source sent, follow positions.

These act as the operator (the CLI's `source` and `import` commands) or as a source's own account
(a push authenticated by the source's credentials), never as a user's Principal.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Row

from callreport import db
from callreport.models import follow_positions, source_legs, sources


def insert_source(conn: Connection, values: dict[str, Any]) -> None:
    """Add a push source (its secret already hashed), as the operator."""
    conn.execute(sources.insert().values(**values))


def account_sources(conn: Connection, account_id: str) -> list[Row]:
    """The account's sources, oldest first, for the operator."""
    stmt = sa.select(sources).where(sources.c.account_id == account_id).order_by(sources.c.created_at)
    return list(conn.execute(stmt))


def revoke_source(conn: Connection, source_id: str, now: int) -> int:
    """Revoke a live source, as the operator; how many were revoked (0 or 1)."""
    stmt = sources.update().where(sources.c.id == source_id, sources.c.revoked_at.is_(None))
    return conn.execute(stmt.values(revoked_at=now)).rowcount


def live_source(conn: Connection, username: str) -> Row | None:
    """The unrevoked source with that username."""
    stmt = sa.select(sources).where(sources.c.username == username, sources.c.revoked_at.is_(None))
    return conn.execute(stmt).first()


def _upsert(conn: Connection, table: sa.Table) -> Any:
    return (pg_insert if db.is_postgres(conn) else sqlite_insert)(table)


def keep_leg(conn: Connection, source_id: str, key: str, leg_id: str, document: dict, now: int) -> None:
    """Store (or replace) a leg the source sent, under its call's key."""
    stmt = _upsert(conn, source_legs).values(
        source_id=source_id, call_key=key, leg_id=leg_id, document=document, created_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["source_id", "leg_id"], set_={"call_key": key, "document": stmt.excluded.document}
        )
    )


def legs(conn: Connection, source_id: str, key: str) -> list[Row]:
    """(document, leg_id) of every leg the source sent under the key, in arrival order."""
    return conn.execute(
        sa.select(source_legs.c.document, source_legs.c.leg_id)
        .where(source_legs.c.source_id == source_id, source_legs.c.call_key == key)
        .order_by(source_legs.c.id)
    ).all()


def prune_legs(conn: Connection, before: int) -> int:
    """Delete the legs of every call whose newest leg arrived before `before` (epoch seconds); how many."""
    fresh = source_legs.alias("fresh")
    newer = sa.exists().where(
        fresh.c.source_id == source_legs.c.source_id,
        fresh.c.call_key == source_legs.c.call_key,
        fresh.c.created_at >= before,
    )  # a call is kept whole while any of its legs is recent (ix_source_legs_call finds them)
    return conn.execute(source_legs.delete().where(source_legs.c.created_at < before, ~newer)).rowcount


def position(conn: Connection, account_id: str, path: str) -> Row | None:
    """Where following the file stopped last, for that account."""
    return conn.execute(
        sa.select(follow_positions).where(follow_positions.c.account_id == account_id, follow_positions.c.path == path)
    ).first()


def save_position(conn: Connection, account_id: str, path: str, values: dict[str, Any]) -> None:
    """Record where following the file has got to."""
    stmt = _upsert(conn, follow_positions).values(account_id=account_id, path=path, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=["account_id", "path"], set_=values))
