"""Push sources: HTTP Basic credentials a PBX posts CDRs with, stored hashed and revocable (§11)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from callreport.auth import new_id
from callreport.models import accounts, sources

KINDS = ("freeswitch",)
PUSH_PATH = "/api/v2/sources/freeswitch"


@dataclass(frozen=True)
class Source:
    """An active push source."""

    id: str
    account_id: str
    kind: str
    include_internal: bool


def _hash(password: str) -> str:
    # The password is 256 random bits: a fast hash is enough (nothing to guess), as for API tokens.
    return hashlib.sha256(password.encode()).hexdigest()


_DUMMY = _hash(secrets.token_urlsafe(32))  # compared against when the username is unknown


def create(conn: Connection, account_id: str, kind: str, include_internal: bool, base_url: str) -> dict:
    """A new source of the account → {sourceId, url, username, password}; the password is shown only here."""
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}; one of: {', '.join(KINDS)}")
    if conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)).first() is None:
        raise ValueError(f"no account {account_id}")
    source_id, username, password = new_id(), f"fs-{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    conn.execute(
        sources.insert().values(
            id=source_id,
            account_id=account_id,
            kind=kind,
            username=username,
            secret_hash=_hash(password),
            include_internal=include_internal,
            created_at=int(time.time()),
        )
    )
    url = base_url.rstrip("/") + PUSH_PATH
    return {"sourceId": source_id, "url": url, "username": username, "password": password}


def listing(conn: Connection, account_id: str) -> list[dict]:
    """The account's sources, oldest first, without secrets."""
    rows = conn.execute(sa.select(sources).where(sources.c.account_id == account_id).order_by(sources.c.created_at))
    return [
        {
            "sourceId": r.id,
            "kind": r.kind,
            "username": r.username,
            "includeInternal": r.include_internal,
            "createdAt": r.created_at,
            "revokedAt": r.revoked_at,
        }
        for r in rows
    ]


def revoke(conn: Connection, source_id: str) -> int:
    """Revoke a source at once; returns how many were revoked (0: unknown or already revoked)."""
    stmt = sources.update().where(sources.c.id == source_id, sources.c.revoked_at.is_(None))
    return conn.execute(stmt.values(revoked_at=int(time.time()))).rowcount


def verify(conn: Connection, username: str, password: str) -> Source | None:
    """The active source these credentials name, or None; the comparison takes constant time."""
    row = conn.execute(sa.select(sources).where(sources.c.username == username, sources.c.revoked_at.is_(None))).first()
    ok = hmac.compare_digest(_hash(password), row.secret_hash if row else _DUMMY)
    if row is None or not ok:
        return None
    return Source(row.id, row.account_id, row.kind, row.include_internal)
