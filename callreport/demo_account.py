"""The demo account: made once per database, then found again by a marker and reused."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa

from callreport import auth, db
from callreport.repo import accounts as accounts_repo
from callreport.repo import calls as calls_repo

# A row of server_keys names the demo's admin user: the demo belongs to the database, so a second
# `make run` (or `callreport demo` from another folder on the same PostgreSQL) finds it.
MARKER = "demo-user"
ZONE = "Asia/Kolkata"
ACCOUNT_NAME = "Demo Call Centre"


@dataclass
class Demo:
    """The demo's account and admin user with fresh credentials."""

    account_id: str
    user_id: str
    username: str
    password: str
    token: str
    ssid: str
    reused: bool
    stored_calls: int
    loaded_at: int | None  # when its calls were last (re)generated; None for a new demo


def open_demo(engine: sa.Engine, session_ttl: int) -> Demo:
    """The demo of this database (made if there is none) with a new password, token and session."""
    password = secrets.token_urlsafe(12)
    with db.writing(engine) as conn:
        found = _find(conn)
        if found is None:
            account_id, user_id, username = _create(conn, password)
            loaded_at, reused = None, False
        else:
            account_id, user_id, username, loaded_at = found
            # Only a hash of the old password is kept: a reused demo gets a new one to print.
            accounts_repo.set_password_hash(conn, user_id, auth.hash_password(password))
            reused = True
        token, _ = auth.issue(conn, user_id, "token", None)
        ssid, _ = auth.issue(conn, user_id, "session", session_ttl)
        stored = calls_repo.stored(conn, account_id)
        return Demo(account_id, user_id, username, password, token, ssid, reused, stored, loaded_at)


def needs_calls(demo: Demo, wanted: int, now: float | None = None) -> bool:
    """Whether to (re)generate the calls: too few stored, or made on an earlier day (they cover days up to today)."""
    if demo.stored_calls < wanted or demo.loaded_at is None:
        return True
    zone = ZoneInfo(ZONE)
    made = datetime.fromtimestamp(demo.loaded_at, zone).date()
    return made != datetime.fromtimestamp(now or time.time(), zone).date()


def mark_loaded(engine: sa.Engine, demo: Demo) -> None:
    """Record that the demo's calls were generated now."""
    with db.writing(engine) as conn:
        accounts_repo.touch_marker(conn, MARKER, int(time.time()))


def fill_calls(
    engine: sa.Engine, demo: Demo, calls: int, days: int, from_pbx: str | None, data_dir: Path
) -> tuple[int, str | None]:
    """Give the demo its calls, generated or from PBX files (§11); the calls stored, and what was written where."""
    if from_pbx:
        from callreport.sources.demo_pbx import load_demo

        path, summary = load_demo(engine, demo.account_id, from_pbx, data_dir, calls, days, ZONE)
        with engine.connect() as conn:
            stored = calls_repo.stored(conn, demo.account_id)
        return stored, f"Wrote {path} and imported it: {summary.inserted} new calls."
    if not needs_calls(demo, calls):
        return demo.stored_calls, None
    from callreport.demo import generate_calls
    from callreport.loading import load_records

    # The same ids every time (seed 0): a reload replaces the calls, it never adds to them.
    load_records(engine, demo.account_id, generate_calls(calls, days=days, tz=ZONE), calls, "demo calls")
    mark_loaded(engine, demo)
    return max(demo.stored_calls, calls), None


def credentials(demo: Demo, stored: int) -> dict:
    """What `callreport demo` prints: the account, the admin's credentials and the calls stored."""
    return {
        "accountId": demo.account_id,
        "username": demo.username,
        "password": demo.password,
        "userId": demo.user_id,
        "token": demo.token,
        "ssid": demo.ssid,
        "calls": stored,
        "reused": demo.reused,
    }


def as_text(out: dict, host: str, port: int) -> str:
    """The credentials in words, with a curl line for the API at host:port."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # where a browser on this machine reaches it
    base = f"http://{shown}:{port}"
    body = orjson.dumps({"userId": out["userId"], "token": out["token"], "limit": 5}).decode()
    made = "Reusing the demo account" if out["reused"] else "Made the demo account"
    return "\n".join(
        [
            f"{made} {out['accountId']} ({out['calls']} calls).",
            f"  login:    username {out['username']}  password {out['password']}",
            f"  userId:   {out['userId']}",
            f"  token:    {out['token']}",
            f"  ssid:     {out['ssid']}",
            "Try it (once `callreport serve` runs):",
            f"  curl -s {base}/api/v2/callreport/list --data-raw '{body}'",
            f"API docs: {base}/docs",
        ]
    )


def _find(conn: sa.Connection) -> tuple[str, str, str, int] | None:
    row = accounts_repo.marked_user(conn, MARKER)
    if row is None:
        return None
    # created_at 0 means "made, calls not loaded yet" (an interrupted first run).
    return row.account_id, row.id, row.username, row.created_at or None


def _create(conn: sa.Connection, password: str) -> tuple[str, str, str]:
    account_id = auth.create_account(conn, ACCOUNT_NAME, ZONE)
    username = _free_username(conn, "demo")
    user_id = auth.create_user(conn, account_id, username, password, list(auth.PERMISSIONS))
    accounts_repo.set_marker(conn, MARKER, user_id)
    return account_id, user_id, username


def _free_username(conn: sa.Connection, base: str) -> str:
    name = base
    while accounts_repo.username_taken(conn, name):
        name = f"{base}-{secrets.token_hex(3)}"
    return name
