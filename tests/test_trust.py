"""Issue 8 items 1, 3 and 7: sealed cursors, the customerNumber oracle and the smaller holes
(timezone folders, slash redirects, security headers, token expiry), on both backends."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import threading
import urllib.error
import urllib.request
from datetime import datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callreport import cursors, db, sealing, zones
from callreport.app import create_app
from callreport.cli import app as cli_app
from callreport.models import server_keys
from callreport.worker import Worker
from tests.factories import call, make_tenant
from tests.fixtures.procs import serving
from tests.fixtures.s3 import free_port

NUMBERS = [f"+91 98{i:03d}-4{i:04d}" for i in range(12)]  # every digit group differs per call
MASKED = ["LIST_CALL_LOG"]


def rec(i: int) -> dict:
    """A call whose customer number and id are easy to recognise in any encoding."""
    return {
        "callId": f"secret-call-{i:02d}",
        "startTime": f"2024-05-{1 + i:02d}T10:00:00Z",
        "endTime": f"2024-05-{1 + i:02d}T10:01:00Z",
        "duration": 60 + i,
        "talkDuration": 30,
        "direction": "inbound",
        "callType": "ivr",
        "status": "answered",
        "callerNumber": "+442079460000",
        "customerNumber": NUMBERS[i],
        "didNumber": "+442079460001",
        "agentId": f"a{i % 3}",
        "agentName": f"Agent {i % 3}",
    }


@pytest.fixture(scope="module")
def acct(engine, client):
    """An account with 12 calls; an all-permissions user and two users without VIEW_NUMBER."""
    admin = make_tenant(engine)
    assert call(client, "ingest", {**admin.creds, "calls": [rec(i) for i in range(12)]})["inserted"] == 12
    masked = make_tenant(engine, MASKED, account_id=admin.account_id)
    other = make_tenant(engine, MASKED, account_id=admin.account_id)
    return admin, masked, other


def walk(client, creds: dict, body: dict) -> tuple[list[str], list[str]]:
    """Every page by cursor: the callIds in order and the cursors seen."""
    ids, cursors, cursor = [], [], None
    while True:
        page = call(client, "list", {**creds, **body, **({"cursor": cursor} if cursor else {})})
        assert page["status"] == "success", page
        ids += [r["callId"] for r in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            return ids, cursors
        cursors.append(cursor)


# --- item 1: sealed cursors --------------------------------------------------------------------


def test_cursors_reveal_no_number_and_no_id(client, acct) -> None:
    admin, _, _ = acct  # a cursor reveals nothing, whoever holds it (masked users cannot sort by number)
    body = {"sortBy": "customerNumber", "sortOrder": "asc", "limit": 1}
    ids, cursors = walk(client, admin.creds, body)
    assert ids == [f"secret-call-{i:02d}" for i in range(12)]  # every call once, in number order
    assert len(cursors) == 11 and len(set(cursors)) == 11
    for cursor in cursors:
        assert re.fullmatch(r"[A-Za-z0-9_-]{40,200}", cursor), cursor  # compact and URL-safe
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        for secret in [*NUMBERS, *(re.sub(r"\D", "", n) for n in NUMBERS), "secret-call"]:
            assert secret.encode() not in raw and secret not in cursor


def test_cursor_bound_to_user_filters_and_sort(client, acct) -> None:
    _, masked, other = acct
    body = {"sortBy": "duration", "limit": 2, "agentIds": ["a1", "a0"], "timezone": "Asia/Kolkata"}
    cursor = call(client, "list", {**masked.creds, **body})["nextCursor"]

    def detail(who, **changes) -> str:
        got = call(client, "list", {**who.creds, **body, **changes, "cursor": cursor})
        assert (got["status"], got["code"]) == ("error", 1000), got
        return got["detail"]

    assert "another user" in detail(other)
    assert "sortBy or sortOrder" in detail(masked, sortOrder="asc")
    assert "sortBy or sortOrder" in detail(masked, sortBy="talkDuration")
    for changes in [{"agentIds": ["a1"]}, {"timezone": "UTC"}, {"startDate": "2024-05-02"}, {"minDuration": 0}]:
        assert "other filters" in detail(masked, **changes), changes
    tampered = cursor[:20] + ("A" if cursor[20] != "A" else "B") + cursor[21:]
    for bad in (tampered, cursor[:-4], "garbage", "e30", base64.urlsafe_b64encode(b'["duration","desc",60,"x"]')):
        bad = bad.decode() if isinstance(bad, bytes) else bad
        got = call(client, "list", {**masked.creds, **body, "cursor": bad})
        assert got["code"] == 1000 and "not a cursor this service made" in got["detail"], bad
    # The same filters in another order, another page or limit: the same position.
    same = call(client, "list", {**masked.creds, **body, "agentIds": ["a0", "a1", "a0"], "page": 9, "cursor": cursor})
    assert same["status"] == "success" and len(same["data"]) == 2
    assert call(client, "masklist", {**masked.creds, **body, "cursor": cursor})["status"] == "success"


def test_cursor_lasts_48_hours(client, acct, monkeypatch) -> None:
    _, masked, _ = acct
    cursor = call(client, "list", {**masked.creds, "limit": 3})["nextCursor"]
    now = int(datetime.now().timestamp())
    monkeypatch.setattr(cursors, "epoch_now", lambda: now + 47 * 3600)
    assert call(client, "list", {**masked.creds, "limit": 3, "cursor": cursor})["status"] == "success"
    monkeypatch.setattr(cursors, "epoch_now", lambda: now + 49 * 3600)
    got = call(client, "list", {**masked.creds, "limit": 3, "cursor": cursor})
    assert got["code"] == 1000 and "expired" in got["detail"]


def test_cursor_survives_a_restart_and_another_process(client, acct, database_url, settings, local_storage) -> None:
    _, masked, _ = acct
    body = {"sortBy": "agentName", "limit": 5}
    first = call(client, "list", {**masked.creds, **body})
    second = db.make_engine(database_url)  # as another process (or this one restarted) would
    try:
        with TestClient(create_app(settings, engine=second, storage=local_storage)) as c2:
            got = call(c2, "list", {**masked.creds, **body, "cursor": first["nextCursor"]})
    finally:
        second.dispose()
    assert got["status"] == "success" and len(got["data"]) == 5
    assert got["data"][0]["callId"] not in {r["callId"] for r in first["data"]}


def test_server_key_made_once_under_a_race(database_url) -> None:
    name = f"race-{secrets.token_hex(4)}"
    engines = [db.make_engine(database_url) for _ in range(6)]
    barrier, keys = threading.Barrier(len(engines)), []

    def make(engine: sa.Engine) -> None:
        barrier.wait()
        keys.append(sealing._stored_key(engine, name))

    threads = [threading.Thread(target=make, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        with engines[0].connect() as conn:
            rows = conn.execute(sa.select(server_keys.c.secret).where(server_keys.c.name == name)).all()
    finally:
        for e in engines:
            e.dispose()
    assert len(keys) == 6 and len(set(keys)) == 1 and len(keys[0]) == 32
    assert [bytes.fromhex(r.secret) for r in rows] == keys[:1]


def test_key_is_read_once_per_engine(engine, client, acct) -> None:
    _, masked, _ = acct
    call(client, "list", {**masked.creds, "limit": 1})  # the key is cached from here on
    seen: list[str] = []

    def spy(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", spy)
    try:
        _, cursors = walk(client, masked.creds, {"limit": 4})
    finally:
        sa.event.remove(engine, "before_cursor_execute", spy)
    assert len(cursors) == 2 and seen and not [s for s in seen if "server_keys" in s]


# --- item 3: the customerNumber oracle -----------------------------------------------------------

# exportJsonl is not built yet; it goes through the same `resolved` as the other exports.
FILTER_ENDPOINTS = ["list", "masklist", "reportCount", "summary", "exportCsv", "exportExcel", "exportPdf"]


@pytest.mark.parametrize("name", FILTER_ENDPOINTS)
def test_short_number_filter_needs_view_number(client, acct, name: str) -> None:
    admin, masked, _ = acct
    for short in ("0", "40011", "01-40011"):  # 1, 5 and 7 digits
        got = call(client, name, {**masked.creds, "customerNumber": short})
        assert (got["code"], got["message"]) == (1000, "Invalid parameters"), got
        assert "customerNumber" in got["detail"] and "8 digits" in got["detail"]
    if name.startswith("export"):
        return
    assert call(client, name, {**masked.creds, "customerNumber": "001-40001"})["status"] == "success"
    assert call(client, name, {**admin.creds, "customerNumber": "1"})["status"] == "success"


@pytest.mark.parametrize("name", FILTER_ENDPOINTS)
def test_sorting_by_number_needs_view_number(client, acct, name: str) -> None:
    """The order of hidden numbers is an oracle too (probe calls sorted among them), so it is refused."""
    admin, masked, _ = acct
    got = call(client, name, {**masked.creds, "sortBy": "customerNumber"})
    assert (got["code"], got["message"]) == (1000, "Invalid parameters"), got
    assert "sortBy customerNumber" in got["detail"] and "VIEW_NUMBER" in got["detail"]
    assert call(client, name, {**masked.creds, "sortBy": "agentName"})["status"] == "success"
    assert call(client, name, {**admin.creds, "sortBy": "customerNumber"})["status"] == "success"


def test_digit_by_digit_attack_is_refused(client, acct) -> None:
    _, masked, _ = acct
    # The attack: find the last digit with a 1-digit suffix, then extend it one digit at a time.
    answers = [call(client, "reportCount", {**masked.creds, "customerNumber": str(d)}) for d in range(10)]
    assert all(a["code"] == 1000 for a in answers)
    for length in range(2, 8):
        assert call(client, "reportCount", {**masked.creds, "customerNumber": "4" + "0" * (length - 1)})["code"] == 1000
    exact = re.sub(r"\D", "", NUMBERS[3])[-8:]
    assert call(client, "reportCount", {**masked.creds, "customerNumber": exact})["count"] == 1


# --- item 7: the smaller holes -----------------------------------------------------------------------

NOT_ZONES = ["Asia", "America", "Etc", "__pycache__", "../etc", "Asia/", "/etc/localtime", "", "Mars/Base"]


@pytest.mark.parametrize("zone", NOT_ZONES)
def test_timezone_folders_are_1000(client, acct, zone: str) -> None:
    admin, _, _ = acct
    for name, extra in [("list", {}), ("reportCount", {}), ("summary", {}), ("detail", {"callId": "x"})]:
        got = call(client, name, {**admin.creds, **extra, "timezone": zone})
        assert (got["code"], got["message"]) == (1000, "Invalid parameters") and "timezone" in got["detail"], got
    with pytest.raises(ValueError):
        zones.check_timezone(zone)


def test_account_create_refuses_a_timezone_folder(tmp_path) -> None:
    env = {"CALLREPORT_DATA_DIR": str(tmp_path), "CALLREPORT_DATABASE_URL": None}
    for zone in ("Asia", "../etc"):
        result = CliRunner().invoke(cli_app, ["account", "create", "x", "--timezone", zone, "--json"], env=env)
        assert result.exit_code == 1 and "unknown timezone" in json.loads(result.stdout)["message"]
    assert zones.check_timezone("Asia/Kolkata") == "Asia/Kolkata"


@pytest.mark.parametrize(
    "path",
    ["/api/v2/callreport/reportCount//", "/api/v2/callreport//reportCount", "/api/v2//callreport/reportcount/"],
)
def test_paths_never_redirect(client, acct, path: str) -> None:
    admin, _, _ = acct
    resp = client.post(path, json=admin.creds, headers={"Host": "attacker.example"}, follow_redirects=False)
    assert resp.status_code == 404 and "location" not in resp.headers
    assert resp.json()["status"] == "error" and resp.json()["code"] == 1000
    assert client.get("/docs/", follow_redirects=False).status_code == 404
    assert client.post("/api/v2/CallReport/reportCount/", json=admin.creds).json()["count"] == 12


def assert_safe_headers(resp) -> None:
    assert resp.headers.get("x-content-type-options") == "nosniff", (resp.request.url, resp.headers)
    assert resp.headers.get("cache-control") == "no-store", (resp.request.url, resp.headers)
    assert "server" not in resp.headers


def test_every_response_carries_the_security_headers(client, engine, settings, local_storage, acct) -> None:
    admin, _, _ = acct
    ok = client.post("/api/v2/callreport/reportCount", json=admin.creds)
    bad = client.post("/api/v2/callreport/reportCount", content=b"nope")
    missing = client.post("/api/v2/callreport/nothing", json={})
    wrong = client.get("/api/v2/callreport/reportCount")
    assert (ok.status_code, bad.json()["code"], missing.status_code, wrong.status_code) == (200, 1047, 404, 405)
    assert wrong.headers["allow"] == "POST" and wrong.json()["code"] == 1000
    export = call(client, "exportCsv", {**admin.creds, "callIds": ["secret-call-01"]})
    worker = Worker(engine, local_storage, settings, name="trust")
    while worker.run_one() is not None:
        pass
    download = client.post("/api/v2/callreport/downloadCsv", json={**admin.creds, "requestId": export["requestId"]})
    assert download.status_code == 200 and b"secret-call-01" in download.content
    others = [client.options("/api/v2/callreport/list"), client.get("/docs"), client.get("/openapi.json")]
    for resp in [ok, bad, missing, wrong, download, *others]:
        assert_safe_headers(resp)


def test_live_server_names_no_implementation(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLREPORT_")}
    env.update({"CALLREPORT_DATA_DIR": str(tmp_path), "CALLREPORT_EMBEDDED_WORKER": "false"})
    port = free_port()
    with serving(port, env, tmp_path / "serve.log"):
        base = f"http://127.0.0.1:{port}"
        answers = [urllib.request.urlopen(f"{base}/healthz", timeout=5)]
        post = urllib.request.Request(f"{base}/api/v2/callreport/list", data=b"{}", method="POST")
        answers.append(urllib.request.urlopen(post, timeout=5))
        with pytest.raises(urllib.error.HTTPError) as not_found:
            urllib.request.urlopen(f"{base}/api/v2/callreport/list//", timeout=5)
        answers.append(not_found.value)
        for resp in answers:
            assert resp.headers.get("server") is None, dict(resp.headers)
            assert resp.headers.get("x-content-type-options") == "nosniff"
        assert not_found.value.code == 404


@pytest.mark.parametrize("days", ["0", "-1", "1.5", "abc", "", " ", "²", "99999999999"])
def test_token_expiry_must_be_whole_days_from_one(tmp_path, days: str) -> None:
    env = {"CALLREPORT_DATA_DIR": str(tmp_path), "CALLREPORT_DATABASE_URL": None}
    runner = CliRunner()
    account = json.loads(runner.invoke(cli_app, ["account", "create", "t", "--json"], env=env).stdout)["accountId"]
    args = ["user", "create", "--account", account, "--username", "u", "--password", "p", "--json"]
    user = json.loads(runner.invoke(cli_app, args, env=env).stdout)["userId"]
    create = ["token", "create", "--user", user, "--expires-days", days]
    as_json = runner.invoke(cli_app, [*create, "--json"], env=env)
    assert as_json.exit_code != 0
    out = json.loads(as_json.stdout)
    assert out["status"] == "error" and "--expires-days" in out["message"]
    plain = runner.invoke(cli_app, create, env=env)
    assert plain.exit_code != 0 and "--expires-days" in plain.stderr and "token" not in plain.stdout
    good = json.loads(runner.invoke(cli_app, [*create[:-1], "1", "--json"], env=env).stdout)
    assert 86000 < datetime.fromisoformat(good["expiresAt"]).timestamp() - datetime.now().timestamp() < 86500
