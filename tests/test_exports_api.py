"""The export requests over HTTP: lifecycle on both storages, request fields, listing,
titles and file names, download headers and errors, idempotency and isolation."""

from __future__ import annotations

import gzip
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.app import create_app
from tests.export_data import (
    ACCOUNT_TZ,
    DEFAULT_COLUMNS,
    VIEW_TZ,
    instant,
    ordered,
    parse_csv,
    select,
)  # fmt: skip
from tests.export_stack import (
    DOWNLOAD,
    EXPORT,
    EXTENSION,
    FILE_NOT_EXISTS,
    INVALID_PARAMETER,
    INVALID_PARAMETERS,
    MEDIA,
    Calls,
    Stack,
    stored,
)
from tests.factories import make_tenant

HEX24 = re.compile(r"^[0-9a-f]{24}$")
REQUEST_FIELDS = {
    "requestId", "title", "format", "state", "progress", "rowCount", "fileSize", "sha256", "filters",
    "columns", "createdBy", "createdAt", "startedAt", "finishedAt", "expiresAt", "error",
}  # fmt: skip


@pytest.fixture(params=["local", "s3"])
def any_stack(request: pytest.FixtureRequest, stack: Stack, engine: sa.Engine, settings: Any) -> Iterator[Stack]:
    """The app on local storage, then on S3 (moto)."""
    if request.param == "local":
        yield stack
        return
    storage = request.getfixturevalue("s3_storage")
    with TestClient(create_app(settings, engine=engine, storage=storage)) as c:
        yield Stack(c, storage, engine, settings)


def disposition_name(header: str) -> tuple[str, str | None]:
    """filename and the decoded filename* of a Content-Disposition header."""
    m = re.fullmatch(r"attachment; filename=\"([^\"\\\r\n]*)\"(?:; filename\*=UTF-8''([!-~]+))?", header)
    assert m, header
    return m.group(1), unquote(m.group(2), errors="strict") if m.group(2) else None


# --- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf", "jsonl"])
def test_lifecycle(any_stack: Stack, calls: Calls, fmt: str) -> None:
    creds = calls.owner.creds
    filters = {"startDate": "2024-03-07", "endDate": "2024-03-10", "timezone": VIEW_TZ}
    out = any_stack.call(EXPORT[fmt], creds, **filters)
    assert set(out) == {"status", "requestId", "state"} and out["state"] == "pending"
    rid = out["requestId"]
    assert HEX24.match(rid)
    pending = any_stack.status(creds, rid)
    assert (pending["state"], pending["progress"], pending["rowCount"]) == ("pending", 0, 0)
    assert pending["fileSize"] is pending["sha256"] is pending["startedAt"] is pending["finishedAt"] is None
    assert any_stack.download(fmt, creds, rid).json() == FILE_NOT_EXISTS

    assert "done" in any_stack.drain()
    data = any_stack.status(creds, rid)
    resp = any_stack.download(fmt, creds, rid)
    body = resp.content
    tz = ZoneInfo(VIEW_TZ)
    expected = select(
        calls.records,
        datetime(2024, 3, 7, tzinfo=tz).isoformat(),
        datetime(2024, 3, 10, 23, 59, 59, tzinfo=tz).isoformat(),
    )
    assert expected and (data["state"], data["progress"], data["rowCount"]) == ("done", 100, len(expected))
    assert data["fileSize"] == len(body) and data["sha256"] == hashlib.sha256(body).hexdigest()
    assert resp.headers["content-type"] == MEDIA[fmt]
    assert resp.headers["content-disposition"] == f'attachment; filename="call_report.{EXTENSION[fmt]}"'
    assert resp.headers["content-length"] == str(len(body))
    etag = resp.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    finished, expires = instant(data["finishedAt"]), instant(data["expiresAt"])
    assert instant(data["createdAt"]) <= instant(data["startedAt"]) <= finished
    assert abs((expires - finished) - timedelta(days=7)) <= timedelta(seconds=2)
    if fmt == "csv":
        assert len(parse_csv(body)) == len(expected) + 1
    if fmt == "jsonl":
        assert len(gzip.decompress(body).splitlines()) == len(expected)
    assert len(stored(any_stack.storage, rid)) == 1


def test_status_fields(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    given = {
        "timezone": VIEW_TZ, "statuses": ["answered", "missed"], "minDuration": 5,
        "agentIds": ["AG-1", "AG-2"], "callAnalysis": [{"field": "flag", "op": "eq", "value": True}],
        "sortBy": "duration", "sortOrder": "asc",
    }  # fmt: skip
    columns = ["callId", "callAnalysis.score", "duration"]
    rid = stack.call(
        "exportCsv",
        creds,
        startDate="2024-03-07",
        endDate="2024-03-09 12:00:00",
        columns=columns,
        title="Status check",
        **given,
    )["requestId"]
    data = stack.status(creds, rid)
    assert set(data) == REQUEST_FIELDS
    assert (data["requestId"], data["title"], data["format"], data["columns"]) == (
        rid,
        "Status check",
        "csv",
        columns,
    )
    echo = dict(data["filters"])
    tz = ZoneInfo(VIEW_TZ)
    assert instant(echo.pop("startDate")) == datetime(2024, 3, 7, tzinfo=tz)
    assert instant(echo.pop("endDate")) == datetime(2024, 3, 9, 12, tzinfo=tz)
    assert echo == given
    assert data["createdBy"] == calls.owner.user_id and data["error"] is None
    created = data["createdAt"]
    assert created.endswith("+05:30") and abs(time.time() - instant(created).timestamp()) < 60
    # Nothing given: the effective timezone (the account's) is still there; columns resolved.
    plain = stack.status(creds, stack.call("exportExcel", creds)["requestId"])
    assert plain["filters"] == {"timezone": ACCOUNT_TZ} and plain["columns"] == DEFAULT_COLUMNS
    dated = stack.status(
        creds, stack.call("exportPdf", creds, startDate="2024-03-07", endDate="2024-03-09")["requestId"]
    )
    assert "2024-03-07" in dated["title"] and "2024-03-09" in dated["title"]
    for request_id in (rid, plain["requestId"], dated["requestId"]):
        stack.call("exportCancel", creds, requestId=request_id)


def test_list_newest_first_filters_and_pages(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    user = calls.user(engine)
    ids = [stack.call(EXPORT[fmt], user.creds)["requestId"] for fmt in ("csv", "xlsx", "pdf", "csv", "xlsx")]
    newest = ids[::-1]

    def listed(**body: Any) -> list[str]:
        out = stack.call("exportList", user.creds, **body)
        assert out["status"] == "success", out
        assert all(set(item) == REQUEST_FIELDS for item in out["data"])
        return [item["requestId"] for item in out["data"]]

    assert listed() == newest
    assert [listed(page=p, limit=2) for p in (1, 2, 3, 4)] == [newest[:2], newest[2:4], newest[4:], []]
    assert listed(formats=["csv"]) == [ids[3], ids[0]]
    assert listed(formats=["xlsx", "pdf"]) == [ids[4], ids[2], ids[1]]
    stack.call("exportCancel", user.creds, requestId=ids[1])
    stack.drain()
    assert listed(states=["cancelled"]) == [ids[1]]
    assert listed(states=["done"]) == [ids[4], ids[3], ids[2], ids[0]]
    assert listed(states=["pending", "running"]) == []
    assert listed(states=["done"], formats=["csv"], limit=1, page=2) == [ids[0]]
    assert stack.call("exportList", user.creds, formats=["doc"])["code"] == 1000
    assert stack.call("exportList", user.creds, page=0)["code"] == 1000


# --- titles and download headers ----------------------------------------------------------------


def safe_names(title: str) -> tuple[str, str | None]:
    """The contract's file names for a title: ASCII letters and digits kept, then any script's."""
    keep = " -_."
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in keep else "_" for c in title)[:100]
    uni_name = "".join(c if c.isalnum() or c in keep else "_" for c in title)[:100]
    return ascii_name, None if title.isascii() else uni_name


TITLES = [
    "Sales Q1 report",
    'a"b\r\nc/d\\e;f',
    "Отчёт März 2024",
    "x" * 150 + "y",
    "🙂 émoji/rapport",
    "..",
    "tab\there",
]


def test_titles_name_the_file(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    rid = stack.done("csv", creds, columns=["callId"])
    resp = stack.download("csv", creds, rid)
    assert disposition_name(resp.headers["content-disposition"]) == ("call_report.csv", None)
    for title in TITLES:
        out = stack.call("changeTitle", creds, requestId=rid, title=title)
        assert (out["status"], out["message"], out["data"]["title"]) == ("success", "Title updated", title)
        resp = stack.download("csv", creds, rid)
        assert resp.status_code == 200 and resp.content.startswith(b"callId\r\n")
        name, star = disposition_name(resp.headers["content-disposition"])
        ascii_name, uni_name = safe_names(title)
        assert name == ascii_name + ".csv"
        assert star == (None if uni_name is None else uni_name + ".csv")
    for bad in ("", "x" * 201, None, 5):
        assert stack.call("changeTitle", creds, requestId=rid, title=bad)["code"] == 1000
    assert stack.status(creds, rid)["title"] == TITLES[-1]
    # A title given at creation names the file too; null is no title.
    titled = stack.done("xlsx", creds, columns=["callId"], title="Créé")
    assert disposition_name(stack.download("xlsx", creds, titled).headers["content-disposition"]) == (
        "Cr__.xlsx",
        "Créé.xlsx",
    )
    untitled = stack.done("pdf", creds, columns=["callId"], title=None)
    assert stack.download("pdf", creds, untitled).headers["content-disposition"] == (
        'attachment; filename="call_report.pdf"'
    )


def test_download_headers(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    rid = stack.done("csv", creds)
    first = stack.download("csv", creds, rid, headers={"Origin": "https://app.example"})
    again = stack.download("csv", creds, rid)
    h = first.headers
    assert h["access-control-allow-origin"] == "https://app.example" and "Origin" in h["vary"]
    assert again.headers["access-control-allow-origin"] == "*"
    assert h["access-control-allow-credentials"] == "true" and h["access-control-max-age"] == "1728000"
    assert h["access-control-allow-methods"] == "GET, PUT, POST, DELETE, OPTIONS"
    assert "session-token" in h["access-control-allow-headers"]
    assert h["strict-transport-security"] == "max-age=15724800; includeSubDomains"
    assert int(h["content-length"]) == len(first.content) == stack.status(creds, rid)["fileSize"]
    assert h["etag"] == again.headers["etag"] and not h["etag"].startswith("W/")
    # The reference's path spelling and a text/plain body reach the same file.
    resp = stack.client.post(
        "/api/v2/CallReport/downloadCsv/",
        content=f'{{"userId": "{creds["userId"]}", "token": "{creds["token"]}", "requestId": "{rid}"}}',
        headers={"Content-Type": "text/plain"},
    )
    assert resp.content == first.content


# --- download errors --------------------------------------------------------------------------


def test_download_errors(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    creds = calls.owner.creds
    done = stack.done("csv", creds, columns=["callId"])
    pending = stack.call("exportPdf", creds)["requestId"]
    cancelled = stack.call("exportExcel", creds)["requestId"]
    stack.call("exportCancel", creds, requestId=cancelled)
    cases = [
        ("pdf", done),
        ("xlsx", done),
        ("pdf", pending),
        ("xlsx", cancelled),
        ("csv", secrets.token_hex(12)),
        ("pdf", secrets.token_hex(12)),
    ]
    for fmt, rid in cases:
        resp = stack.download(fmt, creds, rid)
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json() == FILE_NOT_EXISTS, (fmt, rid)
    for bad in ("abc", "z" * 24, "0" * 23, "0" * 25, "", " " + done[1:], 123, None, [done], {"$ne": ""}):
        for fmt in DOWNLOAD:
            assert stack.download(fmt, creds, bad).json() == INVALID_PARAMETER, bad
    for name in DOWNLOAD.values():
        url = f"/api/v2/callreport/{name}"
        assert stack.client.post(url, json=creds).json() == INVALID_PARAMETER
        assert stack.client.post(url, json={"requestId": done}).json() == INVALID_PARAMETERS
        assert stack.client.post(url, json={"requestId": "bad"}).json() == INVALID_PARAMETERS
        assert stack.client.post(url, json={**creds, "ssid": "x", "requestId": done}).json() == INVALID_PARAMETERS
        assert stack.client.post(url, json={"userId": creds["userId"], "requestId": done}).json() == INVALID_PARAMETERS
        assert stack.client.post(url, json={**creds, "requestId": done, "extra": 1}).json() == INVALID_PARAMETERS
        assert stack.client.post(url, json={**creds, "token": "nope", "requestId": done}).json() == {
            "status": "error",
            "message": "Invalid token",
            "code": 1014,
        }
        assert stack.client.post(url, content=b"{not json").json() == {
            "status": "error",
            "message": "Invalid Request Data",
            "code": 1047,
        }
    no_list = calls.user(engine, "VIEW_NUMBER")
    assert stack.download("csv", no_list.creds, done).json() == {
        "status": "error",
        "message": "Permission denied",
        "code": 1015,
    }
    for name in ("exportStatus", "changeTitle", "exportCancel"):
        out = stack.call(name, creds, requestId="abc", title="t")
        assert (out["status"], out["code"], out["message"]) == ("error", 1000, "Invalid parameters")
    stack.call("exportCancel", creds, requestId=pending)


# --- idempotency and isolation ------------------------------------------------------------------


def test_idempotency_key(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    user, other = calls.user(engine), calls.user(engine)
    body = {
        "idempotencyKey": "nightly-1",
        "statuses": ["answered"],
        "columns": ["callId"],
        "title": "Nightly",
    }
    first = stack.call("exportCsv", user.creds, **body)
    assert stack.call("exportCsv", user.creds, **body) == first
    for endpoint, change in [
        ("exportExcel", {}),
        ("exportCsv", {"statuses": ["missed"]}),
        ("exportCsv", {"columns": ["callId", "status"]}),
        ("exportCsv", {"sortOrder": "asc"}),
        ("exportCsv", {"title": "Other"}),
        ("exportCsv", {"timezone": VIEW_TZ}),
    ]:
        out = stack.call(endpoint, user.creds, **{**body, **change})
        assert (out["status"], out["code"]) == ("error", 1000), change
    assert [r["requestId"] for r in stack.call("exportList", user.creds)["data"]] == [first["requestId"]]
    stack.drain()
    assert stack.call("exportCsv", user.creds, **body) == {**first, "state": "done"}
    theirs = stack.call("exportCsv", other.creds, **body)
    assert theirs["status"] == "success" and theirs["requestId"] != first["requestId"]
    for key in ("", "k" * 65, 5):
        assert stack.call("exportCsv", user.creds, idempotencyKey=key)["code"] == 1000
    assert len(stack.call("exportList", user.creds)["data"]) == 1
    stack.call("exportCancel", other.creds, requestId=theirs["requestId"])


def test_idempotency_key_under_concurrent_retries(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    user = calls.user(engine)
    body = {"idempotencyKey": "burst", "columns": ["callId"]}
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda _: stack.call("exportCsv", user.creds, **body), range(16)))
    assert {out["status"] for out in outs} == {"success"}
    assert len({out["requestId"] for out in outs}) == 1
    listed = stack.call("exportList", user.creds)["data"]
    assert [r["requestId"] for r in listed] == [outs[0]["requestId"]]
    stack.call("exportCancel", user.creds, requestId=outs[0]["requestId"])


def test_isolation(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    owner = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER")
    rid = stack.done("csv", owner.creds, columns=["callId"])
    waiting = stack.call("exportPdf", owner.creds)["requestId"]
    outsider = make_tenant(engine)  # every permission, ADMIN included, in another account
    colleague = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER")
    unknown = secrets.token_hex(12)
    for stranger in (outsider, colleague):
        for name in ("exportStatus", "changeTitle", "exportCancel"):
            extra = {"title": "mine"} if name == "changeTitle" else {}
            as_unknown = stack.call(name, stranger.creds, requestId=unknown, **extra)
            assert as_unknown["message"] == "Request Not Exists" and as_unknown["code"] == 1009
            for target in (rid, waiting):
                assert stack.call(name, stranger.creds, requestId=target, **extra) == as_unknown
        for fmt, target in (("csv", rid), ("pdf", waiting)):
            assert stack.download(fmt, stranger.creds, target).json() == FILE_NOT_EXISTS
        assert stack.call("exportList", stranger.creds)["data"] == []
    data = stack.status(owner.creds, rid)
    assert data["title"] != "mine" and data["state"] == "done"
    assert stack.status(owner.creds, waiting)["state"] == "pending"
    # An ADMIN who could have made these files (numbers shown) manages them; see test_export_trust.py.
    admin = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", "ADMIN")
    assert {rid, waiting} <= {r["requestId"] for r in stack.call("exportList", admin.creds)["data"]}
    assert stack.call("changeTitle", admin.creds, requestId=rid, title="By admin")["data"]["title"] == "By admin"
    assert stack.download("csv", admin.creds, rid).headers["content-disposition"].endswith('"By admin.csv"')
    assert stack.call("exportCancel", admin.creds, requestId=waiting)["data"]["state"] == "cancelled"
    assert stack.status(owner.creds, waiting)["state"] == "cancelled"


def test_agent_limited_export(stack: Stack, calls: Calls, engine: sa.Engine) -> None:
    limited = calls.user(engine, "LIST_CALL_LOG", "VIEW_NUMBER", agents=["AG-1", "AG-3"])
    rid = stack.done("csv", limited.creds, columns=["callId", "agentId"], sortOrder="asc")
    rows = parse_csv(stack.download("csv", limited.creds, rid).content)
    expected = [r["callId"] for r in ordered(select(calls.records, agents=["AG-1", "AG-3"]), "startTime", "asc")]
    assert [row[0] for row in rows[1:]] == expected and {row[1] for row in rows[1:]} == {"AG-1", "AG-3"}
    assert stack.status(limited.creds, rid)["rowCount"] == len(expected)
