"""Authentication and permissions (§3, §4): login, logout, sessions, tokens, isolation, throttling."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import auth, db
from callreport.app import create_app
from callreport.models import credentials, login_failures, users
from callreport.settings import Settings
from tests.factories import call, make_tenant

INVALID_LOGIN = {"status": "error", "message": "Invalid username or password", "code": 1014}
INVALID_TOKEN = {"status": "error", "message": "Invalid token", "code": 1014}
DENIED = {"status": "error", "message": "Permission denied", "code": 1015}
READ_ENDPOINTS = ["list", "masklist", "reportCount", "summary", "detail"]


def record(call_id: str, **over) -> dict:
    """A valid call record."""
    rec = {
        "callId": call_id,
        "startTime": "2024-06-01T09:00:00+00:00",
        "endTime": "2024-06-01T09:02:00+00:00",
        "duration": 120,
        "talkDuration": 100,
        "direction": "inbound",
        "callType": "ivr",
        "status": "answered",
        "callerNumber": "+919876543210",
        "customerNumber": "+91 98765-43210",
        "didNumber": "+911140001234",
        "agentId": "A1",
        "agentName": "Asha",
    }
    return {**rec, **over}


def login(client: TestClient, username: str, password: str) -> dict:
    """The body of a login."""
    return call(client, "login", {"username": username, "password": password}, family="auth")


def count(client: TestClient, creds: dict) -> dict:
    """The body of a reportCount with these credentials (an error's optional detail dropped)."""
    return plain(call(client, "reportCount", creds))


def plain(body: dict) -> dict:
    """The body without the optional `detail` sentence, which §2 allows on any error."""
    return {k: v for k, v in body.items() if k != "detail"}


class Clock:
    """auth's view of the time, stopped and moved by tests (the rest of the process keeps the real
    clock), so a loaded machine cannot stretch the seconds between two steps of a test."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=c.time))
    return c


# --- login and logout --------------------------------------------------------------------------


def test_login_opens_a_session_and_logout_ends_it(client, engine, settings):
    t = make_tenant(engine, timezone="Asia/Kolkata")
    before = time.time()
    got = login(client, t.username, t.password)
    assert set(got) == {"status", "ssid", "userId", "expiresAt"}
    assert got["status"] == "success" and got["userId"] == t.user_id
    assert isinstance(got["ssid"], str) and len(got["ssid"]) >= 32
    expires = datetime.fromisoformat(got["expiresAt"])
    assert expires.tzinfo is not None
    assert abs(expires.timestamp() - (before + settings.session_ttl_seconds)) < 5
    assert count(client, {"ssid": got["ssid"]}) == {"status": "success", "count": 0}
    assert call(client, "logout", {"ssid": got["ssid"]}, family="auth") == {"status": "success"}
    assert count(client, {"ssid": got["ssid"]}) == INVALID_TOKEN
    # The user's other credentials live on.
    assert count(client, t.creds)["status"] == "success"


def test_logout_of_a_dead_or_unknown_ssid_is_1014(client, engine):
    t = make_tenant(engine)
    ssid = login(client, t.username, t.password)["ssid"]
    assert call(client, "logout", {"ssid": ssid}, family="auth")["status"] == "success"
    assert plain(call(client, "logout", {"ssid": ssid}, family="auth")) == INVALID_TOKEN
    assert plain(call(client, "logout", {"ssid": "never-issued"}, family="auth")) == INVALID_TOKEN


def test_wrong_password_and_unknown_user_answer_the_same(client, engine):
    t = make_tenant(engine)
    wrong = client.post("/api/v2/auth/login", json={"username": t.username, "password": t.password + "x"})
    unknown = client.post("/api/v2/auth/login", json={"username": t.username + "zz", "password": t.password})
    assert wrong.json() == INVALID_LOGIN
    assert wrong.content == unknown.content
    assert wrong.headers["etag"] == unknown.headers["etag"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "u"},
        {"username": 5, "password": "p"},
        {"username": "u", "password": "p", "x": 1},
        {"username": "", "password": "p"},
    ],
)
def test_malformed_login_is_1000(client, body):
    got = call(client, "login", body, family="auth")
    assert (got["code"], got["message"]) == (1000, "Invalid parameters")


# --- sessions and tokens -----------------------------------------------------------------------


def test_session_expires_after_its_ttl(client, engine, clock):
    t = make_tenant(engine)
    start = clock.now
    with db.writing(engine) as conn:
        ssid, expires = auth.issue(conn, t.user_id, "session", 60)
    assert expires == int(start) + 60
    assert count(client, {"ssid": ssid})["status"] == "success"
    clock.now = start + 55
    assert count(client, {"ssid": ssid})["status"] == "success"
    clock.now = start + 61
    assert count(client, {"ssid": ssid}) == INVALID_TOKEN
    # A token without expiry is untouched by the passing time; one with an expiry is not.
    assert count(client, t.creds)["status"] == "success"
    clock.now = start
    with db.writing(engine) as conn:
        short, _ = auth.issue(conn, t.user_id, "token", 60)
    assert count(client, {"userId": t.user_id, "token": short})["status"] == "success"
    clock.now = start + 61
    assert count(client, {"userId": t.user_id, "token": short}) == INVALID_TOKEN


def test_session_ttl_setting_sets_login_expiry(engine, local_storage, tmp_path):
    s = Settings(data_dir=tmp_path, embedded_worker=False, session_ttl_seconds=90)
    t = make_tenant(engine)
    with TestClient(create_app(s, engine=engine, storage=local_storage)) as c:
        got = login(c, t.username, t.password)
    assert datetime.fromisoformat(got["expiresAt"]).timestamp() - time.time() == pytest.approx(90, abs=3)


def test_token_answers_only_with_its_own_user_id(client, engine):
    a = make_tenant(engine)
    a2 = make_tenant(engine, account_id=a.account_id)
    b = make_tenant(engine)
    assert count(client, a.creds)["status"] == "success"
    for other in [a2.user_id, b.user_id, "x" * 24]:
        assert count(client, {"userId": other, "token": a.token}) == INVALID_TOKEN
    # An ssid is not a token, and a token is not an ssid.
    ssid = login(client, a.username, a.password)["ssid"]
    assert count(client, {"userId": a.user_id, "token": ssid}) == INVALID_TOKEN
    assert count(client, {"ssid": a.token}) == INVALID_TOKEN


def test_revoke_stops_credentials_at_once(client, engine):
    t = make_tenant(engine)
    ssid = login(client, t.username, t.password)["ssid"]
    with db.writing(engine) as conn:
        second, _ = auth.issue(conn, t.user_id, "token", None)
        assert auth.revoke(conn, t.user_id, "token") == 2
    assert count(client, t.creds) == INVALID_TOKEN
    assert count(client, {"userId": t.user_id, "token": second}) == INVALID_TOKEN
    assert count(client, {"ssid": ssid})["status"] == "success"  # sessions are another kind
    with db.writing(engine) as conn:
        assert auth.revoke(conn, t.user_id, "session") == 1
        assert auth.revoke(conn, t.user_id, "session") == 0
    assert count(client, {"ssid": ssid}) == INVALID_TOKEN
    with db.writing(engine) as conn:
        fresh, _ = auth.issue(conn, t.user_id, "token", None)
    assert count(client, {"userId": t.user_id, "token": fresh})["status"] == "success"


def test_secrets_are_stored_only_as_hashes(client, engine):
    t = make_tenant(engine)
    ssid = login(client, t.username, t.password)["ssid"]
    with engine.connect() as conn:
        user_rows = conn.execute(sa.select(users).where(users.c.id == t.user_id)).fetchall()
        cred_rows = conn.execute(sa.select(credentials).where(credentials.c.user_id == t.user_id)).fetchall()
    assert len(user_rows) == 1 and len(cred_rows) == 2
    stored = repr([tuple(r) for r in user_rows + cred_rows])
    for secret in (t.password, t.token, ssid):
        assert secret not in stored
    assert t.password not in user_rows[0].password_hash
    assert auth.verify_password(t.password, user_rows[0].password_hash)
    assert {r.secret_hash for r in cred_rows} == {auth.hash_secret(t.token), auth.hash_secret(ssid)}


# --- accounts and permissions ------------------------------------------------------------------


def test_an_account_never_sees_another_accounts_calls(client, engine):
    a, b = make_tenant(engine), make_tenant(engine)
    assert (
        call(client, "ingest", {**a.creds, "calls": [record("shared", agentName="A side"), record("a-only")]})[
            "inserted"
        ]
        == 2
    )
    assert (
        call(client, "ingest", {**b.creds, "calls": [record("shared", agentName="B side"), record("b-only")]})[
            "inserted"
        ]
        == 2
    )
    b_ssid = login(client, b.username, b.password)["ssid"]
    for creds, own, names in [
        (a.creds, {"shared", "a-only"}, {"A side", "Asha"}),
        ({"ssid": b_ssid}, {"shared", "b-only"}, {"B side", "Asha"}),
    ]:
        data = call(client, "list", creds)["data"]
        assert {r["callId"] for r in data} == own
        assert {r["agentName"] for r in data} == names
        assert count(client, creds)["count"] == 2
        totals = call(client, "summary", creds)["totals"]
        assert totals["calls"] == 2
    other = call(client, "detail", {**a.creds, "callId": "b-only"})
    assert other == call(client, "detail", {**a.creds, "callId": "nowhere"})
    assert plain(other) == {"status": "error", "message": "Call Not Exists", "code": 1009}
    assert call(client, "detail", {**a.creds, "callId": "shared"})["data"]["agentName"] == "A side"


def test_list_call_log_is_needed_by_every_read_endpoint(client, engine):
    t = make_tenant(engine, permissions=["VIEW_NUMBER", "INGEST_CALL_LOG", "ADMIN"])
    for name in READ_ENDPOINTS:
        body = {**t.creds, "callId": "x"} if name == "detail" else t.creds
        assert plain(call(client, name, body)) == DENIED, name
    # ingest needs only its own permission
    assert call(client, "ingest", {**t.creds, "calls": [record("p1")]})["inserted"] == 1


def test_ingest_needs_ingest_call_log(client, engine):
    t = make_tenant(engine, permissions=["LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN"])
    assert plain(call(client, "ingest", {**t.creds, "calls": [record("p2")]})) == DENIED
    assert count(client, t.creds)["count"] == 0


def test_numbers_are_masked_without_view_number(client, engine):
    full = make_tenant(engine)
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=full.account_id)
    short = record("short", callerNumber="1234", customerNumber="+1 23")
    assert call(client, "ingest", {**full.creds, "calls": [record("m1"), short]})["inserted"] == 2
    shown = {r["callId"]: r for r in call(client, "list", full.creds)["data"]}
    assert (shown["m1"]["callerNumber"], shown["m1"]["customerNumber"]) == (
        "+919876543210",
        "+91 98765-43210",
    )
    hidden = {r["callId"]: r for r in call(client, "list", masked.creds)["data"]}
    expected = {"m1": ("+91XXXXXXXX10", "+91 XXXXX-XXX10"), "short": ("XXXX", "+X XX")}
    for call_id, (caller, customer) in expected.items():
        assert (hidden[call_id]["callerNumber"], hidden[call_id]["customerNumber"]) == (caller, customer)
        assert hidden[call_id]["didNumber"] == shown[call_id]["didNumber"]  # never masked
        one = call(client, "detail", {**masked.creds, "callId": call_id})["data"]
        assert (one["callerNumber"], one["customerNumber"]) == (caller, customer)
    assert call(client, "detail", {**full.creds, "callId": "m1"})["data"]["callerNumber"] == "+919876543210"
    # masklist masks for everyone
    assert {r["callerNumber"] for r in call(client, "masklist", full.creds)["data"]} == {
        "+91XXXXXXXX10",
        "XXXX",
    }


# --- login throttling --------------------------------------------------------------------------


def test_login_is_throttled_per_username_then_released(engine, local_storage, tmp_path, clock):
    window = 2
    s = Settings(data_dir=tmp_path, embedded_worker=False, login_max_failures=3, login_window_seconds=window)
    t, bystander = make_tenant(engine), make_tenant(engine)
    with TestClient(create_app(s, engine=engine, storage=local_storage)) as c:
        for _ in range(3):
            assert login(c, t.username, "wrong") == INVALID_LOGIN
        throttled = login(c, t.username, t.password)
        assert (throttled["code"], throttled["message"]) == (1014, "Invalid username or password")
        assert "try again" in throttled["detail"].lower() or "later" in throttled["detail"].lower()
        assert "ssid" not in throttled
        assert login(c, bystander.username, bystander.password)["status"] == "success"
        clock.now += window - 1
        assert login(c, t.username, t.password)["code"] == 1014  # still inside the window
        # Failures are counted in whole seconds: the window has passed in full one second later.
        clock.now += 2
        got = login(c, t.username, t.password)
        assert got["status"] == "success" and got["userId"] == t.user_id
        assert count(c, {"ssid": got["ssid"]})["status"] == "success"
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).where(login_failures.c.username == t.username)).scalar()
    assert left == 0  # a good login clears the record


def test_unknown_usernames_are_throttled_too(client, engine, clock):
    name = "ghost-" + datetime.now(UTC).strftime("%H%M%S%f")
    answers = [login(client, name, "pw") for _ in range(6)]
    assert answers[:5] == [INVALID_LOGIN] * 5
    assert answers[5]["code"] == 1014 and "detail" in answers[5]
    clock.now += 301
    assert login(client, name, "pw") == INVALID_LOGIN
