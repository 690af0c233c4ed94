"""§9 Sizes and Cost on both backends: the callAnalysis caps, the issue's large `in`/`nin` lists
checked against a Python evaluation, and the query time budget ending in 1000."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import db, errors
from callreport.app import create_app
from callreport.ingest import to_rows
from callreport.models import calls
from callreport.settings import Settings
from tests.factories import Tenant, call, make_tenant

N_CALLS = 3000
FIELDS = [f"f{k}" for k in range(20)]
# What a call's field may hold; a tenth of the calls lack each field.
UNIVERSE = [0, 1, 2, 2.5, 3.0, "0", "1", "2", "a", "b", True, False, None]
# Values that look like the universe's without being equal to them (and a few that are: 1.0, 3).
CONFUSABLE = ["True", "true", "None", "null", "2.5", "3.0", "", "A", 1.0, 3, 0.5, -1, 10**12, "1 ", " a"]
# Counts to 1,000 without end: SQLite and PostgreSQL both run it, for minutes.
SLOW_SQL = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000000000) SELECT count(*) FROM r"


def kind(v: object) -> str:
    """The JSON type as the contract compares it: 1 and 1.0 are one number, true is not 1."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    return "number" if isinstance(v, int | float) else "string"


def holds(doc: dict, cond: dict) -> bool:
    """One in/nin condition evaluated in Python: `in` needs the key, `nin` holds without it."""
    field = cond["field"]
    found = field in doc and any(kind(doc[field]) == kind(x) and doc[field] == x for x in cond["value"])
    return found if cond["op"] == "in" else not found


def record(rng: random.Random, i: int) -> dict:
    analysis = {f: rng.choice(UNIVERSE) for f in FIELDS if rng.random() > 0.1}
    return {
        "callId": f"c{i:05d}",
        "startTime": "2024-03-10T10:00:00Z",
        "endTime": "2024-03-10T10:01:00Z",
        "duration": 60,
        "talkDuration": 50,
        "direction": "inbound",
        "callType": "ivr",
        "status": rng.choice(["answered", "missed"]),
        "callerNumber": "+15550001111",
        "customerNumber": "+15550002222",
        "didNumber": "+18005550100",
        "callAnalysis": analysis,
    }


def wide_conditions(seed: int) -> list[dict]:
    """The issue's case: 20 conditions of 50 values each (1,000 in all), half in and half nin,
    with duplicates and values of every type."""
    rng = random.Random(seed)
    out = []
    for k, field in enumerate(FIELDS):
        op = "in" if k % 2 == 0 else "nin"
        picked = rng.sample(UNIVERSE, 12 if op == "in" else 1)
        values = picked + [rng.choice(CONFUSABLE + picked) for _ in range(50 - len(picked))]
        rng.shuffle(values)
        out.append({"field": field, "op": op, "value": values})
    return out


LONG_LIST = [i / 2 for i in range(-300, 300)] + [str(i) for i in range(395)] + [True, None, "a", "a", "b"]


@pytest.fixture(scope="module")
def stored(engine: sa.Engine) -> tuple[Tenant, list[dict]]:
    """A tenant holding N_CALLS calls with random callAnalysis values; returns it and the records."""
    tenant = make_tenant(engine)
    rng = random.Random(20240310)
    records = [record(rng, i) for i in range(N_CALLS)]
    with engine.begin() as conn:
        conn.execute(calls.insert(), to_rows(tenant.account_id, records, ZoneInfo("UTC")))
    return tenant, records


def expected_ids(records: list[dict], conds: list[dict]) -> set[str]:
    return {r["callId"] for r in records if all(holds(r["callAnalysis"], c) for c in conds)}


CASES = {
    "20 conditions x 50 values": wide_conditions(1),
    "20 conditions x 50 values, another draw": wide_conditions(2),
    "in with 1,000 values": [{"field": "f3", "op": "in", "value": LONG_LIST}],
    "nin with 1,000 values": [{"field": "f4", "op": "nin", "value": LONG_LIST}],
}


@pytest.mark.parametrize("name", CASES)
def test_large_lists_answer_as_python_does(client: TestClient, stored: tuple, name: str) -> None:
    tenant, records = stored
    conds = CASES[name]
    assert sum(len(c["value"]) for c in conds) == 1000
    want = expected_ids(records, conds)
    assert 0 < len(want) < N_CALLS  # the case selects something and not everything
    body = {**tenant.creds, "callAnalysis": conds}
    count = call(client, "reportCount", body)
    assert count == {"status": "success", "count": len(want)}
    summary = call(client, "summary", {**body, "groupBy": "status"})
    assert summary["totals"]["calls"] == len(want)
    got: set[str] = set()
    cursor = None
    while True:
        page = call(client, "list", {**body, "limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert page["status"] == "success", page
        got |= {r["callId"] for r in page["data"]}
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert got == want


def over_cap_bodies() -> dict[str, list[dict]]:
    one = {"field": "f0", "op": "eq", "value": 1}
    return {
        "21 conditions": [one] * 21,
        "1,001 values among two conditions": [
            {"field": "f0", "op": "in", "value": list(range(1000))},
            {"field": "f1", "op": "nin", "value": [1]},
        ],
        "1,001 values among 20 conditions": [{"field": "f0", "op": "in", "value": list(range(50))}] * 19
        + [{"field": "f1", "op": "in", "value": list(range(51))}],
        "1,001 values in one condition": [{"field": "f0", "op": "in", "value": list(range(1001))}],
    }


@pytest.mark.parametrize("name", list(over_cap_bodies()))
@pytest.mark.parametrize("endpoint", ["reportCount", "list", "summary", "exportCsv"])
def test_over_the_caps_is_1000_naming_the_field(client: TestClient, tenant: Tenant, name: str, endpoint: str) -> None:
    got = call(client, endpoint, {**tenant.creds, "callAnalysis": over_cap_bodies()[name]})
    assert (got["status"], got["code"], got["message"]) == ("error", 1000, "Invalid parameters")
    assert got["detail"].startswith("callAnalysis"), got


# --- the time budget --------------------------------------------------------------------------


def test_budget_stops_a_slow_query_and_the_connection_goes_on(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(errors.QueryTooSlow) as caught, db.time_budget(conn, 0.2):
            conn.exec_driver_sql(SLOW_SQL).scalar()
        assert caught.value.code == 1000
        assert "narrow the filters" in caught.value.detail
        assert conn.exec_driver_sql("SELECT 41 + 1").scalar() == 42


def test_budget_ends_with_its_block(engine: sa.Engine) -> None:
    count_to = SLOW_SQL.replace("1000000000", "300000")
    with engine.connect() as conn:
        before = conn.exec_driver_sql("SHOW statement_timeout").scalar() if db.is_postgres(conn) else None
        with db.time_budget(conn, 0.05):
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        time.sleep(0.1)  # past the deadline: a query now must not be stopped by it
        assert conn.exec_driver_sql(count_to).scalar() == 300000
        if before is not None:
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == before


@pytest.fixture
def tight(database_url: str, settings: Settings, local_storage) -> Iterator[tuple[TestClient, Settings, sa.Engine]]:
    """An app whose queries may run 1 ms, on its own engine (one connection, used in turn)."""
    own = settings.model_copy(update={"query_timeout_seconds": 0.001})
    engine = db.make_engine(database_url)
    app = create_app(own, engine=engine, storage=local_storage)
    with TestClient(app) as c:
        yield c, own, engine
    engine.dispose()


@pytest.mark.parametrize("endpoint", ["list", "masklist", "reportCount", "summary"])
def test_past_the_budget_is_1000_then_the_next_request_answers(tight: tuple, stored: tuple, endpoint: str) -> None:
    client, own, engine = tight
    tenant, records = stored
    conds = wide_conditions(1)
    body = {**tenant.creds, "callAnalysis": conds}
    got = call(client, endpoint, body)
    assert (got["status"], got["code"], got["message"]) == ("error", 1000, "Invalid parameters"), got
    assert "narrow the filters" in got["detail"]
    own.query_timeout_seconds = 20  # the same pooled connection now answers in full
    assert engine.pool.checkedout() == 0
    assert call(client, "reportCount", body)["count"] == len(expected_ids(records, conds))
    assert call(client, endpoint, body)["status"] == "success"
