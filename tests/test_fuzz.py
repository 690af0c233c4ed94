"""Property-based fuzzing of every endpoint against the service's own OpenAPI schema.

Schemathesis generates bodies from the schema the app serves (valid and invalid ones);
part of them carry real credentials, and requestIds of real finished exports, so the
fuzzer reaches past authentication into the handlers and the database. Every answer
must be the contract's: below HTTP 500, the envelope (or the file of a download), and
quick. Runs on a private SQLite file and a private PostgreSQL database, so the jobs it
leaves pending never reach another test's worker.
"""

from __future__ import annotations

import time
import zoneinfo

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from callreport.app import create_app
from callreport.settings import Settings
from tests.contract import RECORD_FIELDS
from tests.fuzz_world import (
    FILE_TYPES,
    World,
    check_answer,
    world_fixture,  # noqa: F401  (the fixture `world`)
)

pytestmark = pytest.mark.slow  # generated requests by the hundred: 2 to 8 s a test

MAX_SECONDS = 5.0
# What a generated body gets as credentials: mostly real ones, so handlers run.
WHO = ["token", "token", "ssid", "generated", "foreign", "same_account", "limited_admin"]
# Every outcome the API defines is HTTP 200, so schemathesis' "invalid data must be 4xx" does not apply.
EXCLUDED_CHECKS = [schemathesis.checks.negative_data_rejection]


def _served_schema() -> dict:
    """The OpenAPI document the app serves (building the app opens no database)."""
    return create_app(Settings(embedded_worker=False)).openapi()


# Loaded eagerly: pytest 9 breaks schemathesis' fixture-based (lazy) schemas.
schema = schemathesis.openapi.from_dict(_served_schema())


def _inject(case: schemathesis.Case, who: str, use_real_id: bool, world: World) -> None:
    """Put real credentials (and a real requestId) into a generated object body."""
    body = case.body
    if not isinstance(body, dict):
        return
    if who != "generated" and not case.operation.path.startswith("/api/v2/auth/"):
        for key in ("ssid", "userId", "token"):
            body.pop(key, None)
        body.update({"token": world.creds, "ssid": {"ssid": world.ssid}}.get(who) or getattr(world, who))
    if use_real_id and isinstance(body.get("requestId"), str):
        name = case.operation.path.rsplit("/", 1)[-1]
        fmt = {"downloadPdf": "pdf", "downloadCsv": "csv", "downloadExcel": "xlsx", "downloadJsonl": "jsonl"}.get(
            name, "csv"
        )
        body["requestId"] = world.request_ids[fmt]


def _fuzz_once(case: schemathesis.Case, who: str, use_real_id: bool, world: World) -> None:
    _inject(case, who, use_real_id, world)
    started = time.monotonic()
    response = case.call(app=world.app)
    elapsed = time.monotonic() - started
    # The response schemas are the documented bodies (callreport/http/responses.py): this checks them.
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
    answer = check_answer(case.operation.path, response.status_code, response.headers, response.content, case.body)
    assert elapsed < MAX_SECONDS, f"{case.operation.path} took {elapsed:.2f}s"
    body = case.body if isinstance(case.body, dict) else {}
    if who in ("foreign", "same_account", "limited_admin") and body.get("requestId") in world.request_ids.values():
        # Another user's request (A's: unmasked, all agents) is answered as one that does not exist.
        assert answer is not None and answer["code"] in (1000, 1009), answer
        assert answer["message"] in ("Request Not Exists", "File Not Exists", "Invalid parameters"), answer


# No shrinking: a failure prints its input; shrinking 1,000-value bodies takes minutes.
FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
INGEST = "/api/v2/callreport/ingest"


@settings(FUZZ, max_examples=25)
@schema.given(who=st.sampled_from(WHO), use_real_id=st.booleans())
@schema.exclude(path=INGEST).parametrize()
def test_every_endpoint_answers_by_the_contract(case, who, use_real_id, world):
    _fuzz_once(case, who, use_real_id, world)


# Batches of generated call records are slow to draw; fewer of them cover ingest well enough.
@settings(FUZZ, max_examples=10)
@schema.given(who=st.sampled_from(WHO), use_real_id=st.just(False))
@schema.include(path=INGEST).parametrize()
def test_ingest_answers_by_the_contract(case, who, use_real_id, world):
    _fuzz_once(case, who, use_real_id, world)


# --- hostile values the schema cannot describe: what the generated bodies missed before ---------


def _zone_folders() -> list[str]:
    """Every folder of the tz database (Asia, America/Argentina, Etc, ...): never a zone (§6)."""
    return sorted({name.rsplit("/", 1)[0] for name in zoneinfo.available_timezones() if "/" in name})


NOT_ZONES = ["__pycache__", "", ".", "..", "../UTC", "Asia/../UTC", "/etc/localtime", "UTC/", "utc ", "zone.tab"]
NOT_ZONES += ["tzdata.zi", "leapseconds", "zone1970.tab", "iso3166.tab", "right/UTC", "posix/UTC", "Asia/Kolkata/"]
TIMEZONES = st.sampled_from(_zone_folders() + NOT_ZONES) | st.sampled_from(["UTC", "Asia/Kolkata", "Etc/GMT+12"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
OPS = ["eq", "ne", "in", "nin", "contains", "gt", "gte", "lt", "lte", "exists"]


@st.composite
def analysis_near_caps(draw: st.DrawFn) -> list[dict]:
    """callAnalysis with 18-21 conditions and 950-1,010 list values among them (§9 caps: 20 and 1,000)."""
    count = draw(st.integers(18, 21))
    total = draw(st.integers(950, 1010))
    lists = draw(st.integers(1, count))
    sizes = [total // lists + (1 if i < total % lists else 0) for i in range(lists)]
    conditions = []
    for i in range(count):
        op = draw(st.sampled_from(["in", "nin"])) if i < lists else draw(st.sampled_from(OPS))
        value = [draw(SCALARS) for _ in range(sizes[i])] if i < lists else draw(SCALARS)
        conditions.append(
            {"field": draw(st.sampled_from(["score", "sentiment", "x" * 64, "a.b", "ключ"])), "op": op, "value": value}
        )
    return conditions


def _cursor(client: TestClient, creds: dict) -> str:
    body = client.post("/api/v2/callreport/list", json={**creds, "limit": 1}).json()
    return body["nextCursor"]


@st.composite
def hostile_cursors(draw: st.DrawFn, real: str) -> str:
    """A real cursor of A cut, extended or with one character changed; or any text."""
    kind = draw(st.sampled_from(["cut", "grow", "flip", "text"]))
    if kind == "cut":
        return real[: draw(st.integers(0, len(real) - 1))]
    if kind == "grow":
        return real + draw(st.text(min_size=1, max_size=8))
    if kind == "flip":
        i = draw(st.integers(0, len(real) - 1))
        return real[:i] + draw(st.sampled_from("AZaz09-_=+/.").filter(lambda c: c != real[i])) + real[i + 1 :]
    return draw(st.text(max_size=200))


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_hostile_filters_answer_without_failure(data, world):
    """Zone folders, callAnalysis at the caps, tampered cursors: a result or 1000, never a 1009 or a 500."""
    with TestClient(world.app) as client:
        name = data.draw(st.sampled_from(["list", "masklist", "reportCount", "summary"]), label="endpoint")
        body: dict = {**world.creds}
        tz = data.draw(st.none() | TIMEZONES, label="timezone")
        if tz is not None:
            body["timezone"] = tz
        if data.draw(st.booleans(), label="with callAnalysis"):
            body["callAnalysis"] = data.draw(analysis_near_caps(), label="callAnalysis")
        cursor = None
        if name.endswith("list") and data.draw(st.booleans(), label="with cursor"):
            cursor = data.draw(hostile_cursors(_cursor(client, world.creds)), label="cursor")
            body["cursor"] = cursor
        resp = client.post(f"/api/v2/callreport/{name}", json=body)
        answer = check_answer(name, resp.status_code, resp.headers, resp.content, body)
    assert answer is not None and (answer["status"] == "success" or answer["code"] == 1000), answer
    ca = body.get("callAnalysis") or []
    values = sum(len(c["value"]) for c in ca if isinstance(c["value"], list))
    over = len(ca) > 20 or values > 1000
    if tz in _zone_folders() or tz in NOT_ZONES or over or cursor is not None:
        assert answer["status"] == "error" and answer.get("detail"), (tz, len(ca), values, answer)


# --- the schema itself: every body as the contract describes it --------------------------------

CREDS = {"ssid", "userId", "token"}
FILTERS = {
    "startDate",
    "endDate",
    "timezone",
    "agentIds",
    "callTypes",
    "didNumbers",
    "campaigns",
    "departments",
    "dispositions",
    "callIds",
    "directions",
    "statuses",
    "hangupBy",
    "queueNames",
    "minDuration",
    "maxDuration",
    "minTalkDuration",
    "maxTalkDuration",
    "customerNumber",
    "callAnalysis",
    "sortBy",
    "sortOrder",
}
EXPORT = FILTERS | {"title", "columns", "idempotencyKey"}
BODIES = {
    "auth/login": {"username", "password"},
    "auth/logout": {"ssid"},
    "callreport/list": FILTERS | {"page", "limit", "cursor"} | CREDS,
    "callreport/masklist": FILTERS | {"page", "limit", "cursor"} | CREDS,
    "callreport/reportCount": FILTERS | CREDS,
    "callreport/summary": FILTERS | {"groupBy"} | CREDS,
    "callreport/detail": {"callId", "timezone"} | CREDS,
    "callreport/ingest": {"calls"} | CREDS,
    "callreport/exportCsv": EXPORT | CREDS,
    "callreport/exportExcel": EXPORT | CREDS,
    "callreport/exportJsonl": EXPORT | CREDS,
    "callreport/exportPdf": EXPORT | CREDS,
    "callreport/exportList": {"page", "limit", "formats", "states"} | CREDS,
    "callreport/exportStatus": {"requestId"} | CREDS,
    "callreport/exportCancel": {"requestId"} | CREDS,
    "callreport/changeTitle": {"requestId", "title"} | CREDS,
    "callreport/downloadPdf": {"requestId"} | CREDS,
    "callreport/downloadCsv": {"requestId"} | CREDS,
    "callreport/downloadExcel": {"requestId"} | CREDS,
    "callreport/downloadJsonl": {"requestId"} | CREDS,
}


def _body_schema(doc: dict, name: str) -> dict:
    return doc["paths"][f"/api/v2/{name}"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def _enum_of(prop: dict) -> set:
    """The enumerated values of a (possibly nullable) list-of-enum or enum property."""
    for option in prop.get("anyOf", [prop]):
        target = option.get("items", option)
        if "enum" in target:
            return set(target["enum"])
    return set()


def test_the_schema_describes_every_body_of_the_contract(world):
    with TestClient(world.app) as client:
        served = client.get("/openapi.json").json()
    assert served == schema.raw_schema  # the fuzzer ran on exactly what the service serves
    assert {p.removeprefix("/api/v2/") for p in served["paths"]} == set(BODIES)
    for name, fields in BODIES.items():
        body = _body_schema(served, name)
        assert body["type"] == "object" and body["additionalProperties"] is False, name
        assert set(body["properties"]) == fields, name
        content = served["paths"][f"/api/v2/{name}"]["post"]["responses"]["200"]["content"]
        media = FILE_TYPES.get(name.rsplit("/", 1)[-1])
        assert set(content) == {"application/json"} | ({media} if media else set()), name
    for name in ("callreport/detail", "callreport/exportStatus", "auth/login"):
        assert set(_body_schema(served, name)["required"]) >= BODIES[name] - CREDS - {"timezone"}
    filters = _body_schema(served, "callreport/list")["properties"]
    assert _enum_of(filters["statuses"]) == {"answered", "missed", "busy", "noanswer", "failed", "cancelled"}
    assert _enum_of(filters["directions"]) == {"inbound", "outbound"}
    assert _enum_of(filters["sortOrder"]) == {"asc", "desc"}
    groups = _body_schema(served, "callreport/summary")["properties"]["groupBy"]
    assert _enum_of(groups) == {
        "agent",
        "day",
        "hour",
        "status",
        "direction",
        "callType",
        "campaign",
        "department",
        "disposition",
        "queueName",
    }
    record = _body_schema(served, "callreport/ingest")["properties"]["calls"]["items"]
    assert set(record["properties"]) == set(RECORD_FIELDS) and record["additionalProperties"] is False
    assert set(record["properties"]["events"]["items"]["properties"]) == {"time", "type", "agentId", "note"}
