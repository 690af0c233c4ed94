"""Push sources: HTTP Basic credentials a PBX posts CDRs with, stored hashed and revocable (§11)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from callreport.auth import new_id
from callreport.repo import accounts as accounts_repo
from callreport.repo import sources as sources_repo

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
    if not accounts_repo.account_exists(conn, account_id):
        raise ValueError(f"no account {account_id}")
    source_id, username, password = new_id(), f"fs-{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    sources_repo.insert_source(
        conn,
        {
            "id": source_id,
            "account_id": account_id,
            "kind": kind,
            "username": username,
            "secret_hash": _hash(password),
            "include_internal": include_internal,
            "created_at": int(time.time()),
        },
    )
    url = base_url.rstrip("/") + PUSH_PATH
    return {"sourceId": source_id, "url": url, "username": username, "password": password}


def listing(conn: Connection, account_id: str) -> list[dict]:
    """The account's sources, oldest first, without secrets."""
    rows = sources_repo.account_sources(conn, account_id)
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
    return sources_repo.revoke_source(conn, source_id, int(time.time()))


def verify(conn: Connection, username: str, password: str) -> Source | None:
    """The active source these credentials name, or None; the comparison takes constant time."""
    row = sources_repo.live_source(conn, username)
    ok = hmac.compare_digest(_hash(password), row.secret_hash if row else _DUMMY)
    if row is None or not ok:
        return None
    return Source(row.id, row.account_id, row.kind, row.include_internal)
