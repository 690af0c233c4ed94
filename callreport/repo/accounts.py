"""All SQL over accounts, users, credentials, login failures and server keys.

These statements act as the service or the operator, not as a principal: they are how a principal
is found (a credential's lookup, a login), how the operator makes accounts, users and tokens from
the CLI, and how processes share their keys. The one read on behalf of a principal,
`account_name`, is scoped to the principal's account.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

from callreport import db
from callreport.models import accounts, credentials, login_failures, server_keys, users
from callreport.principal import Principal

# --- accounts and users (the operator's) --------------------------------------------------------


def insert_account(conn: Connection, account_id: str, name: str, timezone: str, now: int) -> None:
    """Add an account, as the operator."""
    conn.execute(accounts.insert().values(id=account_id, name=name, timezone=timezone, created_at=now))


def account_exists(conn: Connection, account_id: str) -> bool:
    """Whether the account exists."""
    return conn.execute(sa.select(accounts.c.id).where(accounts.c.id == account_id)).first() is not None


def account_timezone(conn: Connection, account_id: str) -> str | None:
    """The account's timezone (None for no such account), for the operator's bulk load."""
    return conn.execute(sa.select(accounts.c.timezone).where(accounts.c.id == account_id)).scalar()


def missing_accounts(conn: Connection, ids: set[str]) -> set[str]:
    """Those of the account ids that do not exist."""
    return ids - set(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(ids))).scalars())


def account_name(conn: Connection, principal: Principal) -> str:
    """The current name of the principal's account ('' if it is gone)."""
    return conn.execute(sa.select(accounts.c.name).where(accounts.c.id == principal.account_id)).scalar() or ""


def insert_user(conn: Connection, values: dict[str, Any]) -> None:
    """Add a user (values already hashed and checked), as the operator."""
    conn.execute(users.insert().values(**values))


def user_exists(conn: Connection, user_id: str) -> bool:
    """Whether the user exists."""
    return conn.execute(sa.select(users.c.id).where(users.c.id == user_id)).first() is not None


def username_taken(conn: Connection, username: str) -> bool:
    """Whether a user already signs in with that name."""
    return conn.execute(sa.select(users.c.id).where(users.c.username == username)).first() is not None


def set_password_hash(conn: Connection, user_id: str, password_hash: str) -> None:
    """Replace a user's password hash, as the operator (the demo's new password)."""
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))


def user_zone(conn: Connection, user_id: str) -> str:
    """The timezone of the user's account."""
    return conn.execute(
        sa.select(accounts.c.timezone).join(users, users.c.account_id == accounts.c.id).where(users.c.id == user_id)
    ).scalar_one()


# --- credentials and logins ---------------------------------------------------------------------


def insert_credential(conn: Connection, values: dict[str, Any]) -> None:
    """Store a session or token (its hash only)."""
    conn.execute(credentials.insert().values(**values))


def revoke_kind(conn: Connection, user_id: str, kind: str, now: int) -> int:
    """Revoke every live credential of that kind of the user, as the operator; how many."""
    return _revoke(conn, now, credentials.c.user_id == user_id, kind)


def revoke_secret(conn: Connection, secret_hash: str, kind: str, now: int) -> int:
    """Revoke the live credential with that hash (a logout); how many (0 or 1)."""
    return _revoke(conn, now, credentials.c.secret_hash == secret_hash, kind)


def _revoke(conn: Connection, now: int, which: Any, kind: str) -> int:
    live = (which, credentials.c.kind == kind, credentials.c.revoked_at.is_(None))
    return conn.execute(credentials.update().where(*live).values(revoked_at=now)).rowcount


# Built once: every API request runs it, and building the statement cost more than running it.
_CREDENTIAL = (
    sa.select(
        credentials.c.secret_hash,
        credentials.c.user_id,
        credentials.c.expires_at,
        credentials.c.revoked_at,
        users.c.permissions,
        users.c.agents,
        accounts.c.id.label("account_id"),
        accounts.c.name.label("account_name"),
        accounts.c.timezone,
    )
    .join(users, users.c.id == credentials.c.user_id)
    .join(accounts, accounts.c.id == users.c.account_id)
    .where(credentials.c.secret_hash == sa.bindparam("secret_hash"), credentials.c.kind == sa.bindparam("kind"))
)


def credential(conn: Connection, secret_hash: str, kind: str) -> Row | None:
    """The credential with that hash, with its user's permissions and agents and its account."""
    return conn.execute(_CREDENTIAL, {"secret_hash": secret_hash, "kind": kind}).first()


def password_of(conn: Connection, username: str) -> Row | None:
    """The user's id and password hash, by username."""
    return conn.execute(sa.select(users.c.id, users.c.password_hash).where(users.c.username == username)).first()


def recent_failures(conn: Connection, username: str, since: int) -> tuple[int, int | None]:
    """How many logins of the username failed after `since`, and when the first of them was."""
    row = conn.execute(
        sa.select(sa.func.count(), sa.func.min(login_failures.c.at)).where(
            login_failures.c.username == username, login_failures.c.at > since
        )
    ).one()
    return row[0], row[1]


def record_failure(conn: Connection, username: str, now: int) -> None:
    """Remember a failed login of the username."""
    conn.execute(login_failures.insert().values(username=username, at=now))


def clear_failures(conn: Connection, username: str) -> None:
    """Forget the username's failed logins (after a good one)."""
    conn.execute(login_failures.delete().where(login_failures.c.username == username))


# --- server keys and the demo's marker ----------------------------------------------------------


def server_key(conn: Connection, name: str, fresh: str, now: int) -> str:
    """The named key's secret, stored as `fresh` first if absent (race-free on both databases)."""
    insert = (postgresql.insert if db.is_postgres(conn) else sqlite.insert)(server_keys)
    # Two processes starting at once both try to insert; the loser's row is dropped and both
    # then read the winner's, so every process seals and opens with the same key.
    conn.execute(insert.values(name=name, secret=fresh, created_at=now).on_conflict_do_nothing(index_elements=["name"]))
    return conn.execute(sa.select(server_keys.c.secret).where(server_keys.c.name == name)).scalar_one()


def marked_user(conn: Connection, marker: str) -> Row | None:
    """The user a marker row names (id, account_id, username) and the marker's created_at."""
    return conn.execute(
        sa.select(users.c.id, users.c.account_id, users.c.username, server_keys.c.created_at)
        .select_from(server_keys.join(users, users.c.id == server_keys.c.secret))
        .where(server_keys.c.name == marker)
    ).first()


def set_marker(conn: Connection, marker: str, user_id: str) -> None:
    """Make the marker name the user (replacing one left by a deleted user), not yet loaded."""
    conn.execute(server_keys.delete().where(server_keys.c.name == marker))
    conn.execute(server_keys.insert().values(name=marker, secret=user_id, created_at=0))


def touch_marker(conn: Connection, marker: str, now: int) -> None:
    """Record the time on the marker (when the demo's calls were made)."""
    conn.execute(server_keys.update().where(server_keys.c.name == marker).values(created_at=now))
