"""Accounts, users and credentials: hashing, issuing, checking and revoking secrets (SQL in repo.accounts).

create_account, create_user, issue and revoke are the operator's (the CLI's, the demo's): they act
as the operator, not as a principal.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time

from sqlalchemy.engine import Connection

from callreport import errors
from callreport.principal import Principal
from callreport.repo import accounts as repo
from callreport.zones import check_timezone

PERMISSIONS = ("LIST_CALL_LOG", "VIEW_NUMBER", "INGEST_CALL_LOG", "ADMIN")
# scrypt at n=2**14 costs ~40 ms and 16 MiB: slow for guessing, cheap enough for logins.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def new_id() -> str:
    """A 24-hex id, as the contract's requestId (and the reference's object ids)."""
    return secrets.token_hex(12)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, ssids): stored instead of the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str) -> str:
    """A salted scrypt hash of a password."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=1 << 26)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches the stored hash (constant-time comparison)."""
    _, n, r, p, salt, digest = stored.split("$")
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=1 << 26)
    return hmac.compare_digest(got.hex(), digest)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so both answers take as long."""
    # Made at the first login, not at import: importing auth must not cost a ~40 ms scrypt.
    return hash_password(secrets.token_hex(8))


def create_account(conn: Connection, name: str, timezone: str = "UTC") -> str:
    """A new account, made by the operator; returns its id."""
    account_id = new_id()
    repo.insert_account(conn, account_id, name, check_timezone(timezone), int(time.time()))
    return account_id


def create_user(
    conn: Connection,
    account_id: str,
    username: str,
    password: str,
    permissions: list[str],
    agents: list[str] | None = None,
) -> str:
    """A new user of the account, made by the operator; returns its id."""
    unknown = set(permissions) - set(PERMISSIONS)
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(sorted(unknown))}")
    if not repo.account_exists(conn, account_id):
        raise ValueError(f"no account {account_id}")
    user_id = new_id()
    repo.insert_user(
        conn,
        {
            "id": user_id,
            "account_id": account_id,
            "username": username,
            "password_hash": hash_password(password),
            "permissions": ",".join(sorted(set(permissions))),
            "agents": agents or None,
            "created_at": int(time.time()),
        },
    )
    return user_id


def issue(conn: Connection, user_id: str, kind: str, ttl_seconds: float | None) -> tuple[str, int | None]:
    """A new session or token for the user: (secret, expires_at epoch or None)."""
    if not repo.user_exists(conn, user_id):
        raise ValueError(f"no user {user_id}")
    secret = secrets.token_urlsafe(32)
    now = int(time.time())
    expires = None if ttl_seconds is None else now + int(ttl_seconds)
    repo.insert_credential(
        conn,
        {
            "user_id": user_id,
            "kind": kind,
            "secret_hash": hash_secret(secret),
            "created_at": now,
            "expires_at": expires,
        },
    )
    return secret, expires


def revoke(conn: Connection, user_id: str, kind: str) -> int:
    """Revoke every live credential of that kind of the user, as the operator; returns how many."""
    return repo.revoke_kind(conn, user_id, kind, int(time.time()))


def authenticate(conn: Connection, creds: dict[str, str]) -> Principal:
    """The principal behind an ssid or a userId + token pair, or 1014."""
    secret = creds.get("ssid") or creds["token"]
    kind = "session" if "ssid" in creds else "token"
    now = int(time.time())
    row = repo.credential(conn, hash_secret(secret), kind)
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise errors.InvalidToken()
    if kind == "token" and not hmac.compare_digest(row.user_id.encode(), creds["userId"].encode()):
        raise errors.InvalidToken()
    return Principal(
        account_id=row.account_id,
        account_name=row.account_name,
        account_tz=row.timezone,
        user_id=row.user_id,
        permissions=frozenset(p for p in row.permissions.split(",") if p),
        agents=tuple(row.agents) if row.agents else None,
    )


def login(conn: Connection, username: str, password: str, ttl_seconds: int, max_failures: int, window: int) -> dict:
    """Check a username and password and open a session; throttled per username."""
    now = int(time.time())
    failures, first = repo.recent_failures(conn, username, now - window)
    if failures >= max_failures:
        wait = max(1, first + window - now)
        raise errors.InvalidToken(
            f"Too many failed logins for this username; try again in {wait} seconds.",
            message="Invalid username or password",
        )
    dummy = _dummy_hash()  # made before the lookup, so even the first unknown username costs no extra time
    user = repo.password_of(conn, username)
    ok = verify_password(password, user.password_hash if user else dummy) and user is not None
    if not ok:
        repo.record_failure(conn, username, now)
        raise errors.InvalidToken(message="Invalid username or password")
    repo.clear_failures(conn, username)
    ssid, expires = issue(conn, user.id, "session", ttl_seconds)
    return {"ssid": ssid, "userId": user.id, "expiresAt": expires}


def logout(conn: Connection, ssid: str) -> None:
    """End the session (unknown or dead ssid: 1014)."""
    if repo.revoke_secret(conn, hash_secret(ssid), "session", int(time.time())) == 0:
        raise errors.InvalidToken()


def account_zone(conn: Connection, user_id: str) -> str:
    """The timezone of the user's account."""
    return repo.user_zone(conn, user_id)
