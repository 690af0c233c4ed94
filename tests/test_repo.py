"""The repository layer: the worker acts under the creator's stored principal; the expired rule has one
Python form and one SQL twin that agree."""

from __future__ import annotations

import secrets
import time
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import auth, db, jobs
from callreport.export import run as export_run
from callreport.models import export_requests
from callreport.principal import Principal
from callreport.repo import exports as exports_repo
from tests.factories import call, make_tenant


def created(client: TestClient, engine: sa.Engine, permissions: list[str], agents: list[str] | None, **body):
    """A new user's principal and the row of the CSV export it just requested."""
    user = make_tenant(engine, permissions=permissions, agents=agents, timezone="Asia/Kolkata")
    out = call(client, "exportCsv", {**user.creds, **body})
    assert out["status"] == "success", out
    with engine.connect() as conn:
        principal = auth.authenticate(conn, user.creds)
        row = exports_repo.get(conn, principal, out["requestId"])
    # Left cancelled, so the session's workers never run it.
    with db.writing(engine) as conn:
        exports_repo.cancel(conn, principal, row.id)
    return principal, row


@pytest.mark.parametrize(
    "permissions, agents",
    [(["LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN"], None), (["LIST_CALL_LOG"], ["AG-2", "AG-1"])],
    ids=["admin-all-agents", "masked-two-agents"],
)
def test_the_worker_acts_under_the_creators_principal(client, engine, permissions, agents) -> None:
    principal, row = created(client, engine, permissions, agents, timezone="UTC")
    worker_principal, r, masked = export_run.job_scope(row)
    # The real one: the account's name and zone and the permissions, not an empty stand-in.
    assert worker_principal == principal
    assert worker_principal.account_name and worker_principal.account_tz == "Asia/Kolkata"
    assert r.timezone == "UTC" and masked is (not principal.sees_numbers)


def test_requests_made_before_the_snapshot_fall_back_to_their_columns(client, engine) -> None:
    principal, row = created(client, engine, ["LIST_CALL_LOG", "VIEW_NUMBER"], ["AG-1"], agentIds=["AG-1", "AG-9"])
    params = {k: v for k, v in row.params.items() if k != "principal"}
    old = SimpleNamespace(**{**row._mapping, "params": params})
    got = export_run.job_principal(old)
    assert (got.account_id, got.user_id, got.agents) == (principal.account_id, principal.user_id, ("AG-1",))
    assert got.sees_numbers and not got.is_admin
    # Without the agents in params either: the request's own agent scope limits it.
    older = SimpleNamespace(**{**row._mapping, "params": {k: v for k, v in params.items() if k != "agents"}})
    assert export_run.job_principal(older).agents == ("AG-1",)
    masked = SimpleNamespace(**{**row._mapping, "params": params, "masked": True})
    assert not export_run.job_principal(masked).sees_numbers


def test_a_snapshot_cannot_move_a_request_to_another_account(client, engine) -> None:
    principal, row = created(client, engine, ["LIST_CALL_LOG"], None)
    forged = {**row.params, "principal": {**row.params["principal"], "account_id": "x" * 24, "user_id": "y" * 24}}
    got = export_run.job_principal(SimpleNamespace(**{**row._mapping, "params": forged}))
    assert (got.account_id, got.user_id) == (principal.account_id, principal.user_id)


def test_principal_snapshot_round_trips() -> None:
    p = Principal("a" * 24, "Acme", "Asia/Kolkata", "u" * 24, frozenset({"ADMIN", "VIEW_NUMBER"}), ("AG-1",))
    assert Principal.from_snapshot(p.snapshot()) == p
    assert Principal.from_snapshot({**p.snapshot(), "agents": None}).agents is None


CASES = [  # (state, expires_at relative to now or None, shown)
    ("done", -10, "expired"),
    ("done", 0, "expired"),
    ("done", 3600, "done"),
    ("done", None, "done"),
    ("running", -10, "running"),
    ("pending", None, "pending"),
    ("expired", -10, "expired"),
    ("failed", None, "failed"),
]


def test_expired_is_one_rule_in_python_and_sql(engine) -> None:
    owner = make_tenant(engine)
    now = int(time.time())  # expires_at holds whole seconds: a float would be rounded on PostgreSQL
    ids = {}
    with db.writing(engine) as conn:
        principal = auth.authenticate(conn, owner.creds)
        for state, delta, _ in CASES:
            rid = secrets.token_hex(12)
            exports_repo.create(conn, principal, {}, id=rid, format="csv", title="t")
            expires = None if delta is None else now + delta
            conn.execute(
                export_requests.update().where(export_requests.c.id == rid).values(state=state, expires_at=expires)
            )
            ids[rid] = (state, expires)
        rows = conn.execute(
            sa.select(export_requests.c.id, jobs.shown_state_sql(now).label("shown")).where(
                export_requests.c.id.in_(list(ids))
            )
        ).all()
    in_sql = {row.id: row.shown for row in rows}
    in_python = {rid: jobs.shown_state(SimpleNamespace(state=s, expires_at=e), now) for rid, (s, e) in ids.items()}
    assert in_sql == in_python
    assert sorted(in_python.values()) == sorted(shown for _, _, shown in CASES)
    with db.writing(engine) as conn:
        conn.execute(export_requests.delete().where(export_requests.c.id.in_(list(ids))))
