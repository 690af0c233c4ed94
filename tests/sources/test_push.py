"""POST /api/v2/sources/freeswitch: mod_json_cdr posts with source credentials, on both databases (§11)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from callreport.cli import app as cli_app
from callreport.models import calls, sources
from tests.factories import call, make_tenant
from tests.fixtures.outages import database_away
from tests.sources.helpers import ONEX, URL, auth, make_source

A_LEG_ID = "51156b0b-f91b-4fd3-9c8f-15226f6098be"  # onex 1's uuid; onex 2 is its B leg
UNREADABLE = {"status": "error", "message": "Invalid Request Data", "code": 1047}


def stored(engine, account: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return conn.execute(sa.select(calls).where(calls.c.account_id == account)).all()


def test_raw_and_form_encoded_posts_store_one_call_from_a_and_b_legs(client, engine):
    account, made = make_source(engine)
    assert made["url"] == "http://pbx.example/api/v2/sources/freeswitch"
    raw_a, raw_b = (p.read_bytes() for p in ONEX)
    resp = client.post(URL, content=raw_a, headers={**auth(made), "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "success", "stored": True, "callId": A_LEG_ID}
    form = b"cdr=" + quote(raw_b.decode()).encode()
    resp = client.post(URL, content=form, headers={**auth(made), "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200, resp.text
    (row,) = stored(engine, account)
    # 1001 called 1003 (B leg rang from 04:51:52), and 1001 hung up first: one internal, cancelled call.
    assert (row.call_id, row.direction, row.call_type, row.status, row.agent_id) == (
        A_LEG_ID, "outbound", "internal", "cancelled", "1001",
    )  # fmt: skip
    assert len(row.events) == 2  # one event per leg


def test_duplicate_posts_make_one_call(client, engine):
    account, made = make_source(engine)
    for _ in range(3):
        assert client.post(URL, content=ONEX[0].read_bytes(), headers=auth(made)).status_code == 200
    assert len(stored(engine, account)) == 1


def test_internal_call_without_include_internal_is_skipped_with_200(client, engine):
    account, made = make_source(engine, include_internal=False)
    resp = client.post(URL, content=ONEX[0].read_bytes(), headers=auth(made))
    assert resp.status_code == 200 and resp.json() == {"status": "success", "stored": False}
    assert stored(engine, account) == []


@pytest.mark.parametrize("how", ["wrong password", "unknown user", "no header", "bearer", "not base64"])
def test_bad_credentials_are_401_with_a_basic_challenge(client, engine, how):
    account, made = make_source(engine)
    headers = {
        "wrong password": auth(made, "x" * 43),
        "unknown user": auth({**made, "username": "fs-nobody"}),
        "no header": {},
        "bearer": {"Authorization": "Bearer " + made["password"]},
        "not base64": {"Authorization": "Basic ###"},
    }[how]
    resp = client.post(URL, content=ONEX[0].read_bytes(), headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Basic realm=")
    assert resp.json()["code"] == 1014
    assert stored(engine, account) == []


def test_a_revoked_source_is_refused_at_once(client, engine, database_url, tmp_path):
    account, made = make_source(engine)
    assert client.post(URL, content=ONEX[0].read_bytes(), headers=auth(made)).status_code == 200
    env = {"CALLREPORT_DATABASE_URL": database_url, "CALLREPORT_DATA_DIR": str(tmp_path)}
    listed = json.loads(CliRunner().invoke(cli_app, ["source", "list", "--account", account, "--json"], env=env).stdout)
    assert [s["sourceId"] for s in listed["sources"]] == [made["sourceId"]]
    assert "password" not in listed["sources"][0] and listed["sources"][0]["revokedAt"] is None
    result = CliRunner().invoke(cli_app, ["source", "revoke", "--source", made["sourceId"], "--json"], env=env)
    assert json.loads(result.stdout) == {"revoked": 1}
    assert client.post(URL, content=ONEX[1].read_bytes(), headers=auth(made)).status_code == 401


def test_source_create_prints_credentials_and_keeps_only_a_hash(engine, database_url, tmp_path):
    account = make_tenant(engine).account_id
    env = {"CALLREPORT_DATABASE_URL": database_url, "CALLREPORT_DATA_DIR": str(tmp_path)}
    args = ["source", "create", "freeswitch", "--account", account, "--base-url", "https://cr.example/", "--json"]
    out = json.loads(CliRunner().invoke(cli_app, args, env=env).stdout)
    assert list(out) == ["sourceId", "url", "username", "password"]
    assert out["url"] == "https://cr.example/api/v2/sources/freeswitch" and len(out["password"]) >= 40
    with engine.connect() as conn:
        row = conn.execute(sa.select(sources).where(sources.c.id == out["sourceId"])).one()
    assert out["password"] not in row.secret_hash and row.secret_hash != out["password"]


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[1, 2]", b'{"variables": {"uuid": "u"}}', b"cdr=%7Bnope", b"uuid=1&x=2"]
)
def test_a_body_it_cannot_read_is_400_with_1047(client, engine, body):
    account, made = make_source(engine)
    resp = client.post(URL, content=body, headers=auth(made))
    assert resp.status_code == 400
    assert {k: resp.json()[k] for k in ("status", "message", "code")} == UNREADABLE
    assert stored(engine, account) == []


def test_posts_while_the_database_is_away_are_503_then_stored_on_retry(client, engine, backend):
    if backend != "postgresql":
        pytest.skip("only PostgreSQL can be taken away from a running app")
    account, made = make_source(engine)
    body = ONEX[0].read_bytes()
    with database_away(SimpleNamespace(engine=engine)):
        resp = client.post(URL, content=body, headers=auth(made))
        assert resp.status_code == 503
        assert resp.json() == {"status": "error", "message": "Error in DB connect", "code": 1010}
    resp = client.post(URL, content=body, headers=auth(made))  # FreeSWITCH's retry
    assert resp.status_code == 200, resp.text
    assert len(stored(engine, account)) == 1


def test_the_contract_api_still_answers_beside_it(client, engine):
    tenant = make_tenant(engine)
    assert call(client, "reportCount", tenant.creds) == {"status": "success", "count": 0}
