"""Property-based fuzzing of every endpoint against the service's own OpenAPI schema.

Schemathesis generates bodies from the schema the app serves (valid and invalid ones);
part of them carry real credentials, and requestIds of real finished exports, so the
fuzzer reaches past authentication into the handlers and the database. Every answer
must be the contract's: below HTTP 500, the envelope (or the file of a download), and
quick. Runs on a private SQLite file and a private PostgreSQL database, so the jobs it
leaves pending never reach another test's worker.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
import schemathesis
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from callreport import db
from callreport.app import create_app
from callreport.demo import generate_calls
from callreport.settings import Settings
from callreport.storage import from_url
from callreport.worker import Worker
from tests.conftest import PG_ADMIN_URL, _pg_available, call, make_tenant
from tests.contract import RECORD_FIELDS

MAX_SECONDS = 5.0
# What a generated body gets as credentials: mostly real ones, so handlers run.
WHO = ["token", "token", "ssid", "generated", "foreign"]
FILE_TYPES = {
    "downloadpdf": "application/pdf",
    "downloadcsv": "text/csv; charset=utf-8",
    "downloadexcel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
ERROR_CODES = {1000, 1009, 1010, 1014, 1015, 1047}
# Every outcome the API defines is HTTP 200, so schemathesis' "invalid data must be 4xx" does not apply.
EXCLUDED_CHECKS = [schemathesis.checks.negative_data_rejection]


@dataclass
class World:
    """The app under fuzzing and the real things a generated body may point at."""

    app: FastAPI
    creds: dict
    ssid: str
    foreign: dict
    request_ids: dict[str, str]


def private_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a fresh database of that backend; resume the generator to drop it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        return
    why = _pg_available()
    if why:
        pytest.skip(why)
    name = f"callreport_fuzz_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def world(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A private database with an account, demo calls and one finished export of each format."""
    urls = private_database_url(backend, tmp_path_factory)
    engine = db.make_engine(next(urls))
    db.migrate(engine)
    conf = Settings(data_dir=tmp_path_factory.mktemp("fuzzdata"), embedded_worker=False)
    storage = from_url(tmp_path_factory.mktemp("fuzzexports").as_uri())
    app = create_app(conf, engine=engine, storage=storage)
    owner, stranger = make_tenant(engine), make_tenant(engine)
    with TestClient(app) as client:
        calls = list(generate_calls(40, seed=7, days=5))
        assert call(client, "ingest", {**owner.creds, "calls": calls})["inserted"] == 40
        login = {"username": owner.username, "password": owner.password}
        ssid = call(client, "login", login, family="auth")["ssid"]
        ids = {
            fmt: call(client, name, {**owner.creds, "title": f"fuzz {fmt}"})["requestId"]
            for fmt, name in (("pdf", "exportPdf"), ("csv", "exportCsv"), ("xlsx", "exportExcel"))
        }
    worker = Worker(engine, storage, conf)
    while worker.run_one() is not None:
        pass
    yield World(app, owner.creds, ssid, stranger.creds, ids)
    engine.dispose()
    for _ in urls:  # drops the PostgreSQL database
        pass


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
        creds = {"token": world.creds, "ssid": {"ssid": world.ssid}, "foreign": world.foreign}[who]
        body.update(creds)
    if use_real_id and isinstance(body.get("requestId"), str):
        name = case.operation.path.rsplit("/", 1)[-1]
        fmt = {"downloadpdf": "pdf", "downloadcsv": "csv", "downloadexcel": "xlsx"}.get(name, "csv")
        body["requestId"] = world.request_ids[fmt]


def _check_answer(case: schemathesis.Case, response: schemathesis.Response) -> None:
    """The contract's answer: the envelope, or a file from a download endpoint."""
    assert response.status_code < 500, response.text
    name = case.operation.path.rsplit("/", 1)[-1]
    ctype = response.headers.get("content-type", [""])[0]
    if name in FILE_TYPES and not ctype.startswith("application/json"):
        assert response.status_code == 200 and ctype == FILE_TYPES[name]
        assert int(response.headers["content-length"][0]) == len(response.content) > 0
        disposition = response.headers["content-disposition"]
        assert len(disposition) == 1 and disposition[0].startswith('attachment; filename="')
        assert not any(c in disposition[0] for c in "\r\n\x00")
        return
    assert ctype.startswith("application/json"), ctype
    body = orjson.loads(response.content)
    assert isinstance(body, dict) and body.get("status") in ("success", "error"), body
    if body["status"] == "error":
        assert body["code"] in ERROR_CODES and isinstance(body["message"], str), body
        # A 1009 "Something went wrong" is an unexpected failure: the in-band 5xx.
        assert body["message"] != "Something went wrong", (case.body, body)
    elif response.status_code != 200:
        raise AssertionError(f"success with HTTP {response.status_code}: {body}")


def _fuzz_once(case: schemathesis.Case, who: str, use_real_id: bool, world: World) -> None:
    _inject(case, who, use_real_id, world)
    started = time.monotonic()
    response = case.call(app=world.app)
    elapsed = time.monotonic() - started
    case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
    _check_answer(case, response)
    assert elapsed < MAX_SECONDS, f"{case.operation.path} took {elapsed:.2f}s"
    body = case.body if isinstance(case.body, dict) else {}
    if who == "foreign" and body.get("requestId") in world.request_ids.values():
        # Another account's export request is answered as one that does not exist.
        assert orjson.loads(response.content)["status"] == "error"


FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
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
    "callreport/reportcount": FILTERS | CREDS,
    "callreport/summary": FILTERS | {"groupBy"} | CREDS,
    "callreport/detail": {"callId", "timezone"} | CREDS,
    "callreport/ingest": {"calls"} | CREDS,
    "callreport/exportcsv": EXPORT | CREDS,
    "callreport/exportexcel": EXPORT | CREDS,
    "callreport/exportpdf": EXPORT | CREDS,
    "callreport/exportlist": {"page", "limit", "formats", "states"} | CREDS,
    "callreport/exportstatus": {"requestId"} | CREDS,
    "callreport/exportcancel": {"requestId"} | CREDS,
    "callreport/changetitle": {"requestId", "title"} | CREDS,
    "callreport/downloadpdf": {"requestId"} | CREDS,
    "callreport/downloadcsv": {"requestId"} | CREDS,
    "callreport/downloadexcel": {"requestId"} | CREDS,
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
    for name in ("callreport/detail", "callreport/exportstatus", "auth/login"):
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
    }
    record = _body_schema(served, "callreport/ingest")["properties"]["calls"]["items"]
    assert set(record["properties"]) == set(RECORD_FIELDS) and record["additionalProperties"] is False
    assert set(record["properties"]["events"]["items"]["properties"]) == {"time", "type", "agentId", "note"}
