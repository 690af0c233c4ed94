"""What the fuzz tests share: a private database with principals and data, and the contract's answer check.

Each fuzz module builds its own world (module scope) on a private SQLite file and a private
PostgreSQL database, so the jobs it leaves pending never reach another test's worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from callreport import db
from callreport.app import create_app
from callreport.demo import generate_calls
from callreport.settings import Settings
from callreport.storage import from_url
from callreport.worker import Worker
from tests.factories import call, make_tenant, private_database_url

FILE_TYPES = {
    "downloadPdf": "application/pdf",
    "downloadCsv": "text/csv; charset=utf-8",
    "downloadExcel": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "downloadJsonl": "application/gzip",
}
ERROR_CODES = {1000, 1009, 1010, 1014, 1015, 1047, 1050}
# §1: on every API response, whatever it is.
CONTRACT_HEADERS = {
    "x-content-type-options": "nosniff",
    "strict-transport-security": "max-age=15724800; includeSubDomains",
    "access-control-allow-origin": "*",
    "access-control-allow-credentials": "true",
    "access-control-max-age": "1728000",
    "vary": "Origin",
}
NOBODY = "AG-NOBODY"  # an agent with no calls: B2's whole scope


@dataclass
class World:
    """The app under fuzzing, its principals and the real things a generated body may point at.

    owner (A) has every permission. In A's account: same_account (B) lists calls and sees numbers
    but is no ADMIN; limited_admin (B2) is an ADMIN without VIEW_NUMBER limited to an agent with
    no calls. foreign (C) has every permission in another account.
    """

    app: FastAPI
    engine: sa.Engine
    worker: Worker
    creds: dict
    ssid: str
    same_account: dict
    limited_admin: dict
    foreign: dict
    request_ids: dict[str, str]

    @property
    def others(self) -> dict[str, dict]:
        """Every principal that must never see A's export requests or cursors."""
        return {"B": self.same_account, "B2": self.limited_admin, "C": self.foreign}


@pytest.fixture(scope="module", name="world")
def world_fixture(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A private database with principals A, B, B2, C, demo calls and a finished export of each format."""
    urls = private_database_url(backend, tmp_path_factory)
    engine = db.make_engine(next(urls))
    db.migrate(engine)
    conf = Settings(data_dir=tmp_path_factory.mktemp("fuzzdata"), embedded_worker=False)
    storage = from_url(tmp_path_factory.mktemp("fuzzexports").as_uri())
    app = create_app(conf, engine=engine, storage=storage)
    owner, stranger = make_tenant(engine), make_tenant(engine)
    same = make_tenant(engine, ["LIST_CALL_LOG", "VIEW_NUMBER"], account_id=owner.account_id)
    limited = make_tenant(engine, ["LIST_CALL_LOG", "ADMIN"], agents=[NOBODY], account_id=owner.account_id)
    with TestClient(app) as client:
        calls = list(generate_calls(40, seed=7, days=5))
        assert call(client, "ingest", {**owner.creds, "calls": calls})["inserted"] == 40
        theirs = [{**c, "callId": f"C-{c['callId']}"} for c in calls[:5]]  # callIds are per account
        assert call(client, "ingest", {**stranger.creds, "calls": theirs})["inserted"] == 5
        login = {"username": owner.username, "password": owner.password}
        ssid = call(client, "login", login, family="auth")["ssid"]
        ids = {
            fmt: call(client, name, {**owner.creds, "title": f"fuzz {fmt}"})["requestId"]
            for fmt, name in (
                ("pdf", "exportPdf"),
                ("csv", "exportCsv"),
                ("xlsx", "exportExcel"),
                ("jsonl", "exportJsonl"),
            )
        }
    worker = Worker(engine, storage, conf)
    while worker.run_one() is not None:
        pass
    yield World(app, engine, worker, owner.creds, ssid, same.creds, limited.creds, stranger.creds, ids)
    engine.dispose()
    for _ in urls:  # drops the PostgreSQL database
        pass


def header(headers: Any, name: str) -> str | None:
    """One header's value from schemathesis' (lists) or httpx's headers."""
    value = headers.get(name)
    return value[0] if isinstance(value, list) else value


def check_headers(path: str, status: int, headers: Any) -> None:
    """§1's headers on every response: security, CORS, HSTS, no Server, an ETag on a body."""
    for name, want in CONTRACT_HEADERS.items():
        assert header(headers, name) == want, (path, name, header(headers, name))
    assert "no-store" in (header(headers, "cache-control") or ""), path
    assert header(headers, "server") is None, path
    if status != 204:
        assert header(headers, "etag"), path


def check_answer(path: str, status: int, headers: Any, content: bytes, context: object = None) -> dict | None:
    """The contract's answer: its headers, then the envelope (returned) or a download's file (None)."""
    assert status < 500, (path, content[:500], context)
    check_headers(path, status, headers)
    last = path.rsplit("/", 1)[-1].lower()  # the path as the client wrote it: any case
    name = next((k for k in FILE_TYPES if k.lower() == last), None)
    ctype = header(headers, "content-type") or ""
    if name is not None and not ctype.startswith("application/json"):
        assert status == 200 and ctype == FILE_TYPES[name]
        assert int(header(headers, "content-length")) == len(content) > 0
        disposition = header(headers, "content-disposition") or ""
        assert disposition.startswith('attachment; filename="')
        assert not any(c in disposition for c in "\r\n\x00")
        return None
    assert ctype.startswith("application/json"), ctype
    body = orjson.loads(content)
    assert isinstance(body, dict) and body.get("status") in ("success", "error"), body
    if body["status"] == "error":
        assert body["code"] in ERROR_CODES and isinstance(body["message"], str), body
        # 1009 "Something went wrong" is an unexpected failure: the in-band 5xx (§2).
        assert body["message"] != "Something went wrong", (path, context, body)
    else:
        assert status == 200, (path, status, body)
    return body
