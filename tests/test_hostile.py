"""Hostile input: injection-looking strings, NUL and huge numbers, oversized bodies, header and
formula injection through exports, and secrets kept out of the logs (in-process and from `serve`).

Login throttling, unknown-user answers, revocation and cross-account credentials are in
tests/test_auth.py; here `callreport token revoke` / `session revoke` are run against a live server.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from callreport import cursors, db, filters, sealing
from callreport.app import create_app
from callreport.cli import app as cli_app
from callreport.models import calls as calls_table
from callreport.settings import Settings
from callreport.storage import from_url
from callreport.worker import Worker
from tests.factories import Tenant, make_tenant, private_database_url
from tests.fixtures.procs import serving
from tests.fixtures.s3 import free_port

HOSTILE = [
    "'; DROP TABLE calls; --",
    "<script>alert(1)</script>",
    "%",
    "_",
    "\\",
    "a%b_c\\d'e\"f",
    "Zoë Ω 漢字 🙂 \u200b\u202eRTL",
    "Robert'); DELETE FROM calls;--",
]
# Never stored: a filter with any of these must match nothing, whatever SQL would make of it.
PROBES = ["x' OR '1'='1", "%%", "_%", "' OR 1=1 --", "*", "\\%"]
TEXT_FIELDS = ["callId", "callType", "agentId", "agentName", "campaign", "department", "disposition", "recordingUrl"]
LIST_FILTERS = {
    "callIds": "callId",
    "callTypes": "callType",
    "agentIds": "agentId",
    "campaigns": "campaign",
    "departments": "department",
    "dispositions": "disposition",
}
START, END = "2024-03-01T10:00:00+00:00", "2024-03-01T10:05:00+00:00"


@dataclass
class Stack:
    """The app on a private database, its storage and a worker to run export jobs."""

    client: TestClient
    engine: sa.Engine
    storage_root: Path
    worker: Worker

    def post(self, name: str, body: dict | bytes, family: str = "callreport") -> dict:
        """POST a body (a dict as JSON, or raw bytes) and return the envelope."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        resp = self.client.post(f"/api/v2/{family}/{name}", content=raw)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def export(self, name: str, creds: dict, **params) -> str:
        """Start an export, run it, and return its requestId once done."""
        rid = self.post(name, {**creds, **params})["requestId"]
        while self.worker.run_one() is not None:
            pass
        assert self.post("exportStatus", {**creds, "requestId": rid})["data"]["state"] == "done"
        return rid


@pytest.fixture(scope="module")
def stack(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The app on a private database of the backend (so no other test's worker takes our jobs)."""
    urls = private_database_url(backend, tmp_path_factory)
    engine = db.make_engine(next(urls))
    db.migrate(engine)
    settings = Settings(data_dir=tmp_path_factory.mktemp("hostile"), embedded_worker=False)
    root = tmp_path_factory.mktemp("hostile-exports")
    storage = from_url(root.as_uri())
    with TestClient(create_app(settings, engine=engine, storage=storage)) as client:
        yield Stack(client, engine, root, Worker(engine, storage, settings))
    engine.dispose()
    for _ in urls:  # drops a PostgreSQL database
        pass


def record(call_id: str, text: str, **over) -> dict:
    """A valid call record with text in every free-text field."""
    rec = {
        "callId": call_id,
        "startTime": START,
        "endTime": END,
        "duration": 300,
        "talkDuration": 200,
        "direction": "inbound",
        "status": "answered",
        "callerNumber": "+911234567890",
        "customerNumber": "+91 98765-43210",
        "didNumber": "+911140001234",
        "hangupBy": "agent",
    }
    rec.update({f: text for f in TEXT_FIELDS[1:]})
    rec["callAnalysis"] = {"text": text}
    rec["events"] = [{"time": START, "type": text, "agentId": text, "note": text}]
    return {**rec, **over}


def valid_key(text: str) -> bool:
    """Whether text may be a callAnalysis key (§5: no quotes, backslashes or control characters)."""
    return not any(c in text for c in '"\\') and all(ord(c) >= 32 for c in text)


@pytest.fixture(scope="module")
def hostile_tenant(stack: Stack) -> tuple[Tenant, list[dict]]:
    """A tenant holding one record per hostile string, plus a plain one."""
    tenant = make_tenant(stack.engine)
    records = [record(h, h) for h in HOSTILE] + [record("plain-0", "plain")]
    for rec in records[:-1]:
        if valid_key(rec["callId"]):
            rec["callAnalysis"][rec["callId"]] = 1
    assert stack.post("ingest", {**tenant.creds, "calls": records})["inserted"] == len(records)
    return tenant, records


def ids_of(stack: Stack, creds: dict, **filters) -> set[str]:
    """The callIds a list with these filters returns."""
    out = stack.post("list", {**creds, "limit": 1000, **filters})
    assert out["status"] == "success", out
    return {r["callId"] for r in out["data"]}


# --- strings that look like SQL or script ---------------------------------------------------------


def test_hostile_strings_are_stored_and_returned_verbatim(stack, hostile_tenant):
    tenant, records = hostile_tenant
    for rec in records:
        got = stack.post("detail", {**tenant.creds, "callId": rec["callId"]})["data"]
        for field in TEXT_FIELDS:
            assert got[field] == rec[field], (field, rec["callId"])
        assert got["callAnalysis"] == rec["callAnalysis"]
        assert got["events"][0] == {**rec["events"][0], "time": got["events"][0]["time"]}
    listed = stack.post("list", {**tenant.creds, "limit": 1000})["data"]
    assert {r["callId"]: r["agentName"] for r in listed} == {r["callId"]: r["agentName"] for r in records}


def test_string_filters_match_exactly_and_never_as_patterns(stack, hostile_tenant):
    tenant, records = hostile_tenant
    creds = tenant.creds
    for name, field in LIST_FILTERS.items():
        for rec in records:
            assert ids_of(stack, creds, **{name: [rec[field]]}) == {rec["callId"]}, (name, rec[field])
        for probe in PROBES:
            assert ids_of(stack, creds, **{name: [probe]}) == set(), (name, probe)
    for needle in ["%", "_", "\\", "'", '"', "<", "Ë", "drop", "%_"]:
        expected = {r["callId"] for r in records if needle.lower() in r["callAnalysis"]["text"].lower()}
        cond = [{"field": "text", "op": "contains", "value": needle}]
        assert ids_of(stack, creds, callAnalysis=cond) == expected, needle
    for rec in records:
        cond = [{"field": "text", "op": "eq", "value": rec["callAnalysis"]["text"]}]
        assert ids_of(stack, creds, callAnalysis=cond) == {rec["callId"]}
        if valid_key(rec["callId"]) and rec["callId"] != "plain-0":
            cond = [{"field": rec["callId"], "op": "exists", "value": True}]
            assert ids_of(stack, creds, callAnalysis=cond) == {rec["callId"]}
    assert stack.post("reportCount", creds)["count"] == len(records)
    with stack.engine.connect() as conn:  # the table is still there, with every row
        assert conn.execute(sa.select(sa.func.count()).select_from(calls_table)).scalar() >= len(records)


def test_hostile_strings_in_other_parameters_are_refused_or_kept_as_text(stack, hostile_tenant):
    tenant, _ = hostile_tenant
    creds = tenant.creds
    for h in HOSTILE:
        for params in (
            {"startDate": h},
            {"endDate": h},
            {"timezone": h},
            {"sortBy": h},
            {"sortOrder": h},
            {"customerNumber": h},
            {"statuses": [h]},
            {"directions": [h]},
        ):
            got = stack.post("list", {**creds, **params})
            assert got["code"] == 1000 and next(iter(params)) in got["detail"], (params, got)
        assert stack.post("summary", {**creds, "groupBy": h})["code"] == 1000
        assert stack.post("exportStatus", {**creds, "requestId": h})["code"] == 1000
        assert stack.post("downloadCsv", {**creds, "requestId": h}) == {
            "status": "error",
            "message": "Invalid parameter",
            "code": 1000,
        }
        assert stack.post("login", {"username": h, "password": h}, family="auth")["code"] == 1014
        params = {"title": h, "idempotencyKey": h, "agentIds": [h]}
        rid = stack.post("exportCsv", {**creds, **params})["requestId"]
        data = stack.post("exportStatus", {**creds, "requestId": rid})["data"]
        assert (data["title"], data["filters"]["agentIds"]) == (h, [h])
        assert stack.post("exportCancel", {**creds, "requestId": rid})["status"] == "success"
    for probe in PROBES:
        assert stack.post("detail", {**creds, "callId": probe})["message"] == "Call Not Exists"


def _cursor(stack: Stack, tenant: Tenant, sort_by: str, value: object) -> str:
    """A cursor sealed with the server's own key for a forged sort value (as a leaked key would allow)."""
    r = filters.resolve(filters.CallFilter(sortBy=sort_by), "UTC")
    return cursors.encode_cursor(sealing.cipher(stack.engine, "cursor"), tenant.user_id, r, value, "x")


def test_values_no_database_can_hold_are_1000_on_every_backend(stack, hostile_tenant):
    tenant, _ = hostile_tenant
    creds = tenant.creds
    for over in [{"agentName": "a\x00b"}, {"callAnalysis": {"n": 2**63}}, {"callAnalysis": {"k\n": 1}}]:
        got = stack.post("ingest", {**creds, "calls": [record("odd-1", "ok", **over)]})
        assert got["code"] == 1000 and next(iter(over)) in got["detail"] and "0" in got["detail"], got

    def cond(field: str, value: object = True, op: str = "exists") -> list:
        return [{"field": field, "op": op, "value": value}]

    for params in [
        {"callIds": ["a\x00"]},
        {"agentIds": ["\x00"]},
        {"callAnalysis": cond("k\x00")},
        {"callAnalysis": cond("n", 2**63, "gt")},
        {"minDuration": 2**31},
        {"maxTalkDuration": 2**63},
        {"sortBy": "duration", "cursor": _cursor(stack, tenant, "duration", 2**40)},
    ]:
        got = stack.post("list", {**creds, **params})
        assert got["code"] == 1000 and list(params)[-1] in got["detail"], (params, got)
    # A field no key can be (ingest refuses quotes, backslashes, controls) is one every call lacks,
    # even when it starts with a stored key ("text" is in every record here).
    everyone = {h for h in HOSTILE} | {"plain-0"}
    for field in ['text"x', 'text"."x', "text\\x", "text\n", '"']:
        for op, value, expected in [
            ("exists", True, set()),
            ("eq", "plain", set()),
            ("gte", 1, set()),
            ("ne", "plain", everyone),
            ("exists", False, everyone),
        ]:
            assert ids_of(stack, creds, callAnalysis=cond(field, value, op)) == expected, (field, op)
    assert stack.post("downloadPdf", {**creds, "requestId": "\x00" * 24}) == {
        "status": "error",
        "message": "Invalid parameter",
        "code": 1000,
    }
    # The largest values that fit still work.
    assert stack.post("reportCount", {**creds, "minDuration": 2**31 - 1})["count"] == 0
    assert stack.post("reportCount", {**creds, "callAnalysis": cond("n", 2**63 - 1, "lt")})["count"] == 0
    biggest = _cursor(stack, tenant, "duration", 2**31 - 1)
    assert stack.post("list", {**creds, "sortBy": "duration", "cursor": biggest})["data"]
    assert stack.post("reportCount", creds)["count"] == len(HOSTILE) + 1  # nothing was stored


# --- huge inputs --------------------------------------------------------------------------------


def _minimal(i: int, **over) -> dict:
    return {
        "callId": f"c{i}",
        "startTime": START,
        "endTime": END,
        "duration": 1,
        "direction": "inbound",
        "callType": "ivr",
        "status": "missed",
        "callerNumber": "1",
        "customerNumber": "2",
        "didNumber": "3",
        **over,
    }


def _field(name: str, value: object) -> bytes:
    return orjson.dumps({name: value})[1:-1]


TEN_MB = 10_000_000
HUGE = {  # name: (endpoint, body without credentials, code, what the detail names)
    "deep nesting": ("reportCount", lambda: b'"x":' + b"[" * 100_000 + b"]" * 100_000, 1047, None),
    "10 MB string": ("list", lambda: _field("agentIds", ["x" * TEN_MB]), 1047, None),
    "10 MB password": ("login", lambda: b'"username":"u",' + _field("password", "p" * TEN_MB), 1047, None),
    "100,000 agentIds": ("reportCount", lambda: _field("agentIds", [str(i) for i in range(100_000)]), 1000, "agentIds"),
    "10,000 conditions": (
        "reportCount",
        lambda: _field("callAnalysis", [{"field": "k", "op": "exists", "value": True}] * 10_000),
        1000,
        "callAnalysis",
    ),
    "10 MB string in ingest": (
        "ingest",
        lambda: _field("calls", [_minimal(0, agentName="x" * TEN_MB)]),
        1000,
        "agentName",
    ),
    "10,001 records": ("ingest", lambda: _field("calls", [_minimal(i) for i in range(10_001)]), 1000, "calls"),
    "33 MB ingest": ("ingest", lambda: _field("calls", ["x" * (33 << 20)]), 1047, None),
}


@pytest.mark.parametrize("case", list(HUGE))
def test_huge_inputs_are_refused_in_bounded_time_and_memory(stack, hostile_tenant, case):
    tenant, _ = hostile_tenant
    name, tail, code, field = HUGE[case]
    creds = b"" if name == "login" else orjson.dumps(tenant.creds)[1:-1] + b","
    raw = b"{" + creds + tail() + b"}"
    tracemalloc.start()
    started = time.monotonic()
    got = stack.post(name, raw, family="auth" if name == "login" else "callreport")
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got["code"] == code, got
    assert field is None or field in got["detail"]
    assert elapsed < 5.0, f"{case}: {elapsed:.1f} s"
    # Bodies over the limit are refused unread; a body within it costs a small multiple of its size to parse.
    limit = 32 << 20 if name == "ingest" else 1 << 20
    bound = 2 << 20 if len(raw) > limit else 16 * len(raw) + (8 << 20)
    assert peak < bound, f"{case}: peak {peak >> 20} MiB"


# --- exports: header, path and formula injection ---------------------------------------------------

INJECTING_TITLES = {  # title: the safe ASCII name the contract's rule gives it
    "evil\r\nSet-Cookie: session=stolen": "evil__Set-Cookie_ session_stolen",
    'a"b; filename="x.exe': "a_b_ filename__x.exe",
    "../../../etc/passwd": ".._.._.._etc_passwd",
    "..\\..\\windows\\win.ini": ".._.._windows_win.ini",
    "日本\r\nX-Injected: 1": "____X-Injected_ 1",
}
DISPOSITION = re.compile(
    r"""attachment; filename="([A-Za-z0-9 ._-]{1,100})\.csv"(; filename\*=UTF-8''[A-Za-z0-9%._-]+)?"""
)


def test_a_title_can_never_inject_a_header_or_a_path(stack):
    tenant = make_tenant(stack.engine)
    assert stack.post("ingest", {**tenant.creds, "calls": [record("t-1", "x")]})["inserted"] == 1
    for title, safe in INJECTING_TITLES.items():
        rid = stack.export("exportCsv", tenant.creds, title=title, columns=["callId"])
        resp = stack.client.post("/api/v2/callreport/downloadCsv", json={**tenant.creds, "requestId": rid})
        assert resp.status_code == 200 and resp.content == b"callId\r\nt-1\r\n"
        values = resp.headers.get_list("content-disposition")
        assert len(values) == 1 and not any(c in values[0] for c in "\r\n\x00")
        match = DISPOSITION.fullmatch(values[0])
        assert match and match.group(1) == safe, values[0]
        assert "set-cookie" not in resp.headers and "x-injected" not in resp.headers
        assert stack.post("exportStatus", {**tenant.creds, "requestId": rid})["data"]["title"] == title
    # Stored files are named by account and request only: a title never reaches a path.
    root = stack.storage_root
    stored = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    assert stored and all(re.fullmatch(r"[0-9a-f]{24}/[0-9a-f]{24}-\d+\.(csv|xlsx|pdf)", k) for k in stored)


FORMULAS = {  # field: (value sent, the CSV cell §9 asks for)
    "agentName": ("=1+2", "'=1+2"),
    "campaign": ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    "department": ("-2+3", "'-2+3"),
    "disposition": ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    "callType": ("\tTAB", "'\tTAB"),
    "recordingUrl": ("\rCR", "'\rCR"),
    "callAnalysis.f": ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
    "callAnalysis.n": ("-12.5", "-12.5"),  # a plain number stays as it is
    "callAnalysis.p": ("+91 98765-43210", "+91 98765-43210"),  # so does a phone number
}


def test_formula_cells_are_neutralised_in_csv_and_excel(stack):
    tenant = make_tenant(stack.engine)
    over = {k: v for k, (v, _) in FORMULAS.items() if "." not in k}
    analysis = {k.split(".")[1]: v for k, (v, _) in FORMULAS.items() if "." in k}
    rec = record("f-1", "x", **over, callAnalysis=analysis)
    assert stack.post("ingest", {**tenant.creds, "calls": [rec]})["inserted"] == 1
    columns = ["callId", *FORMULAS]
    rid = stack.export("exportCsv", tenant.creds, columns=columns)
    resp = stack.client.post("/api/v2/callreport/downloadCsv", json={**tenant.creds, "requestId": rid})
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8"), newline="")))
    assert rows == [columns, ["f-1", *(cell for _, cell in FORMULAS.values())]]
    rid = stack.export("exportExcel", tenant.creds, columns=columns)
    resp = stack.client.post("/api/v2/callreport/downloadExcel", json={**tenant.creds, "requestId": rid})
    sheet = openpyxl.load_workbook(io.BytesIO(resp.content)).worksheets[0]
    cells = [c for c in sheet[2]][1:]
    assert [c.data_type for c in cells] == ["s"] * len(FORMULAS)  # text, never a formula
    # OOXML writes a carriage return as _x000D_, which Excel reads back as the character.
    values = [re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), c.value) for c in cells]
    assert values == [value for value, _ in FORMULAS.values()]  # and no ' added


# --- secrets and logs ---------------------------------------------------------------------------


def test_secrets_never_appear_in_the_logs(stack, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # SQL with its parameters too, as an operator debugging the database would see it.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    tenant = make_tenant(stack.engine)
    wrong = "wrong-" + tenant.password[::-1]
    login = {"username": tenant.username, "password": tenant.password}
    ssid = stack.post("login", login, family="auth")["ssid"]
    assert stack.post("login", {**login, "password": wrong}, family="auth")["code"] == 1014
    stranger = {"username": "nobody-" + tenant.username, "password": wrong}
    assert stack.post("login", stranger, family="auth")["code"] == 1014
    assert stack.post("reportCount", tenant.creds)["status"] == "success"
    assert stack.post("reportCount", {"ssid": ssid})["status"] == "success"
    assert stack.post("reportCount", {"userId": tenant.user_id, "token": wrong})["code"] == 1014
    assert stack.post("reportCount", b'{"ssid": "' + ssid.encode() + b'",')["code"] == 1047
    assert stack.post("list", {"ssid": ssid, "cursor": ssid})["code"] == 1000

    def broken(*args, **kwargs):
        raise RuntimeError("the query failed")

    monkeypatch.setattr("callreport.repo.calls.count", broken)
    assert stack.post("reportCount", {**tenant.creds, "agentIds": [tenant.password]})["code"] == 1009
    assert stack.post("logout", {"ssid": ssid}, family="auth")["status"] == "success"
    text = caplog.text + "".join(repr(r.args) + r.getMessage() for r in caplog.records)
    assert "the query failed" in text and "callreport" in text  # the log was captured
    for secret in (tenant.password, tenant.token, ssid, wrong):
        assert secret not in text


# --- a real `callreport serve` at DEBUG: the CLI's revocations, the wire, and its log ------------


@dataclass
class Served:
    """A `callreport serve` process, the CLI's environment for its database, and what it was told."""

    port: int
    log: Path
    env: dict
    user_id: str
    username: str
    password: str
    token: str
    secrets: list[str]

    def cli(self, *args: str) -> dict:
        """Run a CLI command (in this process) against the server's database."""
        result = CliRunner().invoke(cli_app, [*args, "--json"], env=self.env)
        assert result.exit_code == 0, (result.stdout, result.exception)
        return orjson.loads(result.stdout)

    def post(self, name: str, body: dict, family: str = "callreport") -> tuple[int, list, bytes]:
        """POST over a real socket: (status, raw header pairs, body)."""
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", f"/api/v2/{family}/{name}", body=orjson.dumps(body))
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def login(self, password: str) -> dict:
        """The answer of a login as this user."""
        return self.envelope("login", {"username": self.username, "password": password}, "auth")

    def envelope(self, name: str, body: dict, family: str = "callreport") -> dict:
        """The JSON answer of a POST."""
        status, _, raw = self.post(name, body, family)
        assert status == 200, raw
        return orjson.loads(raw)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`callreport serve` on SQLite with CALLREPORT_LOG_LEVEL=DEBUG, its stdout and stderr in a file."""
    data_dir = tmp_path_factory.mktemp("served")
    env = {"CALLREPORT_DATA_DIR": str(data_dir), "CALLREPORT_DATABASE_URL": None, "CALLREPORT_STORAGE_URL": None}
    who = Served(free_port(), data_dir / "serve.log", env, "", f"u-{os.getpid()}", "pw-" + os.urandom(8).hex(), "", [])
    account = who.cli("account", "create", "hostile")["accountId"]
    who.user_id = who.cli(
        "user",
        "create",
        "--account",
        account,
        "--username",
        who.username,
        "--password",
        who.password,
        "--permission",
        "LIST_CALL_LOG",
        "--permission",
        "ADMIN",
    )["userId"]
    who.token = who.cli("token", "create", "--user", who.user_id)["token"]
    who.secrets += [who.password, who.token]
    proc_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLREPORT_")}
    proc_env.update(
        CALLREPORT_DATA_DIR=str(data_dir),
        CALLREPORT_LOG_LEVEL="DEBUG",
        PYTHONUNBUFFERED="1",
        CALLREPORT_WORKER_POLL_SECONDS="0.2",
    )
    with serving(who.port, proc_env, who.log):
        yield who


@pytest.mark.slow  # a live server (~4 s to start and stop)
def test_cli_revocations_take_effect_at_once_on_a_running_server(served):
    creds = {"userId": served.user_id, "token": served.token}
    ssid = served.login(served.password)["ssid"]
    served.secrets.append(ssid)
    assert served.envelope("reportCount", creds)["status"] == "success"
    assert served.cli("token", "revoke", "--user", served.user_id) == {"revoked": 1}
    assert served.envelope("reportCount", creds)["code"] == 1014
    assert served.envelope("reportCount", {"ssid": ssid})["status"] == "success"  # another kind
    assert served.cli("session", "revoke", "--user", served.user_id) == {"revoked": 1}
    assert served.envelope("reportCount", {"ssid": ssid})["code"] == 1014
    served.token = served.cli("token", "create", "--user", served.user_id)["token"]
    served.secrets.append(served.token)
    fresh = {"userId": served.user_id, "token": served.token}
    assert served.envelope("reportCount", fresh)["status"] == "success"


@pytest.mark.slow  # a live server (~4 s to start and stop)
def test_a_title_cannot_inject_a_header_on_the_wire(served):
    creds = {"userId": served.user_id, "token": served.token}
    title = "evil\r\nSet-Cookie: session=stolen\r\n\r\n<html>"
    rid = served.envelope("exportCsv", {**creds, "title": title, "columns": ["callId"]})["requestId"]
    deadline = time.monotonic() + 30
    while served.envelope("exportStatus", {**creds, "requestId": rid})["data"]["state"] != "done":
        assert time.monotonic() < deadline, "serve's export worker did not finish the export"
        time.sleep(0.1)
    status, headers, body = served.post("downloadCsv", {**creds, "requestId": rid})
    assert (status, body) == (200, b"callId\r\n")
    names = [name.lower() for name, _ in headers]
    assert names.count("content-disposition") == 1 and "set-cookie" not in names
    value = dict((k.lower(), v) for k, v in headers)["content-disposition"]
    assert value == 'attachment; filename="evil__Set-Cookie_ session_stolen_____html_.csv"'


@pytest.mark.slow  # a live server (~4 s to start and stop)
def test_secrets_never_reach_the_server_log(served):
    creds = {"userId": served.user_id, "token": served.token}
    wrong = "not-" + served.password
    served.secrets.append(wrong)
    assert served.login(wrong)["code"] == 1014
    ssid = served.login(served.password)["ssid"]
    served.secrets.append(ssid)
    assert served.envelope("list", {"ssid": ssid})["status"] == "success"
    assert served.envelope("list", {**creds, "cursor": served.token})["code"] == 1000
    assert served.envelope("list", {"userId": served.user_id, "token": wrong})["code"] == 1014
    assert served.envelope("logout", {"ssid": ssid}, "auth")["status"] == "success"
    assert served.envelope("list", {"ssid": ssid})["code"] == 1014
    time.sleep(0.3)  # let the server write its last lines
    log = served.log.read_text(errors="replace")
    assert "INFO callreport callreport" in log  # the app's own log lines are in the file
    for secret in served.secrets:
        assert secret not in log
