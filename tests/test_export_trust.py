"""Export requests under trust (API.md §4, §7): another user's request is visible only to an ADMIN
that could have made the file itself; a user's active exports are capped; workers take turns
between accounts."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from callreport import auth, db
from callreport.models import export_requests, users
from callreport.repo import exports as exports_repo
from callreport.repo import leases
from tests.export_stack import FILE_NOT_EXISTS, Calls, Stack
from tests.factories import Tenant, fresh_pg_database, make_tenant

CAP = 10  # CALLREPORT_MAX_ACTIVE_EXPORTS by default (API.md §7)


def unknown_everywhere(stack: Stack, viewer: Tenant, done: str, pending: str) -> None:
    """Every endpoint answers the viewer about these requests exactly as about an unknown id."""
    listed = {r["requestId"] for r in stack.call("exportList", viewer.creds, limit=1000)["data"]}
    assert not {done, pending} & listed
    nobody = secrets.token_hex(12)
    for name, extra in (("exportStatus", {}), ("changeTitle", {"title": "taken"}), ("exportCancel", {})):
        as_unknown = stack.call(name, viewer.creds, requestId=nobody, **extra)
        assert as_unknown["code"] == 1009 and as_unknown["message"] == "Request Not Exists"
        for target in (done, pending):
            assert stack.call(name, viewer.creds, requestId=target, **extra) == as_unknown
    assert stack.download("csv", viewer.creds, done).json() == FILE_NOT_EXISTS


def seen_everywhere(stack: Stack, viewer: Tenant, done: str) -> None:
    """The viewer lists, reads, renames and downloads the done request."""
    listed = {r["requestId"] for r in stack.call("exportList", viewer.creds, limit=1000)["data"]}
    assert done in listed
    assert stack.status(viewer.creds, done)["state"] == "done"
    title = f"seen {secrets.token_hex(3)}"
    assert stack.call("changeTitle", viewer.creds, requestId=done, title=title)["data"]["title"] == title
    resp = stack.download("csv", viewer.creds, done)
    assert resp.status_code == 200 and resp.headers["content-disposition"].endswith(f'"{title}.csv"')


def test_admin_without_view_number_cannot_reach_an_unmasked_request(stack: Stack, calls: Calls, engine) -> None:
    owner = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER")
    done = stack.done("csv", owner.creds, columns=["callId", "customerNumber"])
    pending = stack.call("exportCsv", owner.creds)["requestId"]
    admin = calls.user(engine, "LIST_CALL_LOG", "ADMIN")
    unknown_everywhere(stack, admin, done, pending)
    mine = stack.status(owner.creds, done)
    assert mine["title"] != "taken" and stack.status(owner.creds, pending)["state"] == "pending"
    # A masked file of another user is one this ADMIN could have made: visible.
    masked_owner = calls.user(engine, "LIST_CALL_LOG")
    seen_everywhere(stack, admin, stack.done("csv", masked_owner.creds, columns=["callId", "customerNumber"]))
    stack.call("exportCancel", owner.creds, requestId=pending)


def test_agent_limited_admin_reaches_only_requests_it_covers(stack: Stack, calls: Calls, engine) -> None:
    wide_owner = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER")
    narrow_owner = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", agents=["AG-1", "AG-3"])
    wide = stack.done("csv", wide_owner.creds, columns=["callId"])
    narrow = stack.done("csv", narrow_owner.creds, columns=["callId"])  # scope AG-1, AG-3
    filtered = stack.done("csv", wide_owner.creds, columns=["callId"], agentIds=["AG-1"])  # scope AG-1
    # The creator's scope meets the filter: only AG-1 is left.
    crossed = stack.done("csv", narrow_owner.creds, columns=["callId"], agentIds=["AG-1", "AG-2"])
    wide_pending = stack.call("exportCsv", wide_owner.creds)["requestId"]
    one = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN", agents=["AG-1"])
    unknown_everywhere(stack, one, wide, wide_pending)
    unknown_everywhere(stack, one, narrow, wide_pending)
    seen_everywhere(stack, one, filtered)
    seen_everywhere(stack, one, crossed)
    three = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN", agents=["AG-1", "AG-3", "AG-5"])
    unknown_everywhere(stack, three, wide, wide_pending)
    for rid in (narrow, filtered, crossed):
        seen_everywhere(stack, three, rid)
    # An unlimited ADMIN with VIEW_NUMBER covers everything, and cancels for the owner.
    full = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN")
    for rid in (wide, narrow, filtered, crossed):
        seen_everywhere(stack, full, rid)
    assert stack.call("exportCancel", full.creds, requestId=wide_pending)["data"]["state"] == "cancelled"


def test_the_owner_always_sees_their_own(stack: Stack, calls: Calls, engine) -> None:
    owner = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN", agents=["AG-2"])
    done = stack.done("csv", owner.creds, columns=["callId"])
    pending = stack.call("exportCsv", owner.creds)["requestId"]
    # Narrower now than when the requests were made: they are still the owner's own.
    with db.writing(engine) as conn:
        conn.execute(
            users.update().where(users.c.id == owner.user_id).values(permissions="ADMIN,LIST_CALL_LOG", agents=["AG-4"])
        )
    seen_everywhere(stack, owner, done)
    assert stack.call("exportCancel", owner.creds, requestId=pending)["data"]["state"] == "cancelled"


def test_active_exports_are_capped(stack: Stack, calls: Calls, engine) -> None:
    user = calls.user(engine, "LIST_CALL_LOG")
    made = [stack.call("exportCsv", user.creds, idempotencyKey=f"k{i}")["requestId"] for i in range(CAP)]
    over = stack.call("exportCsv", user.creds)
    assert over["code"] == 1000 and str(CAP) in over["detail"] and "pending or running" in over["detail"]
    # A retry of an existing request is not a new one: it still answers.
    assert stack.call("exportCsv", user.creds, idempotencyKey="k0")["requestId"] == made[0]
    # Another user of the account has their own allowance.
    other = calls.user(engine, "LIST_CALL_LOG")
    assert stack.call("exportCsv", other.creds)["status"] == "success"
    stack.call("exportCancel", user.creds, requestId=made[0])
    # At the cap minus one, racing requests: exactly one gets in.
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: stack.call("exportCsv", user.creds), range(8)))
    assert sorted(o["status"] for o in outs) == ["error"] * 7 + ["success"]
    listed = stack.call("exportList", user.creds, states=["pending", "running"], limit=100)["data"]
    assert len(listed) == CAP
    for r in listed:
        stack.call("exportCancel", user.creds, requestId=r["requestId"])
    for r in stack.call("exportList", other.creds, states=["pending"])["data"]:
        stack.call("exportCancel", other.creds, requestId=r["requestId"])


# --- fair claiming -------------------------------------------------------------------------------


def queue(engine: sa.Engine, who: Tenant, n: int, since: int) -> list[str]:
    """n pending jobs of one user, made a second apart from `since` (long ago); their ids."""
    ids = [secrets.token_hex(12) for _ in range(n)]
    with db.writing(engine) as conn:
        principal = auth.authenticate(conn, who.creds)
        for i, rid in enumerate(ids):
            exports_repo.create(conn, principal, {}, id=rid, format="csv", title="t")
            conn.execute(export_requests.update().where(export_requests.c.id == rid).values(created_at=since + i))
    return ids


@pytest.mark.parametrize("finishing", [False, True], ids=["workers-busy", "one-worker"])
def test_claims_take_turns_between_accounts(stack: Stack, engine: sa.Engine, finishing: bool) -> None:
    stack.drain()  # whatever earlier tests left waiting
    a, b = make_tenant(engine), make_tenant(engine)
    # A's whole queue is older than B's job: first come, first served would run B's last.
    a_ids = queue(engine, a, 30, since=1_000)
    (b_id,) = queue(engine, b, 1, since=2_000)
    claimed = []
    try:
        for i in range(3):
            job = leases.claim(engine, f"w{i}", 30)
            assert job is not None
            claimed.append(job.id)
            if finishing:  # one worker: it is done before it claims again
                assert leases.finish(engine, job.id, f"w{i}", key="k", size=0, sha256="0", rows=0, retention_days=1)
        assert claimed[0] == a_ids[0]
        assert b_id in claimed[:2]
    finally:
        with db.writing(engine) as conn:
            # Left cancelled, so later drains skip them.
            conn.execute(
                export_requests.update()
                .where(export_requests.c.id.in_([*a_ids, b_id]))
                .values(state="cancelled", lease_owner=None)
            )


# --- migration 0005 ------------------------------------------------------------------------------


@pytest.fixture
def fresh_url(backend: str, tmp_path) -> Any:
    """An empty database on the current backend, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with fresh_pg_database("callreport_0005") as url:
        yield url


def test_migration_0005_fills_existing_requests_from_their_params(fresh_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    import callreport

    eng = db.make_engine(fresh_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(callreport.__file__).parent / "migrations"))
    cfg.attributes["engine"] = eng
    try:
        command.upgrade(cfg, "0004")
        old = sa.table(
            "export_requests",
            *(sa.column(c) for c in ("id", "account_id", "created_by", "format", "title", "state", "created_at")),
            sa.column("params", sa.JSON),
            sa.column("started_at", sa.BigInteger),
        )
        rows = {
            "a" * 24: ({"masked": True, "agents": None, "filter": {"agentIds": None}}, None),
            "b" * 24: ({"masked": False, "agents": ["AG-1", "AG-3"], "filter": {"agentIds": ["AG-3", "AG-2"]}}, 7),
            "c" * 24: ({"masked": False, "agents": None, "filter": {"agentIds": ["AG-2"]}}, None),
            "d" * 24: ({"masked": True, "agents": ["AG-4"], "filter": {}}, None),
        }
        with db.writing(eng) as conn:
            for rid, (params, started) in rows.items():
                values = dict(id=rid, account_id="x", created_by="y", format="csv", title="t", state="done")
                conn.execute(old.insert().values(**values, created_at=1, params=params, started_at=started))
        command.upgrade(cfg, "head")
        cols = export_requests.c
        with eng.connect() as conn:
            got = {
                r.id: tuple(r[1:])
                for r in conn.execute(sa.select(cols.id, cols.masked, cols.agent_scope, cols.claimed_at))
            }
            unlimited = conn.execute(sa.select(cols.id).where(cols.agent_scope.is_(None))).scalars().all()
        assert got == {
            "a" * 24: (True, None, None),
            "b" * 24: (False, ["AG-3"], 7),
            "c" * 24: (False, ["AG-2"], None),
            "d" * 24: (True, ["AG-4"], None),
        }
        assert unlimited == ["a" * 24]  # SQL NULL, not the JSON value null
    finally:
        eng.dispose()
