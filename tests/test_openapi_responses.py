"""Real answers of every endpoint, on both databases, validate against the schema the service documents.

So the OpenAPI response schemas (callreport/http/responses.py) cannot drift from the code, and
schemathesis' response checks (tests/test_fuzz*.py) check something real.
"""

from __future__ import annotations

import copy
from datetime import datetime

import jsonschema
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.demo import generate_calls
from callreport.worker import Worker
from tests.contract import RECORD_FIELDS
from tests.factories import make_tenant

FILE_TYPES = {
    "downloadPdf": "application/pdf",
    "downloadCsv": "text/csv; charset=utf-8",
    "downloadExcel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "downloadJsonl": "application/gzip",
}
REQUEST_ENDPOINTS = {"exportList", "exportStatus", "exportCancel", "changeTitle"}


def _doc(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def _schema_of(doc: dict, path: str) -> dict:
    """The documented JSON answer of a path, resolvable on its own."""
    content = doc["paths"][path]["post"]["responses"]["200"]["content"]
    return {**content["application/json"]["schema"], "components": doc["components"]}


def _errors(doc: dict, path: str, body: object) -> list[str]:
    validator = jsonschema.Draft202012Validator(_schema_of(doc, path))
    return [e.message for e in validator.iter_errors(body)]


def _times(value: object) -> None:
    """Every documented date-time in an answer parses as ISO 8601 with an offset."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key in {"startTime", "endTime", "time", "createdAt", "expiresAt"}:
                assert datetime.fromisoformat(item).utcoffset() is not None, (key, item)
            _times(item)
    elif isinstance(value, list):
        for item in value:
            _times(item)


def _finish(engine: sa.Engine, storage, settings) -> None:
    worker = Worker(engine, storage, settings)
    for _ in range(50):
        if worker.run_one() is None:
            return


def _exercise(client: TestClient, engine: sa.Engine, storage, settings, doc: dict) -> dict[str, list]:
    """Call every documented endpoint (success and error answers); path -> [(response, who)]."""
    owner = make_tenant(engine)
    masked = make_tenant(engine, ["LIST_CALL_LOG"], account_id=owner.account_id)
    calls = list(generate_calls(12, seed=3, days=2))
    calls[0] = {**calls[0], "agentId": None, "agentName": None, "hangupBy": None, "events": []}
    seen: dict[str, list] = {}

    def post(path: str, body: dict, creds: dict | None = owner.creds):
        resp = client.post(path, json={**(creds or {}), **body})
        seen.setdefault(path, []).append(resp)
        return resp

    paths = sorted(doc["paths"])
    base = "/api/v2/callreport/"
    assert post(base + "ingest", {"calls": calls}).json()["inserted"] == 12
    login = post("/api/v2/auth/login", {"username": owner.username, "password": owner.password}, None).json()
    post("/api/v2/auth/login", {"username": owner.username, "password": "wrong"}, None)
    post("/api/v2/auth/logout", {"ssid": login["ssid"]}, None)
    creators = [p for p in paths if p.startswith(base + "export") and p[len(base) :] not in REQUEST_ENDPOINTS]
    ids = {p[len(base + "export") :]: post(p, {"title": "Résumé: calls"}).json()["requestId"] for p in creators}
    _finish(engine, storage, settings)
    first = post(base + "list", {"limit": 5}).json()
    post(base + "list", {"limit": 5, "cursor": first["nextCursor"]})
    post(base + "list", {"limit": 5}, masked.creds)
    post(base + "masklist", {"limit": 50})
    post(base + "reportCount", {"statuses": ["answered"]})
    for call_id in (calls[0]["callId"], calls[1]["callId"]):
        post(base + "detail", {"callId": call_id, "timezone": "Asia/Kolkata"})
    for group in ("agent", "day", "status"):
        post(base + "summary", {"groupBy": group})
    post(base + "exportList", {})
    some_id = next(iter(ids.values()))
    post(base + "exportStatus", {"requestId": some_id})
    post(base + "changeTitle", {"requestId": some_id, "title": "renamed"})
    post(base + "exportCancel", {"requestId": some_id})
    post(base + "exportCsv", {"title": "pending"})
    post(base + "exportList", {"states": ["pending"]})
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if name.startswith("download"):
            fmt = name[len("download") :]
            post(path, {"requestId": ids[fmt]})
            post(path, {"requestId": "0" * 24})  # File Not Exists
            post(path, {"requestId": "nope"})  # Invalid parameter
        post(path, {}, None)  # no credentials: 1000 with a detail
        post(path, {"surprise": True})
    return seen


@pytest.fixture(scope="module")
def answers(client: TestClient, engine: sa.Engine, local_storage, settings) -> tuple[dict, dict]:
    """The served document and every endpoint's real answers, on the current backend."""
    doc = _doc(client)
    return doc, _exercise(client, engine, local_storage, settings, doc)


def test_every_answer_of_every_endpoint_matches_its_documented_schema(answers):
    doc, seen = answers
    assert set(seen) == set(doc["paths"])  # every documented endpoint was called
    for path, responses in seen.items():
        statuses = set()
        for resp in responses:
            ctype = resp.headers["content-type"]
            documented = doc["paths"][path]["post"]["responses"]["200"]["content"]
            if not ctype.startswith("application/json"):
                assert ctype in documented and ctype == FILE_TYPES[path.rsplit("/", 1)[-1]], (path, ctype)
                statuses.add("file")
                continue
            body = resp.json()
            assert _errors(doc, path, body) == [], (path, body, _errors(doc, path, body))
            _times(body)
            statuses.add(body["status"])
        want = {"success", "error"} if not path.rsplit("/", 1)[-1].startswith("download") else {"file", "error"}
        assert statuses == want, (path, statuses)


def test_success_bodies_are_documented_in_full(answers):
    """The success schemas name every field of the contract and require the ones always present."""
    doc, _ = answers
    comps = doc["components"]["schemas"]
    record = comps["CallRecordOut"]
    assert list(record["properties"]) == [f for f in RECORD_FIELDS if f != "events"]
    assert set(record["required"]) == set(record["properties"]) and record["additionalProperties"] is False
    assert list(comps["CallWithEventsOut"]["properties"]) == list(RECORD_FIELDS)
    assert set(comps["ListResponse"]["required"]) == {"status", "data", "page", "limit", "nextCursor"}
    request = comps["ExportRequestOut"]["properties"]
    assert (
        list(request)
        == (
            "requestId title format state progress rowCount fileSize sha256 filters columns createdBy "
            "createdAt startedAt finishedAt expiresAt error"
        ).split()
    )
    error = comps["ErrorEnvelope"]
    assert set(error["properties"]["code"]["enum"]) == {1000, 1009, 1010, 1014, 1015, 1047, 1050}
    assert set(error["required"]) == {"status", "message", "code"}


@pytest.mark.parametrize(
    ("path", "change"),
    [
        ("/api/v2/callreport/list", lambda b: b["data"][0].update(extra=1)),
        ("/api/v2/callreport/list", lambda b: b.pop("nextCursor")),
        ("/api/v2/callreport/list", lambda b: b["data"][0].update(duration="12")),
        ("/api/v2/callreport/list", lambda b: b["data"][0].update(status="lost")),
        ("/api/v2/callreport/list", lambda b: b["data"][0].pop("agentId")),
        ("/api/v2/callreport/detail", lambda b: b["data"].pop("events")),
        ("/api/v2/callreport/summary", lambda b: b["totals"].pop("avgWaitTime")),
        ("/api/v2/callreport/exportStatus", lambda b: b["data"].update(requestId="xyz")),
        ("/api/v2/callreport/exportCsv", lambda b: b.update(status="error")),
        ("/api/v2/callreport/reportCount", lambda b: b.update(count=None)),
        ("/api/v2/auth/login", lambda b: b.pop("expiresAt")),
    ],
)
def test_a_drifted_answer_fails_its_schema(answers, path, change):
    """The check above can fail: a real answer, changed in one way, no longer validates."""
    doc, seen = answers
    body = copy.deepcopy(next(r.json() for r in seen[path] if r.json()["status"] == "success"))
    assert _errors(doc, path, body) == []
    change(body)
    assert _errors(doc, path, body) != []


@pytest.mark.parametrize(
    "body",
    [
        {"status": "error", "message": "x", "code": 1234},
        {"status": "error", "message": "x", "code": 1000, "detail": None},
        {"status": "error", "code": 1000},
        {"status": "success", "message": "x", "code": 1000},
    ],
)
def test_the_error_envelope_is_exact(answers, body):
    doc, _ = answers
    assert _errors(doc, "/api/v2/callreport/reportCount", body) != []
