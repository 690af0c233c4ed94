"""The contract's transport (§1), envelope and error codes (§2), precise rules on sizes and types (§9)."""

from __future__ import annotations

import json
import logging
import re
import secrets

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import db
from callreport.app import create_app
from callreport.repo import calls as calls_repo
from tests.factories import call, fresh_pg_database, make_tenant
from tests.fixtures.outages import database_away

MIB = 1 << 20
CORS = {
    "access-control-allow-methods": "GET, PUT, POST, DELETE, OPTIONS",
    "access-control-allow-headers": "session-token, Authorization, Origin, Accept, Content-Type, DNT, "
    "Keep-Alive, User-Agent, X-Requested-With, If-Modified-Since, Cache-Control, Content-Range, Range",
    "access-control-allow-credentials": "true",
    "access-control-max-age": "1728000",
    "strict-transport-security": "max-age=15724800; includeSubDomains",
    "vary": "Origin",
}
WEAK_ETAG = re.compile(r'^W/"[^"]+"$')
COUNT = "/api/v2/callreport/reportCount"


@pytest.fixture(scope="module")
def who(engine: sa.Engine):
    """One all-permissions tenant per backend for this module (it never ingests)."""
    return make_tenant(engine)


def post(client: TestClient, path: str, content: bytes | str | None, headers: dict | None = None):
    """POST raw bytes, exactly as given."""
    return client.post(path, content=content, headers=headers or {})


def envelope(resp) -> dict:
    """The decoded body of an HTTP 200 error envelope."""
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "error", body
    return body


def error_of(client: TestClient, body: dict, name: str = "reportCount") -> dict:
    """POST a body that must fail; return its envelope."""
    return envelope(client.post(f"/api/v2/callreport/{name}", json=body))


# --- paths and bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2/callreport/reportCount",
        "/api/v2/CallReport/reportCount",
        "/api/v2/callreport/reportcount",
        "/API/V2/CALLREPORT/REPORTCOUNT",
        "/api/v2/CallReport/reportCount/",
        "/api/v2/callreport/reportcount/",
    ],
)
def test_paths_match_in_any_case_and_with_one_trailing_slash(client, who, path):
    resp = client.post(path, json=who.creds)
    assert resp.status_code == 200
    assert resp.json() == {"status": "success", "count": 0}


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream"],
)
def test_body_is_json_whatever_the_content_type(client, who, content_type):
    # Spaced and multi-line, as the reference's curl example sends it.
    raw = json.dumps(who.creds, indent=2)
    headers = {"content-type": content_type} if content_type else {}
    resp = post(client, COUNT, raw.encode(), headers)
    assert resp.status_code == 200
    assert resp.json() == {"status": "success", "count": 0}


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \n",
        b"{",
        b"not json",
        b"ssid=abc&requestId=def",
        b"[]",
        b'[{"ssid": "x"}]',
        b'"text"',
        b"42",
        b"null",
        b"true",
        b'{"ssid": "x",}',
        b"\xff\xfe{}",
    ],
)
def test_a_body_that_is_not_one_json_object_is_1047(client, raw):
    body = envelope(post(client, COUNT, raw, {"content-type": "application/json"}))
    assert (body["code"], body["message"]) == (1047, "Invalid Request Data")


def test_deep_nesting_is_1047_and_moderate_nesting_is_not(client, who):
    deep = {**who.creds, "x": json.loads("[" * 40 + "]" * 40)}
    assert error_of(client, deep)["code"] == 1047
    hostile = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert envelope(post(client, COUNT, hostile))["code"] == 1047
    shallow = {**who.creds, "x": json.loads("[" * 5 + "]" * 5)}
    body = error_of(client, shallow)
    assert body["code"] == 1000 and "x" in body["detail"]


def test_body_over_one_mib_is_1047_and_one_mib_is_read(client, who):
    def body_of(size: int) -> bytes:
        head = json.dumps({**who.creds, "pad": ""}).encode()[:-2]
        return head + b"x" * (size - len(head) - 2) + b'"}'

    exact = body_of(MIB)
    assert len(exact) == MIB
    # Read, parsed and refused for its unknown field: not a body error.
    assert envelope(post(client, COUNT, exact))["code"] == 1000
    over = body_of(MIB + 1)
    assert envelope(post(client, COUNT, over))["code"] == 1047
    # Without a Content-Length (chunked), the limit still holds.
    chunks = iter([over[i : i + 65536] for i in range(0, len(over), 65536)])
    assert envelope(post(client, COUNT, chunks))["code"] == 1047


def test_ingest_accepts_bodies_over_one_mib_up_to_32_mib(client, engine):
    t = make_tenant(engine)
    pad = "p" * 10_000
    calls = [
        {
            "callId": f"big-{i}",
            "startTime": "2024-05-01T10:00:00+00:00",
            "endTime": "2024-05-01T10:01:00+00:00",
            "duration": 60,
            "direction": "inbound",
            "callType": "ivr",
            "status": "answered",
            "callerNumber": "+15550000001",
            "customerNumber": "+15550000002",
            "didNumber": "+15550000003",
            "callAnalysis": {"note": pad},
        }
        for i in range(150)
    ]
    raw = json.dumps({**t.creds, "calls": calls}).encode()
    assert len(raw) > MIB
    assert call(client, "ingest", None, content=raw) == {"status": "success", "inserted": 150, "updated": 0}
    # The same size is over the limit everywhere else.
    assert envelope(post(client, COUNT, raw))["code"] == 1047
    huge = b'{"calls": ["' + b"x" * (32 * MIB) + b'"]}'
    assert envelope(post(client, "/api/v2/callreport/ingest", huge))["code"] == 1047


# --- HTTP status, 404, 405, headers ------------------------------------------------------------


def test_every_api_outcome_is_http_200(client, who, engine):
    weak = make_tenant(engine, permissions=["VIEW_NUMBER"])
    bodies = [
        b"",  # 1047
        b"{}",  # 1000: no credentials
        json.dumps({"ssid": "nope"}).encode(),  # 1014
        json.dumps(weak.creds).encode(),  # 1015
        json.dumps({**who.creds, "limit": "10"}).encode(),  # 1000
    ]
    codes = []
    for raw in bodies:
        resp = post(client, "/api/v2/callreport/list", raw)
        assert resp.status_code == 200
        codes.append(resp.json()["code"])
    assert codes == [1047, 1000, 1014, 1015, 1000]
    detail = client.post("/api/v2/callreport/detail", json={**who.creds, "callId": "none"})
    assert detail.status_code == 200
    assert detail.json() == {"status": "error", "message": "Call Not Exists", "code": 1009}


def test_unknown_path_and_wrong_method_answer_with_the_envelope(client):
    for resp, status in [
        (client.post("/api/v2/callreport/noSuchThing", json={}), 404),
        (client.get("/api/v2/callreport/list"), 405),
        (client.put("/api/v2/CallReport/List/", json={}), 405),
    ]:
        assert resp.status_code == status
        body = resp.json()
        assert body["status"] == "error"
        assert isinstance(body["message"], str) and body["message"]
        assert isinstance(body["code"], int)
        assert set(body) <= {"status", "message", "code", "detail"}
        assert_contract_headers(resp, "*")
    outside = client.post("/nothing/here", json={}, headers={"Origin": "https://app.example.com"})
    assert outside.status_code == 404 and outside.json()["status"] == "error"
    assert_no_cors(outside)  # §10: no CORS outside /api/


def assert_contract_headers(resp, origin: str) -> None:
    """Every header of §1, each exactly once, with the contract's value."""
    for name, value in {**CORS, "access-control-allow-origin": origin}.items():
        assert resp.headers.get_list(name) == [value], name


def assert_no_cors(resp) -> None:
    """§10: paths outside /api/ send no CORS header at all."""
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")], resp.headers


@pytest.mark.parametrize("origin", [None, "https://app.example.com"])
def test_preflight_is_204_with_cors_headers_and_no_etag(client, origin):
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    if origin:
        headers["Origin"] = origin
    for path in ["/api/v2/CallReport/downloadPdf", "/api/v2/auth/login", "/api/anything/at/all"]:
        resp = client.options(path, headers=headers)
        assert resp.status_code == 204
        assert resp.content == b""
        assert_contract_headers(resp, origin or "*")
        assert "etag" not in resp.headers
    for path in ["/anything/at/all", "/calls", "/login"]:  # §10: no preflight answer outside /api/
        resp = client.options(path, headers=headers)
        assert resp.status_code != 204
        assert_no_cors(resp)


@pytest.mark.parametrize("origin", [None, "https://crm.example.org"])
def test_every_response_carries_the_contract_headers(client, who, origin):
    headers = {"Origin": origin} if origin else {}
    responses = [
        client.post(COUNT, json=who.creds, headers=headers),  # success
        client.post(COUNT, content=b"", headers=headers),  # 1047
        client.post(COUNT, json={"ssid": "dead"}, headers=headers),  # 1014
        client.post("/api/v2/auth/login", json={"username": "x", "password": "y"}, headers=headers),
        client.post("/api/v2/callreport/missing", json={}, headers=headers),  # 404
        client.get(COUNT, headers=headers),  # 405
    ]
    for resp in responses:
        assert_contract_headers(resp, origin or "*")
        assert resp.headers["content-type"].startswith("application/json")
        assert len(resp.headers.get_list("etag")) == 1
        assert WEAK_ETAG.match(resp.headers["etag"]), resp.headers["etag"]


def test_etag_is_stable_for_the_same_body_and_changes_with_it(client, who, engine):
    first = client.post(COUNT, json=who.creds)
    again = client.post(COUNT, json=who.creds)
    assert first.content == again.content
    assert first.headers["etag"] == again.headers["etag"]
    other = client.post(COUNT, json={"ssid": "dead"})
    assert other.content != first.content
    assert other.headers["etag"] != first.headers["etag"]
    # One more call in the account changes the body of the same request, so its ETag too.
    t = make_tenant(engine)
    before = client.post(COUNT, json=t.creds)
    rec = {
        "callId": "e1",
        "startTime": "2024-01-01T00:00:00Z",
        "endTime": "2024-01-01T00:00:05Z",
        "duration": 5,
        "direction": "outbound",
        "callType": "manual",
        "status": "missed",
        "callerNumber": "100200",
        "customerNumber": "300400",
        "didNumber": "500600",
    }
    assert call(client, "ingest", {**t.creds, "calls": [rec]})["inserted"] == 1
    after = client.post(COUNT, json=t.creds)
    assert (before.json()["count"], after.json()["count"]) == (0, 1)
    assert before.headers["etag"] != after.headers["etag"]


# --- the §2 table and the order of checks -----------------------------------------------------


def test_codes_and_messages_of_the_table(client, who, engine):
    weak = make_tenant(engine, permissions=["VIEW_NUMBER"])
    cases = [
        ({"limit": 0, **who.creds}, "list", 1000, "Invalid parameters"),
        ({"ssid": "x" * 40}, "list", 1014, "Invalid token"),
        ({**weak.creds}, "list", 1015, "Permission denied"),
        ({**who.creds, "callId": "unknown-call"}, "detail", 1009, "Call Not Exists"),
    ]
    for body, name, code, message in cases:
        got = error_of(client, body, name)
        assert (got["code"], got["message"]) == (code, message), (name, got)
    empty = envelope(post(client, "/api/v2/callreport/list", b""))
    assert (empty["code"], empty["message"]) == (1047, "Invalid Request Data")


def test_download_and_export_request_messages_of_the_table(client, who):
    unknown = secrets.token_hex(12)
    for name in ["downloadPdf", "downloadCsv", "downloadExcel"]:
        assert client.post(f"/api/v2/callreport/{name}", json={**who.creds, "requestId": unknown}).json() == {
            "status": "error",
            "message": "File Not Exists",
            "code": 1009,
        }
        for bad in ["xyz", unknown.upper()[:-1] + "g", 12345, None]:
            body = {**who.creds, "requestId": bad} if bad is not None else who.creds
            assert client.post(f"/api/v2/callreport/{name}", json=body).json() == {
                "status": "error",
                "message": "Invalid parameter",
                "code": 1000,
            }
        # A credential-shape error there is the plural message, with no detail.
        assert client.post(f"/api/v2/callreport/{name}", json={"requestId": unknown}).json() == {
            "status": "error",
            "message": "Invalid parameters",
            "code": 1000,
        }
    got = error_of(client, {**who.creds, "requestId": unknown}, "exportStatus")
    assert (got["code"], got["message"]) == (1009, "Request Not Exists")


def test_checks_run_in_the_contract_order(client, who, engine):
    weak = make_tenant(engine, permissions=["VIEW_NUMBER"])
    bad_params = {"limit": "ten", "nonsense": True}
    cases = [
        # body before everything: not JSON, nor an object
        (b'{"ssid": 5, "limit": "x"', 1047),
        (b'[{"ssid": "x"}]', 1047),
        # credential shape before credentials
        (json.dumps({"ssid": 5, **bad_params}).encode(), 1000),
        (json.dumps({"ssid": "dead", "userId": who.user_id, **bad_params}).encode(), 1000),
        # credentials before permission and parameters
        (json.dumps({"userId": weak.user_id, "token": "wrong", **bad_params}).encode(), 1014),
        # permission before parameters
        (json.dumps({**weak.creds, **bad_params}).encode(), 1015),
        # then parameters
        (json.dumps({**who.creds, **bad_params}).encode(), 1000),
    ]
    for raw, code in cases:
        assert envelope(post(client, "/api/v2/callreport/list", raw))["code"] == code, raw


@pytest.mark.parametrize(
    "creds",
    [
        {},
        {"userId": "u"},
        {"token": "t"},
        {"ssid": "s", "userId": "u"},
        {"ssid": "s", "token": "t"},
        {"ssid": "s", "userId": "u", "token": "t"},
        {"ssid": ""},
        {"ssid": None},
        {"ssid": ["s"]},
        {"userId": 1, "token": "t"},
    ],
)
def test_credential_shape_errors_are_1000(client, creds):
    got = error_of(client, creds, "list")
    assert (got["code"], got["message"]) == (1000, "Invalid parameters")


def test_ssid_with_valid_token_pair_is_still_1000(client, who):
    # Both kinds given, each valid on its own: the shape is wrong, so no one is authenticated.
    ssid = call(client, "login", {"username": who.username, "password": who.password}, family="auth")["ssid"]
    got = error_of(client, {"ssid": ssid, **who.creds}, "list")
    assert got["code"] == 1000
    assert call(client, "reportCount", {"ssid": ssid}) == {"status": "success", "count": 0}


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("list", {"limit": "10"}, "limit"),
        ("list", {"limit": 2.5}, "limit"),
        ("list", {"limit": 10.0}, "limit"),
        ("list", {"page": True}, "page"),
        ("reportCount", {"minDuration": "10"}, "minDuration"),
        ("reportCount", {"maxTalkDuration": 2.5}, "maxTalkDuration"),
        ("reportCount", {"agentIds": "A1"}, "agentIds"),
        ("reportCount", {"agentIds": [1]}, "agentIds"),
        ("reportCount", {"callAnalysis": [{"field": "x", "op": "exists", "value": 1}]}, "callAnalysis"),
        ("reportCount", {"callAnalysis": [{"field": "x", "op": "exists", "value": "true"}]}, "callAnalysis"),
        ("reportCount", {"sortOrder": "DESC"}, "sortOrder"),
        ("reportCount", {"statuses": ["ANSWERED"]}, "statuses"),
        ("detail", {"callId": 42}, "callId"),
    ],
)
def test_types_are_strict_and_the_detail_names_the_field(client, who, name, params, field):
    got = error_of(client, {**who.creds, **params}, name)
    assert (got["code"], got["message"]) == (1000, "Invalid parameters")
    assert field in got["detail"]


@pytest.mark.parametrize("name", ["list", "masklist", "reportCount", "summary", "detail"])
def test_unknown_fields_are_1000_naming_them(client, who, name):
    extra = {"callId": "c"} if name == "detail" else {}
    got = error_of(client, {**who.creds, **extra, "agentID": ["A1"]}, name)
    assert got["code"] == 1000
    assert "agentID" in got["detail"]


def test_size_limits(client, who):
    ok = {
        "agentIds": [f"A{i}" for i in range(1000)],
        "callIds": ["c" * 1000],
        "callAnalysis": [{"field": f"k{i}", "op": "exists", "value": True} for i in range(20)],
    }
    assert call(client, "reportCount", {**who.creds, **ok}) == {"status": "success", "count": 0}
    too_big = [
        ({"agentIds": [f"A{i}" for i in range(1001)]}, "agentIds"),
        ({"callTypes": ["ivr"] * 1001}, "callTypes"),
        (
            {"callAnalysis": [{"field": f"k{i}", "op": "exists", "value": True} for i in range(21)]},
            "callAnalysis",
        ),
        ({"callIds": ["c" * 1001]}, "callIds"),
        ({"agentIds": ["a" * 1001]}, "agentIds"),
    ]
    for params, field in too_big:
        got = error_of(client, {**who.creds, **params})
        assert got["code"] == 1000 and field in got["detail"], got
    got = error_of(client, {**who.creds, "cursor": "c" * 1001}, "list")
    assert got["code"] == 1000 and "cursor" in got["detail"]


# --- failures below the API: 1010 and 1009 -------------------------------------------------------


def test_unreachable_database_is_1010(settings, local_storage):
    # Nothing listens on port 1: every connection attempt is refused at once.
    dead = db.make_engine("postgresql+psycopg://postgres@127.0.0.1:1/x")
    app = create_app(settings, engine=dead, storage=local_storage)
    expected = {"status": "error", "message": "Error in DB connect", "code": 1010}
    with TestClient(app) as c:
        assert call(c, "reportCount", {"userId": "u" * 24, "token": "t" * 40}) == expected
        assert call(c, "list", {"ssid": "s" * 40}) == expected
        assert call(c, "login", {"username": "a", "password": "b"}, family="auth") == expected
        # Body and shape checks need no database and still come first.
        assert envelope(post(c, COUNT, b""))["code"] == 1047
        assert error_of(c, {})["code"] == 1000
    dead.dispose()


def test_database_outage_is_1010_and_the_app_recovers_without_restart(settings, local_storage):
    with fresh_pg_database("callreport_t") as url:
        engine = db.make_engine(url)
        db.migrate(engine)
        t = make_tenant(engine)
        app = create_app(settings, engine=engine, storage=local_storage)
        with TestClient(app) as c:
            assert call(c, "reportCount", t.creds) == {"status": "success", "count": 0}
            with database_away(engine):
                down = {"status": "error", "message": "Error in DB connect", "code": 1010}
                assert call(c, "reportCount", t.creds) == down
                assert call(c, "list", t.creds) == down
            assert call(c, "reportCount", t.creds) == {"status": "success", "count": 0}
            assert call(c, "list", t.creds)["status"] == "success"
        engine.dispose()


def test_unexpected_failure_is_1009_logged_with_a_request_id(client, who, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app/queries.py line 42")

    monkeypatch.setattr(calls_repo, "count", boom)
    with caplog.at_level(logging.ERROR):
        resp = client.post(COUNT, json=who.creds)
    assert resp.status_code == 200
    assert resp.json() == {"status": "error", "message": "Something went wrong", "code": 1009}
    assert b"Traceback" not in resp.content and b"secret" not in resp.content
    records = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert records, "the failure was not logged with its exception"
    assert isinstance(records[-1].exc_info[1], RuntimeError)
    # The log line carries an id that tells this request from the others.
    assert re.search(r"\b[0-9a-f]{8,}\b", records[-1].getMessage()), records[-1].getMessage()


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/docs"])
def test_non_api_responses_with_a_body_carry_an_etag_too(client, path):
    first, again = client.get(path), client.get(path)
    assert first.status_code == 200 and first.content
    assert WEAK_ETAG.match(first.headers.get("etag", "")), first.headers
    assert first.headers["etag"] == again.headers["etag"]
    assert_no_cors(first)  # §10: outside /api/
