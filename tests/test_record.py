"""Every role record.py gives a field works end to end, on both databases: ingest, list and detail
return it, and its list filter, bounds, sort, summary group, export column and masking do what the
declaration says. The values come from each field's declared kind and limits, so a new field is
tested as soon as it is declared."""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from callreport import record
from callreport.models import calls
from callreport.record import Field
from callreport.worker import Worker
from tests.factories import Tenant, call, make_tenant

PHONES = ["+91 98765-43210", "080 4718 2201", "+1-555-0100"]
# The contract's masking (§7) of PHONES, written out by hand: first two and last two digits kept.
MASKED = {"+91 98765-43210": "+91 XXXXX-XXX10", "080 4718 2201": "08X XXXX XX01", "+1-555-0100": "+1-5XX-XX00"}
N = 3  # records 0, 1, 2; record 2 has null in every field that may be null
# Each field orders the records its own way (by its index in FIELDS), so a sort or filter that
# reads the wrong column gives another order.
PERMS = list(itertools.permutations(range(N)))


def ids(fields: tuple) -> list[str]:
    return [f.name if isinstance(f, Field) else f"{f[0].name}-{f[1].name}" for f in fields]


def value(f: Field, i: int) -> Any:
    """Record i's value of field f, made from the declaration alone."""
    rank = PERMS[record.FIELDS.index(f) % len(PERMS)][i]
    if f.nullable and i == N - 1:
        return None
    if f.choices:
        return sorted(f.choices)[rank % len(f.choices)]
    if f.kind == "int":  # every other duration stays below duration, as talkDuration must
        return 10 * rank + (100 if f.name == "duration" else 0)
    if f.kind == "time":  # every end after every start
        return f"2024-03-0{rank + (1 if f.name == 'startTime' else 5)}T10:00:00+00:00"
    if f.kind == "phone":
        return PHONES[rank]
    if f.kind == "json":
        return {"k": rank, "tag": f"t{rank}"}
    if f.kind == "events":
        return [{"time": f"2024-03-0{rank + 1}T10:00:00+00:00", "type": "ring"}]
    return f"{f.name[:3]}-{'ABC'[rank]}-Ω"[: f.max_length]


RECORDS = [{f.name: value(f, i) for f in record.FIELDS} for i in range(N)]
BY_START = sorted(RECORDS, key=lambda r: r["startTime"])  # one offset: the text sorts as the time


@dataclass
class World:
    tenant: Tenant
    masked: Tenant  # LIST_CALL_LOG only: numbers masked


@pytest.fixture(scope="module")
def world(engine: sa.Engine, client) -> World:
    """The three records ingested over HTTP in a fresh account, per backend."""
    tenant = make_tenant(engine)
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=tenant.account_id)
    assert call(client, "ingest", {**tenant.creds, "calls": RECORDS}) == {
        "status": "success",
        "inserted": N,
        "updated": 0,
    }
    return World(tenant, masked)


def listed(client, tenant: Tenant, body: dict) -> list[dict]:
    resp = call(client, "list", {**tenant.creds, "limit": 100, **body})
    assert resp["status"] == "success", resp
    return resp["data"]


def test_the_declaration_is_the_contract_s_record() -> None:
    from tests.contract import RECORD_FIELDS

    assert tuple(f.name for f in record.FIELDS) == RECORD_FIELDS
    assert len({f.column for f in record.FIELDS}) == len(record.FIELDS)


@pytest.mark.parametrize("f", record.FIELDS, ids=ids(record.FIELDS))
def test_each_field_has_its_column(f: Field) -> None:
    """The column exists with a type that holds every value the field's validation lets in."""
    col = calls.c[f.column]
    assert col.nullable or not f.nullable
    kind = {"int": sa.Integer, "time": sa.BigInteger, "json": sa.JSON, "events": sa.JSON}.get(f.kind, sa.String)
    assert isinstance(col.type, kind), (f.name, col.type)
    longest = max(map(len, f.choices)) if f.choices else f.max_length
    if isinstance(col.type, sa.String) and col.type.length is not None:
        assert longest is not None and longest <= col.type.length
    if f.kind == "int":
        assert f.le is not None and f.le < 2**31  # fits INTEGER on both databases


@pytest.mark.parametrize("f", record.FIELDS, ids=ids(record.FIELDS))
def test_ingest_list_and_detail_return_the_field(client, world: World, f: Field) -> None:
    rows = {r["callId"]: r for r in listed(client, world.tenant, {})}
    for rec in RECORDS:
        got = call(client, "detail", {**world.tenant.creds, "callId": rec["callId"]})["data"]
        assert got[f.name] == rec[f.name]
        if f.export:
            assert rows[rec["callId"]][f.name] == rec[f.name]
        else:
            assert f.name not in rows[rec["callId"]]


@pytest.mark.parametrize("f", record.LISTED, ids=ids(record.LISTED))
def test_list_filter(client, world: World, f: Field) -> None:
    for wanted in ([RECORDS[0][f.name]], [RECORDS[1][f.name], "no-such-value"], []):
        wanted = [w for w in wanted if f.choices is None or w in f.choices]
        expect = [r["callId"] for r in BY_START if r[f.name] in wanted]
        got = listed(client, world.tenant, {f.filter: wanted, "sortBy": "startTime", "sortOrder": "asc"})
        assert [r["callId"] for r in got] == expect, (f.filter, wanted)


@pytest.mark.parametrize("pair", record.BOUNDED, ids=ids(record.BOUNDED))
def test_bound_filter(client, world: World, pair: tuple[Field, record.Bound]) -> None:
    f, bound = pair
    limit = sorted(r[f.name] for r in RECORDS)[1]
    keep = (lambda v: v >= limit) if bound.op == ">=" else (lambda v: v <= limit)
    expect = [r["callId"] for r in BY_START if keep(r[f.name])]
    got = listed(client, world.tenant, {bound.name: limit, "sortBy": "startTime", "sortOrder": "asc"})
    assert [r["callId"] for r in got] == expect and 0 < len(expect) < N


@pytest.mark.parametrize("f", record.SORTS, ids=ids(record.SORTS))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort(client, world: World, f: Field, order: str) -> None:
    present = [r for r in RECORDS if r[f.name] is not None]
    expect = sorted(present, key=lambda r: (r[f.name], r["callId"]), reverse=order == "desc")
    expect += [r for r in RECORDS if r[f.name] is None]  # nulls last either way (§6)
    got = listed(client, world.tenant, {"sortBy": f.name, "sortOrder": order})
    assert [r["callId"] for r in got] == [r["callId"] for r in expect]


@pytest.mark.parametrize("f", record.GROUPS, ids=ids(record.GROUPS))
def test_summary_group(client, world: World, f: Field) -> None:
    resp = call(client, "summary", {**world.tenant.creds, "groupBy": f.group})
    assert resp["status"] == "success", resp
    want: dict[Any, int] = {}
    for r in RECORDS:
        want[r[f.name]] = want.get(r[f.name], 0) + 1
    assert {g["key"]: g["calls"] for g in resp["data"]} == want


def run_export(client, engine, local_storage, settings, creds: dict, body: dict, fmt: str = "Csv") -> bytes:
    """export<fmt>, run by a worker in this process, then downloaded."""
    out = call(client, f"export{fmt}", {**creds, **body})
    assert out["status"] == "success", out
    worker = Worker(engine, local_storage, settings, name="test-record")
    while worker.run_one() is not None:
        pass
    resp = client.post(f"/api/v2/callreport/download{fmt}", json={**creds, "requestId": out["requestId"]})
    assert resp.status_code == 200, resp.text
    return resp.content


@pytest.fixture(scope="module")
def exported(client, engine, local_storage, settings, world: World) -> dict[str, dict[str, str]]:
    """One CSV export of every default column: {callId: {column: cell}}."""
    body = {"sortBy": "startTime", "sortOrder": "asc"}
    rows = list(
        csv.DictReader(
            io.StringIO(run_export(client, engine, local_storage, settings, world.tenant.creds, body).decode())
        )
    )
    return {r["callId"]: r for r in rows}


@pytest.mark.parametrize("f", record.FIELDS, ids=ids(record.FIELDS))
def test_export_column(exported: dict, f: Field) -> None:
    for rec in RECORDS:
        row = exported[rec["callId"]]
        if not f.export:
            assert f.name not in row
            continue
        v = rec[f.name]
        if f.kind == "json":
            assert json.loads(row[f.name]) == v
        else:
            assert row[f.name] == ("" if v is None else str(v))


PHONE_FIELDS = tuple(f for f in record.FIELDS if f.kind == "phone")


@pytest.mark.parametrize("f", PHONE_FIELDS, ids=ids(PHONE_FIELDS))
def test_masking(client, world: World, f: Field) -> None:
    for name, tenant in (("masklist", world.tenant), ("list", world.masked)):
        got = {r["callId"]: r[f.name] for r in call(client, name, {**tenant.creds})["data"]}
        for rec in RECORDS:
            assert got[rec["callId"]] == (MASKED[rec[f.name]] if f.masked else rec[f.name]), (name, f.name)
    if f.sort_code is not None:  # the order of hidden numbers would reveal them: VIEW_NUMBER only
        resp = call(client, "list", {**world.masked.creds, "sortBy": f.name})
        assert (resp["status"] == "error") == f.masked, resp


# --- queueName, the field added as one entry ------------------------------------------------------


def test_queue_name_validation(client, tenant: Tenant) -> None:
    base = {k: v for k, v in RECORDS[0].items() if k != "queueName"}
    for bad, reason in (("q" * 201, "at most 200 characters"), (5, "valid string")):
        resp = call(client, "ingest", {**tenant.creds, "calls": [base, {**base, "callId": "x2", "queueName": bad}]})
        assert resp["code"] == 1000 and resp["detail"].startswith("calls[1].queueName: "), resp
        assert reason in resp["detail"]
    ok = [{**base, "queueName": "q" * 200}, {**base, "callId": "x2", "queueName": None}, {**base, "callId": "x3"}]
    assert call(client, "ingest", {**tenant.creds, "calls": ok})["inserted"] == 3
    got = {r["callId"]: r["queueName"] for r in listed(client, tenant, {})}
    assert got == {base["callId"]: "q" * 200, "x2": None, "x3": None}
    # Replacing a call replaces its queue too, also with none.
    assert call(client, "ingest", {**tenant.creds, "calls": [base]})["updated"] == 1
    assert call(client, "detail", {**tenant.creds, "callId": base["callId"]})["data"]["queueName"] is None


def test_queue_name_in_excel_and_pdf(client, engine, local_storage, settings, world: World) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    body = {"columns": ["callId", "queueName"], "sortBy": "startTime", "sortOrder": "asc"}
    args = (client, engine, local_storage, settings, world.tenant.creds, body)
    sheet = load_workbook(io.BytesIO(run_export(*args, fmt="Excel")))["Calls"]
    assert [tuple(c.value for c in row) for row in sheet.iter_rows()] == [("callId", "queueName")] + [
        (r["callId"], r["queueName"]) for r in BY_START
    ]
    pdf = PdfReader(io.BytesIO(run_export(*args, fmt="Pdf")))
    text = "".join(page.extract_text() for page in pdf.pages[1:])
    assert "queueName" in text
    for r in RECORDS:
        assert r["queueName"] is None or r["queueName"] in text


def test_a_pbx_import_keeps_the_queue(client, engine, tenant: Tenant) -> None:
    """The importers' rows come from the same declaration: queueName is stored, unknown numbers as ""."""
    from callreport import db
    from callreport.repo import calls as calls_repo
    from callreport.sources.store import record_row

    rec = {**RECORDS[0], "callId": "pbx-1", "queueName": "support@default", "didNumber": None}
    with db.writing(engine) as conn:
        assert calls_repo.upsert(conn, tenant.account_id, [record_row(tenant.account_id, rec, 0)]) == (1, 0)
    [got] = listed(client, tenant, {"queueNames": ["support@default"]})
    assert (got["callId"], got["queueName"], got["didNumber"]) == ("pbx-1", "support@default", "")
