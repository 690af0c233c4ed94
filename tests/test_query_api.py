"""list, masklist, reportCount, detail, summary and ingest over HTTP, on both backends, against an
independent Python model of a few thousand seeded random calls (§6, §7, §9)."""

from __future__ import annotations

import base64
import calendar
import copy
import json
import random
import re
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from tests.contract import RECORD_FIELDS
from tests.factories import call, make_tenant

ACCOUNT_TZ = "Asia/Kolkata"
UTC, KOLKATA, NEW_YORK = ZoneInfo("UTC"), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/New_York")
FIELDS = list(RECORD_FIELDS[:-1])  # without events
AGENTS = [
    ("a1", "Zoë"),
    ("a2", "Émile"),
    ("a3", "zed"),
    ("a4", "Ωmega"),
    ("a5", "Анна"),
    ("a6", "Zoe"),
    ("a7", "émile"),
    ("a8", "Émile"),
    ("a9", None),
]
STATUSES = ["answered", "missed", "busy", "noanswer", "failed", "cancelled"]
DIDS = ["+18005550100", "+1 800 555 0101", "080-4567-8900", "+912240001234"]
PREFIXES = ["call-", "CALL-", "Ω-", "é-", "c"]
CHOICES = {
    "direction": ["inbound", "outbound"],
    "callType": ["ivr", "click2call", "campaign", "manual", "transfer"],
    "campaign": [None, "spring", "Spring", "été", "冬"],
    "department": [None, "sales", "support", "Sales"],
    "disposition": [None, "sale", "callback", "no-sale", "Rückruf"],
    "hangupBy": [None, "customer", "agent", "system"],
    "queueName": [None, "sales-q", "Support", "support", "ñ-queue"],
}
ANALYSIS = {
    "score": [5, "5", 5.0, 5.5, -1.5, 0, 10, "10", True, None, 2.25],
    "mood": ["Émile est là", "ÉMILE", "émile", "happy", "HAPPY days", "straße", "", None, 5, "Ωmega"],
    "vip": [True, False, None, 1, 0, "true"],
    "nps": [0, 3, 5, 9, 10, "5", 5.5],
    "flag": [1, True, "1", 1.0, 0, False, None],
    "note": [None, "x"],
}
T0 = calendar.timegm((2024, 3, 1, 0, 0, 0))
# Midnights and the 2024-03-10 DST change of New York (07:00Z), Kolkata midnights (18:30Z), UTC midnights.
BOUNDARIES = [
    T0 + d * 86400 + s
    for d in (8, 9, 10)
    for s in (-1, 0, 5 * 3600 - 1, 5 * 3600, 7 * 3600 - 1, 7 * 3600, 4 * 3600 - 1, 4 * 3600, 66600 - 1, 66600)
]


# --- the data: truths (epoch times) and the wire records that say them ------------------------------


def fmt(rng: random.Random, ts: int) -> str:
    """The instant in one of the shapes ingest takes: Z, offsets, naive in the account's zone, fractions."""
    k = rng.randrange(6)
    if k == 0:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if k in (1, 2):
        return datetime.fromtimestamp(ts, KOLKATA if k == 1 else NEW_YORK).isoformat()
    if k == 3:
        return datetime.fromtimestamp(ts, KOLKATA).strftime("%Y-%m-%d %H:%M:%S")
    moment = datetime.fromtimestamp(ts, NEW_YORK if k == 4 else KOLKATA).replace(microsecond=rng.randrange(1, 10**6))
    return moment.isoformat() if k == 4 else moment.replace(tzinfo=None).isoformat()


def phone(rng: random.Random, cores: list[str]) -> str:
    c = rng.choice(cores)
    return rng.choice(
        [
            f"+91{c}",
            f"+91 {c[:5]}-{c[5:]}",
            c,
            f"0{c}",
            f"+1-{c[:3]}-{c[3:6]}-{c[6:]}",
            c[-4:],
            c[-3:],
            f"{c[-4:-2]} {c[-2:]}",
        ]
    )


def make_call(rng: random.Random, call_id: str, cores: list[str], earlier: list[dict]) -> dict:
    roll = rng.random()
    if roll < 0.1 and earlier:
        start = rng.choice(earlier)["start"]
    elif roll < 0.25:
        start = rng.choice(BOUNDARIES)
    else:
        start = T0 + rng.randrange(20 * 86400)
    duration = rng.choice([0, 1, 30, 60, 61, 120, 300]) if rng.random() < 0.3 else rng.randrange(900)
    status = rng.choices(STATUSES, weights=[6, 2, 1, 1, 1, 1])[0]
    talk = (
        rng.choice([duration, rng.randint(0, duration)])
        if status == "answered"
        else rng.choice([0, 0, min(5, duration)])
    )
    agent_id, agent_name = rng.choice(AGENTS) if rng.random() > 0.15 else (None, None)
    t = {
        "callId": call_id,
        "start": start,
        "end": start + duration,
        "duration": duration,
        "talkDuration": talk,
        "holdDuration": rng.choice([0, 0, 5, 30]),
        "status": status,
        "waitTime": rng.choice([0, 5, 10, 60]) if rng.random() < 0.5 else rng.randrange(300),
        "callerNumber": phone(rng, cores),
        "customerNumber": phone(rng, cores),
        "didNumber": rng.choice(DIDS),
        "agentId": agent_id,
        "agentName": agent_name,
        "recordingUrl": rng.choice([None, f"https://rec.example/{call_id}.mp3"]),
        "callAnalysis": {k: rng.choice(v) for k, v in ANALYSIS.items() if rng.random() < 0.7},
        "events": [],
    }
    t.update({k: rng.choice(v) for k, v in CHOICES.items()})
    if rng.random() < 0.3:
        t["events"] = [
            {"time": start, "type": "ring"},
            {"time": start + t["waitTime"] // 2, "type": "queue", "note": "Ω"},
            {"time": t["end"], "type": "hangup", **({"agentId": agent_id} if agent_id else {})},
        ]
    return t


def wire(rng: random.Random, t: dict) -> dict:
    """The record as a client sends it: times as text, null and zero fields sometimes left out."""
    w = {k: v for k, v in t.items() if k not in ("start", "end", "events")}
    w["startTime"], w["endTime"] = fmt(rng, t["start"]), fmt(rng, t["end"])
    if t["events"]:
        w["events"] = [{**e, "time": fmt(rng, e["time"])} for e in t["events"]]
    for k in [k for k, v in w.items() if v in (None, 0, {}) and not isinstance(v, bool)]:
        if k != "duration" and rng.random() < 0.5:
            del w[k]
    return w


def build(seed: int = 20240310) -> tuple[list[list[dict]], list[tuple[int, int]], dict[str, dict]]:
    """Three ingest batches (with updates and a callId repeated in a batch), their counts, the end state."""
    rng = random.Random(seed)
    cores = [str(rng.randrange(10**9, 10**10)) for _ in range(40)]
    truths: list[dict] = []
    for i in range(3000):
        truths.append(make_call(rng, f"{rng.choice(PREFIXES)}{i:05d}", cores, truths))
    batches = [truths[:1200], truths[1200:2400], truths[2400:]]
    # 150 updates of batch 1 in batch 2; in batch 3 one of its own callIds again and one of batch 2.
    for b, old, n in ((1, truths[:1200], 150), (2, truths[2400:], 1), (2, truths[1200:2400], 1)):
        batches[b] += [make_call(rng, t["callId"], cores, truths) for t in rng.sample(old, n)]
    for batch in batches[1:]:
        rng.shuffle(batch)
    state: dict[str, dict] = {}
    counts = []
    for batch in batches:  # applied in order, as ingest must
        new = 0
        for t in batch:
            new += t["callId"] not in state
            state[t["callId"]] = t
        counts.append((new, len(batch) - new))
    return [[wire(rng, t) for t in b] for b in batches], counts, state


BATCHES, COUNTS, STATE = build()
CALLS = list(STATE.values())


@pytest.fixture(scope="module")
def main(engine, client):
    """A Kolkata account holding the data set, ingested over HTTP once per backend."""
    tenant = make_tenant(engine, timezone=ACCOUNT_TZ)
    for batch, (inserted, updated) in zip(BATCHES, COUNTS, strict=True):
        got = call(client, "ingest", {**tenant.creds, "calls": batch})
        assert got == {"status": "success", "inserted": inserted, "updated": updated}
    return tenant


def api(client, tenant, name: str, body: dict) -> dict:
    return call(client, name, {**tenant.creds, **body})


# --- the independent model ------------------------------------------------------------------------


def kind(v: object) -> str:
    return "null" if v is None else "bool" if isinstance(v, bool) else "number" if isinstance(v, int | float) else "str"


def same(a: object, b: object) -> bool:
    return kind(a) == kind(b) and a == b


def holds(doc: dict, c: dict) -> bool:
    field, op, value = c["field"], c["op"], c["value"]
    has = field in doc
    v = doc.get(field)
    if op == "exists":
        return has == value
    if op in ("eq", "ne"):
        return (has and same(v, value)) == (op == "eq")
    if op in ("in", "nin"):
        return (has and any(same(v, x) for x in value)) == (op == "in")
    if op == "contains":
        return kind(v) == "str" and value.lower() in v.lower()
    if kind(v) != "number":
        return False
    return {"gt": v > value, "gte": v >= value, "lt": v < value, "lte": v <= value}[op]


def instant(text: str, tz: ZoneInfo, end_of_day: bool) -> int:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        y, m, d = map(int, text.split("-"))
        return int(datetime(y, m, d, *((23, 59, 59) if end_of_day else ()), tzinfo=tz).timestamp())
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=tz).timestamp())


LISTS = {
    "agentIds": "agentId",
    "callTypes": "callType",
    "didNumbers": "didNumber",
    "campaigns": "campaign",
    "departments": "department",
    "dispositions": "disposition",
    "queueNames": "queueName",
    "callIds": "callId",
    "directions": "direction",
    "statuses": "status",
    "hangupBy": "hangupBy",
}
BOUNDS = {
    "minDuration": ("duration", 1),
    "maxDuration": ("duration", -1),
    "minTalkDuration": ("talkDuration", 1),
    "maxTalkDuration": ("talkDuration", -1),
}


def digits(s: str) -> str:
    return re.sub(r"[^0-9]", "", s)


def matcher(body: dict):
    """The filter as a Python predicate over the model's calls."""
    tz = ZoneInfo(body.get("timezone") or ACCOUNT_TZ)
    lo = instant(body["startDate"], tz, False) if "startDate" in body else None
    hi = instant(body["endDate"], tz, True) if "endDate" in body else None
    lists = [(field, set(body[name])) for name, field in LISTS.items() if name in body]
    bounds = [(f, body[name], sign) for name, (f, sign) in BOUNDS.items() if name in body]
    suffix = digits(body["customerNumber"]) if "customerNumber" in body else None
    conds = body.get("callAnalysis", ())

    def matches(t: dict) -> bool:
        return (
            (lo is None or t["start"] >= lo)
            and (hi is None or t["start"] <= hi)
            and all(t[field] in values for field, values in lists)
            and all((t[f] - limit) * sign >= 0 for f, limit, sign in bounds)
            and (suffix is None or digits(t["customerNumber"]).endswith(suffix))
            and all(holds(t["callAnalysis"], c) for c in conds)
        )

    return matches


SORT_KEYS = {
    "startTime": "start",
    "endTime": "end",
    "duration": "duration",
    "talkDuration": "talkDuration",
    "waitTime": "waitTime",
    "agentName": "agentName",
    "customerNumber": "customerNumber",
}


def expected(body: dict, calls: list[dict] = CALLS) -> list[dict]:
    """The matching calls in §9 order: code points, nulls last either way, ties on callId alike."""
    matches = matcher(body)
    found = [t for t in calls if matches(t)]
    key, desc = SORT_KEYS[body.get("sortBy", "startTime")], body.get("sortOrder", "desc") == "desc"
    known = sorted((t for t in found if t[key] is not None), key=lambda t: (t[key], t["callId"]), reverse=desc)
    return known + sorted((t for t in found if t[key] is None), key=lambda t: t["callId"], reverse=desc)


def mask(n: str) -> str:
    at = [i for i, ch in enumerate(n) if ch.isdigit()]
    keep = set(at[:2] + at[-2:]) if len(at) > 4 else set()
    return "".join("X" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(n))


def typed(v: object) -> object:
    """A value with its JSON type made visible, so True != 1 and 5 != 5.0 != "5" in comparisons."""
    if isinstance(v, dict):
        return {k: typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [typed(x) for x in v]
    return (type(v).__name__, v)


def when(ts: int, tz: ZoneInfo) -> tuple[int, int]:
    return ts, int(datetime.fromtimestamp(ts, tz).utcoffset().total_seconds())


def seen(text: str) -> tuple[int, int]:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return int(moment.timestamp()), int(moment.utcoffset().total_seconds())


def want(t: dict, tz: ZoneInfo, masked: bool, events: bool = False) -> dict:
    out = {k: t[k] for k in FIELDS if k in t}
    out.update(startTime=when(t["start"], tz), endTime=when(t["end"], tz), callAnalysis=typed(t["callAnalysis"]))
    if masked:
        out.update(callerNumber=mask(t["callerNumber"]), customerNumber=mask(t["customerNumber"]))
    if events:
        out["events"] = [{**e, "time": when(e["time"], tz)} for e in t["events"]]
    return out


def got(rec: dict) -> dict:
    assert list(rec)[: len(FIELDS)] == FIELDS
    out = {
        **rec,
        "startTime": seen(rec["startTime"]),
        "endTime": seen(rec["endTime"]),
        "callAnalysis": typed(rec["callAnalysis"]),
    }
    if "events" in rec:
        out["events"] = [{**e, "time": seen(e["time"])} for e in rec["events"]]
    return out


# --- filters: count, page 1, page 2 ---------------------------------------------------------------


def ca(*conds: tuple) -> dict:
    return {"callAnalysis": [{"field": f, "op": op, "value": v} for f, op, v in conds]}


CORE = digits(next(t["customerNumber"] for t in CALLS if t["customerNumber"].startswith("+91 ")))[2:]
DATES = [
    {"startDate": "2024-03-10", "endDate": "2024-03-10"},
    {"startDate": "2024-03-10", "endDate": "2024-03-10", "timezone": "America/New_York"},
    {"startDate": "2024-03-09", "endDate": "2024-03-11", "timezone": "America/New_York"},
    {"startDate": "2024-03-10", "endDate": "2024-03-10", "timezone": "UTC"},
    {"startDate": "2024-03-05", "endDate": "2024-03-05", "timezone": "Asia/Kolkata"},
    {"startDate": "2024-03-10 01:00:00", "endDate": "2024-03-10 04:00:00", "timezone": "America/New_York"},
    {"startDate": "2024-03-10T07:00:00Z"},
    {"endDate": "2024-03-03"},
    {"endDate": "2024-03-09", "timezone": "UTC"},
    {"startDate": "2024-03-15T00:00:00+05:30", "endDate": "2024-03-16T12:00:00-04:00"},
    {"startDate": "2024-03-12 09:00:00", "endDate": "2024-03-12 17:59:59"},
    {"startDate": "2024-03-20", "endDate": "2024-03-31"},
    {"startDate": "2025-01-01"},
]
SINGLE = [
    {"agentIds": ["a1"]},
    {"agentIds": ["a2", "a8"]},
    {"agentIds": ["a9"]},
    {"agentIds": ["a1", "zz"]},
    {"agentIds": []},
    {"callTypes": ["ivr"]},
    {"callTypes": ["manual", "transfer"]},
    {"didNumbers": [DIDS[0]]},
    {"didNumbers": DIDS[1:3]},
    {"campaigns": ["spring"]},
    {"campaigns": ["Spring", "été"]},
    {"campaigns": ["冬"]},
    {"departments": ["sales"]},
    {"departments": ["Sales", "support"]},
    {"dispositions": ["Rückruf"]},
    {"dispositions": ["sale", "no-sale"]},
    {"queueNames": ["support"]},
    {"queueNames": ["Support", "ñ-queue", "none-such"]},
    {"callIds": [t["callId"] for t in CALLS[::75]] + ["nope"]},
    {"directions": ["inbound"]},
    {"directions": ["outbound"]},
    {"directions": ["inbound", "outbound"]},
    {"statuses": ["answered"]},
    {"statuses": STATUSES[1:]},
    {"statuses": ["cancelled"]},
    {"hangupBy": ["customer"]},
    {"hangupBy": ["agent", "system"]},
    {"minDuration": 60},
    {"maxDuration": 60},
    {"minDuration": 61, "maxDuration": 120},
    {"minTalkDuration": 1},
    {"maxTalkDuration": 0},
    {"minTalkDuration": 30, "maxTalkDuration": 300},
    {"minDuration": 0, "maxDuration": 0},
    {"customerNumber": CORE},
    {"customerNumber": f"+91 {CORE[:5]}-{CORE[5:]}"},
    {"customerNumber": CORE[-4:]},
    {"customerNumber": CORE[-2:]},
    {"customerNumber": "0"},
    {"customerNumber": f"0{CORE}"},
    {"customerNumber": "9"},
]
ANALYSIS_CASES = [
    ca(c)
    for c in [
        ("score", "eq", 5),
        ("score", "eq", "5"),
        ("score", "eq", 5.0),
        ("score", "eq", None),
        ("vip", "eq", True),
        ("vip", "eq", 1),
        ("vip", "eq", None),
        ("flag", "eq", 1),
        ("flag", "eq", True),
        ("flag", "eq", "1"),
        ("mood", "eq", "émile"),
        ("mood", "eq", ""),
        ("absent", "eq", None),
        ("note", "eq", None),
        ("score", "ne", 5),
        ("score", "ne", "5"),
        ("vip", "ne", None),
        ("flag", "ne", True),
        ("absent", "ne", 1),
        ("mood", "ne", "happy"),
        ("score", "in", [5, "5"]),
        ("vip", "in", [None]),
        ("vip", "in", [None, True]),
        ("flag", "in", [1, True, "1"]),
        ("mood", "in", ["ÉMILE", "happy"]),
        ("score", "in", []),
        ("absent", "in", [None]),
        ("score", "nin", [5]),
        ("vip", "nin", [None]),
        ("vip", "nin", [True, False]),
        ("absent", "nin", [1, None]),
        ("flag", "nin", []),
        ("mood", "nin", ["happy", None]),
        ("mood", "contains", "émile"),
        ("mood", "contains", "ÉMILE"),
        ("mood", "contains", "Émile"),
        ("mood", "contains", "HAPPY"),
        ("mood", "contains", "STRAẞE"),
        ("mood", "contains", ""),
        ("score", "contains", "5"),
        ("absent", "contains", "x"),
        ("mood", "contains", "ωMEGA"),
        ("score", "gt", 4),
        ("score", "gt", 5),
        ("mood", "gt", 0),
        ("vip", "gt", 0),
        ("flag", "gt", 0.5),
        ("nps", "gt", 5),
        ("score", "gte", 5),
        ("nps", "gte", 5.5),
        ("score", "gte", -1.5),
        ("score", "lt", 0),
        ("nps", "lt", 3),
        ("score", "lte", 5.0),
        ("flag", "lte", 1),
        ("score", "exists", True),
        ("score", "exists", False),
        ("note", "exists", True),
        ("note", "exists", False),
        ("absent", "exists", True),
        ("absent", "exists", False),
        ("mood", "exists", True),
    ]
]


def combos(n: int, seed: int = 7) -> list[dict]:
    """Seeded combinations of 2-4 filters from different families (all must hold)."""
    rng = random.Random(seed)
    families = [DATES[:-1], SINGLE[:25], SINGLE[25:32], SINGLE[32:], ANALYSIS_CASES]
    out = []
    for _ in range(n):
        body: dict = {}
        for fam in rng.sample(families, rng.randint(2, 4)):
            body.update(copy.deepcopy(rng.choice(fam)))
        if rng.random() < 0.3:
            body.setdefault("callAnalysis", []).extend(rng.choice(ANALYSIS_CASES)["callAnalysis"])
        out.append(body)
    return out


SORTS = [(None, None)] + [(s, o) for s in SORT_KEYS for o in ("asc", "desc")]
CASES = [{}] + DATES + SINGLE + ANALYSIS_CASES + combos(45)
for i, case in enumerate(CASES):  # every case gets a sort (sometimes the default) and a page size
    sort_by, order = SORTS[i % len(SORTS)]
    case.update({"sortBy": sort_by, "sortOrder": order} if sort_by else {})
LIMITS = [7, 50, 333]


def check_page(page: dict, want_rows: list[dict], tz: ZoneInfo, masked: bool, last: bool) -> None:
    assert page["status"] == "success"
    assert [got(r) for r in page["data"]] == [want(t, tz, masked) for t in want_rows]
    assert (page["nextCursor"] is None) == last


@pytest.mark.parametrize("i", range(len(CASES)), ids=[orjson.dumps(c).decode()[:90] for c in CASES])
def test_count_and_pages(client, main, i: int) -> None:
    body, limit = CASES[i], LIMITS[i % len(LIMITS)]
    rows = expected(body)
    tz = ZoneInfo(body.get("timezone") or ACCOUNT_TZ)
    assert api(client, main, "reportCount", body) == {"status": "success", "count": len(rows)}
    for page in (1, 2):
        resp = api(client, main, "list", {**body, "page": page, "limit": limit})
        assert (resp["page"], resp["limit"]) == (page, limit)
        check_page(resp, rows[(page - 1) * limit : page * limit], tz, False, len(rows) <= page * limit)


def walk(client, tenant, body: dict, limit: int, name: str = "list") -> list[dict]:
    """Every page by cursor (with a page number that must be ignored); the records in order."""
    out, cursor, pages = [], None, 0
    while True:
        extra = {"cursor": cursor, "page": 3} if cursor else {}
        resp = api(client, tenant, name, {**body, "limit": limit, **extra})
        assert resp["status"] == "success", resp
        out += resp["data"]
        pages += 1
        cursor = resp["nextCursor"]
        if cursor is None:
            break
        assert len(resp["data"]) == limit
    assert pages == max(1, -(-len(out) // limit))
    return out


WALK_FILTERS = [
    ({}, 1000),
    ({"statuses": ["answered"], "customerNumber": "0", "campaigns": ["spring", "été"]}, 9),
    ({"agentIds": ["a2", "a7", "a8", "a9"], "startDate": "2024-03-10", "endDate": "2024-03-14"}, 61),
]


@pytest.mark.parametrize("body,limit", WALK_FILTERS, ids=["all", "narrow", "agents"])
@pytest.mark.parametrize("sort_by,order", SORTS[1:])
def test_cursor_walk(client, main, body: dict, limit: int, sort_by: str, order: str) -> None:
    body = {**body, "sortBy": sort_by, "sortOrder": order}
    rows = walk(client, main, body, limit)
    assert [r["callId"] for r in rows] == [t["callId"] for t in expected(body)]


def test_page_past_the_end(client, main) -> None:
    resp = api(client, main, "list", {"page": 1000, "limit": 1000})
    assert (resp["data"], resp["nextCursor"]) == ([], None)
    everything = api(client, main, "list", {"limit": 1000, "callIds": [t["callId"] for t in CALLS[:1000]]})
    assert len(everything["data"]) == 1000 and everything["nextCursor"] is None


# --- masking, detail ---------------------------------------------------------------------------------


def test_masklist_and_list_without_view_number(engine, client, main) -> None:
    body = {"sortBy": "customerNumber", "sortOrder": "asc", "limit": 300, "timezone": "America/New_York"}
    rows = expected(body)
    check_page(api(client, main, "masklist", body), rows[:300], NEW_YORK, True, False)
    blind = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=main.account_id)
    body = {**body, "sortBy": "agentName"}  # sorting by the hidden number needs VIEW_NUMBER
    rows = expected(body)
    check_page(api(client, blind, "list", {**body, "page": 2}), rows[300:600], NEW_YORK, True, False)
    walked = walk(client, blind, {"statuses": ["busy"]}, 100, name="masklist")
    assert [got(r) for r in walked] == [want(t, KOLKATA, True) for t in expected({"statuses": ["busy"]})]
    t = next(t for t in CALLS if t["events"])
    assert got(api(client, blind, "detail", {"callId": t["callId"]})["data"]) == want(t, KOLKATA, True, events=True)


@pytest.mark.parametrize("zone", [None, "UTC", "America/New_York", "Asia/Kolkata"])
def test_detail(client, main, zone: str | None) -> None:
    tz = ZoneInfo(zone or ACCOUNT_TZ)
    updated = {w["callId"] for w in BATCHES[1][:300] + BATCHES[2]}
    picks = [t for t in CALLS if t["events"]][:15] + [t for t in CALLS if t["callId"] in updated][:15]
    for t in picks:
        resp = api(client, main, "detail", {"callId": t["callId"], **({"timezone": zone} if zone else {})})
        assert got(resp["data"]) == want(t, tz, False, events=True)
    assert api(client, main, "detail", {"callId": "no-such-call"}) == {
        "status": "error",
        "message": "Call Not Exists",
        "code": 1009,
    }


# --- summary ------------------------------------------------------------------------------------------

GROUPS = [
    "agent", "day", "hour", "status", "direction", "callType", "campaign", "department", "disposition", "queueName"
]  # fmt: skip
SUMMARY_FILTERS = [
    {},
    {"timezone": "America/New_York"},
    {"startDate": "2024-03-09", "endDate": "2024-03-11", "timezone": "America/New_York"},
    {"statuses": ["answered"], "timezone": "UTC"},
    {"startDate": "2025-01-01"},
]


def group_key(t: dict, group_by: str, tz: ZoneInfo) -> object:
    local = datetime.fromtimestamp(t["start"], tz)
    return {"agent": t["agentId"], "day": local.date().isoformat(), "hour": f"{local.hour:02d}"}.get(
        group_by, t.get(group_by)
    )


def figures(ts: list[dict]) -> dict:
    answered = [t for t in ts if t["status"] == "answered"]
    return {
        "calls": len(ts),
        "answered": len(answered),
        "missed": len(ts) - len(answered),
        "totalDuration": sum(t["duration"] for t in ts),
        "totalTalkDuration": sum(t["talkDuration"] for t in ts),
        "avgTalkDuration": sum(t["talkDuration"] for t in answered) / len(answered) if answered else 0,
        "avgWaitTime": sum(t["waitTime"] for t in ts) / len(ts) if ts else 0,
        "maxWaitTime": max((t["waitTime"] for t in ts), default=0),
    }


def same_figures(got_: dict, want_: dict) -> bool:
    for k, v in want_.items():
        if k.startswith("avg"):  # rounded to 2 decimals
            if round(got_[k], 2) != got_[k] or abs(got_[k] - v) > 0.005 + 1e-9:
                return False
        elif got_[k] != v or type(got_[k]) is not int:
            return False
    return set(got_) == set(want_)


def check_summary(resp: dict, rows: list[dict], group_by: str, tz: ZoneInfo) -> None:
    groups = defaultdict(list)
    for t in rows:
        groups[group_key(t, group_by, tz)].append(t)
    assert resp["status"] == "success"
    items = {item["key"]: item for item in resp["data"]}
    assert len(items) == len(resp["data"]) and set(items) == set(groups)
    for key, ts in groups.items():
        item = dict(items[key])
        if group_by == "agent":
            assert item.pop("label") == ts[0]["agentName"]
        item.pop("key")
        assert same_figures(item, figures(ts)), (key, item, figures(ts))
    assert same_figures(resp["totals"], figures(rows)), (resp["totals"], figures(rows))


@pytest.mark.parametrize("f", range(len(SUMMARY_FILTERS)))
@pytest.mark.parametrize("group_by", GROUPS)
def test_summary(client, main, group_by: str, f: int) -> None:
    body = SUMMARY_FILTERS[f]
    tz = ZoneInfo(body.get("timezone") or ACCOUNT_TZ)
    check_summary(api(client, main, "summary", {**body, "groupBy": group_by}), expected(body), group_by, tz)


def test_summary_spans_the_dst_change(client, main) -> None:
    body = {"startDate": "2024-03-09", "endDate": "2024-03-11", "timezone": "America/New_York"}
    resp = api(client, main, "summary", {**body, "groupBy": "day"})
    assert [i["key"] for i in sorted(resp["data"], key=lambda i: i["key"])] == [
        "2024-03-09",
        "2024-03-10",
        "2024-03-11",
    ]
    # 2024-03-10 05:00Z (00:00 EST) and 2024-03-11 03:59:59Z (23:59:59 EDT) are both on the 10th.
    tenth = [t for t in CALLS if T0 + 9 * 86400 + 5 * 3600 <= t["start"] <= T0 + 10 * 86400 + 4 * 3600 - 1]
    assert next(i for i in resp["data"] if i["key"] == "2024-03-10")["calls"] == len(tenth)


def test_summary_over_the_widest_range(engine, client) -> None:
    t = make_tenant(engine)
    calls = [
        rec("A", "2024-03-10T06:59:59Z"),
        rec("B", "2024-03-10T07:00:00Z"),
        rec("C", "2024-11-03T05:30:00Z"),
    ]
    assert api(client, t, "ingest", {"calls": calls}) == ok(3, 0)
    body = {"startDate": "0001-01-01", "endDate": "9999-12-31", "timezone": "America/New_York"}
    hours = {i["key"]: i["calls"] for i in api(client, t, "summary", {**body, "groupBy": "hour"})["data"]}
    assert hours == {"01": 2, "03": 1}  # 01:59:59 EST, 03:00:00 EDT, then 01:30 EDT just before the fall back
    days = {i["key"]: i["calls"] for i in api(client, t, "summary", {**body, "groupBy": "day"})["data"]}
    assert days == {"2024-03-10": 2, "2024-11-03": 1}
    assert api(client, t, "reportCount", body)["count"] == 3


# --- who sees what -------------------------------------------------------------------------------------

NOT_EXISTS = {"status": "error", "message": "Call Not Exists", "code": 1009}


def test_agent_limited_user(engine, client, main) -> None:
    limited = make_tenant(
        engine, permissions=["LIST_CALL_LOG", "VIEW_NUMBER"], agents=["a1", "a5"], account_id=main.account_id
    )
    mine = [t for t in CALLS if t["agentId"] in ("a1", "a5")]
    for body in (
        {},
        {"statuses": ["answered"]},
        {"agentIds": ["a2"]},
        {"agentIds": ["a1", "a2"]},
        {"startDate": "2024-03-10", "endDate": "2024-03-12", "timezone": "America/New_York"},
    ):
        assert api(client, limited, "reportCount", body)["count"] == len(expected(body, mine)), body
    body = {"sortBy": "agentName", "sortOrder": "asc"}
    assert [got(r) for r in walk(client, limited, body, 150)] == [want(t, KOLKATA, False) for t in expected(body, mine)]
    for group_by in ("agent", "day"):
        check_summary(api(client, limited, "summary", {"groupBy": group_by}), mine, group_by, KOLKATA)
    own = mine[0]
    assert got(api(client, limited, "detail", {"callId": own["callId"]})["data"]) == want(own, KOLKATA, False, True)
    for t in (next(t for t in CALLS if t["agentId"] == "a2"), next(t for t in CALLS if t["agentId"] is None)):
        assert api(client, limited, "detail", {"callId": t["callId"]}) == NOT_EXISTS


def test_accounts_never_cross(engine, client, main) -> None:
    other = make_tenant(engine)
    t = CALLS[0]
    assert api(client, other, "reportCount", {})["count"] == 0
    assert api(client, other, "list", {})["data"] == []
    summary = api(client, other, "summary", {"groupBy": "status"})
    assert summary["data"] == [] and summary["totals"]["calls"] == 0
    assert api(client, other, "detail", {"callId": t["callId"]}) == NOT_EXISTS
    # The same callId in another account is another call: inserted there, the first untouched.
    assert api(client, other, "ingest", {"calls": [rec(t["callId"], duration=1)]})["inserted"] == 1
    assert got(api(client, main, "detail", {"callId": t["callId"]})["data"]) == want(t, KOLKATA, False, True)
    assert api(client, other, "reportCount", {})["count"] == 1
    assert api(client, main, "reportCount", {})["count"] == len(CALLS)


# --- ingest -----------------------------------------------------------------------------------------------


def rec(call_id: str, start: str = "2024-03-10T10:00:00Z", **kw: object) -> dict:
    out = {
        "callId": call_id,
        "startTime": start,
        "endTime": start,
        "duration": 0,
        "direction": "inbound",
        "callType": "ivr",
        "status": "answered",
        "callerNumber": "+15550001111",
        "customerNumber": "98765 43210",
        "didNumber": "+18005550100",
    }
    out.update(kw)
    return out


def ok(inserted: int, updated: int) -> dict:
    return {"status": "success", "inserted": inserted, "updated": updated}


def test_upsert_counts_follow_the_order(engine, client) -> None:
    t = make_tenant(engine)
    batch = [rec("A", duration=10), rec("B"), rec("A", duration=20, agentId="x", agentName="X")]
    assert api(client, t, "ingest", {"calls": batch}) == ok(2, 1)
    a = api(client, t, "detail", {"callId": "A"})["data"]
    assert (a["duration"], a["agentId"], a["agentName"]) == (20, "x", "X")
    batch = [rec("B", duration=5), rec("C", duration=3), rec("C", duration=7), rec("A", duration=1)]
    assert api(client, t, "ingest", {"calls": batch}) == ok(1, 3)
    durations = {r["callId"]: r["duration"] for r in api(client, t, "list", {})["data"]}
    assert durations == {"A": 1, "B": 5, "C": 7}
    # A replacement replaces the whole record: fields it leaves out go back to their defaults.
    assert api(client, t, "detail", {"callId": "A"})["data"]["agentId"] is None


DROP = object()
BAD = [
    ("duration", -1),
    ("duration", "10"),
    ("duration", 2.5),
    ("talkDuration", 999),
    ("endTime", "2024-03-10T09:59:59Z"),
    ("startTime", "yesterday"),
    ("direction", "sideways"),
    ("customerNumber", "12a"),
    ("callAnalysis", {"k": [1]}),
    ("agentId", 5),
    ("bogus", 1),
    ("status", None),
    ("callId", DROP),
    ("events", [{"time": "never", "type": "ring"}]),
    ("agentName", "a\x00b"),
    ("waitTime", 2**63),
]


@pytest.mark.parametrize("field,value", BAD)
def test_ingest_is_atomic(engine, client, field: str, value: object) -> None:
    t = make_tenant(engine)
    assert api(client, t, "ingest", {"calls": [rec("A", duration=10)]}) == ok(1, 0)
    bad = rec("N3", duration=100)
    if value is DROP:
        del bad[field]
    else:
        bad[field] = value
    batch = [rec("A", duration=99), rec("N1"), rec("N2"), bad, rec("N4")]
    resp = api(client, t, "ingest", {"calls": batch})
    assert (resp["status"], resp["code"], resp["message"]) == ("error", 1000, "Invalid parameters")
    assert f"calls[3].{field}" in resp["detail"]
    assert api(client, t, "reportCount", {})["count"] == 1
    assert api(client, t, "detail", {"callId": "A"})["data"]["duration"] == 10


def test_naive_times_are_in_the_account_zone(engine, client) -> None:
    t = make_tenant(engine, timezone="America/New_York")
    events = [
        {"time": "2024-03-10 01:59:59", "type": "ring"},
        {"time": "2024-03-10T03:00:00", "type": "answer"},
        {"time": "2024-03-10T17:01:30.5+00:00", "type": "hangup", "agentId": "x", "note": "done"},
    ]
    record = rec("N", "2024-03-10 12:00:00", endTime="2024-03-10T12:01:30.999", duration=90, events=events)
    assert api(client, t, "ingest", {"calls": [record]}) == ok(1, 0)
    utc = calendar.timegm
    start, end = utc((2024, 3, 10, 16, 0, 0)), utc((2024, 3, 10, 16, 1, 30))
    times = [utc((2024, 3, 10, 6, 59, 59)), utc((2024, 3, 10, 7, 0, 0)), utc((2024, 3, 10, 17, 1, 30))]
    for zone, tz in ((None, NEW_YORK), ("UTC", UTC), ("Asia/Kolkata", KOLKATA)):
        data = api(client, t, "detail", {"callId": "N", **({"timezone": zone} if zone else {})})["data"]
        assert (seen(data["startTime"]), seen(data["endTime"])) == (when(start, tz), when(end, tz))
        assert [seen(e["time"]) for e in data["events"]] == [when(ts, tz) for ts in times]
        assert data["events"][2] == {**data["events"][2], "type": "hangup", "agentId": "x", "note": "done"}
        assert set(data["events"][0]) == {"time", "type"}
    one_second = {"startDate": "2024-03-10 12:00:00", "endDate": "2024-03-10 12:00:00"}
    assert api(client, t, "reportCount", one_second)["count"] == 1
    assert api(client, t, "reportCount", {**one_second, "timezone": "UTC"})["count"] == 0


def test_batch_size_limits(engine, client) -> None:
    t = make_tenant(engine)
    assert api(client, t, "ingest", {"calls": [rec(f"n{i}") for i in range(10_000)]}) == ok(10_000, 0)
    resp = api(client, t, "ingest", {"calls": [rec(f"m{i}") for i in range(10_001)]})
    assert (resp["status"], resp["code"]) == ("error", 1000) and "calls" in resp["detail"]
    assert api(client, t, "ingest", {"calls": []})["code"] == 1000
    assert api(client, t, "reportCount", {})["count"] == 10_000


# --- parameters the contract refuses ----------------------------------------------------------------------

BAD_PARAMS = [
    ("list", {"bogus": 1}, "bogus"),
    ("reportCount", {"startDate": "2024-03-11", "endDate": "2024-03-10"}, "startDate"),
    ("list", {"limit": 0}, "limit"),
    ("list", {"limit": 1001}, "limit"),
    ("list", {"page": 0}, "page"),
    ("summary", {"groupBy": "week"}, "groupBy"),
    ("list", {"cursor": "!!!"}, "cursor"),
    ("reportCount", ca(("score", "gt", "5")), "callAnalysis"),
    ("list", {"customerNumber": "98a"}, "customerNumber"),
    ("reportCount", {"minDuration": "10"}, "minDuration"),
    ("summary", {"timezone": "Mars/Base"}, "timezone"),
    ("reportCount", ca(*[("x", "eq", 1)] * 21), "callAnalysis"),
    ("reportCount", {"agentIds": ["a"] * 1001}, "agentIds"),
    ("detail", {"callId": "x", "startDate": "2024-03-10"}, "startDate"),
    ("masklist", {"sortOrder": "up"}, "sortOrder"),
]


@pytest.mark.parametrize("name,body,field", BAD_PARAMS, ids=[f"{n}-{f}" for n, _, f in BAD_PARAMS])
def test_bad_parameters(client, main, name: str, body: dict, field: str) -> None:
    resp = api(client, main, name, body)
    assert (resp["status"], resp["code"], resp["message"]) == ("error", 1000, "Invalid parameters")
    assert field in resp["detail"]


def test_foreign_or_forged_cursor(client, main) -> None:
    cursor = api(client, main, "list", {"sortBy": "duration", "limit": 5})["nextCursor"]
    assert api(client, main, "list", {"sortBy": "talkDuration", "cursor": cursor})["code"] == 1000
    assert api(client, main, "list", {"sortBy": "duration", "sortOrder": "asc", "cursor": cursor})["code"] == 1000
    for value in ("abc", True, 1.5, None, 2**63):
        forged = base64.urlsafe_b64encode(json.dumps(["startTime", "desc", value, "c"]).encode()).decode().rstrip("=")
        assert api(client, main, "list", {"cursor": forged})["code"] == 1000, value
