"""The exports' test data and their expectations, computed independently of the service, and
the helpers that run an export through the API and the worker."""

import csv
import io
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.worker import Worker
from tests.factories import Tenant, call

VIEW_TZ = "America/New_York"  # effective timezone of the exports: US DST starts 2024-03-10
ACCOUNT_TZ = "Asia/Kolkata"
WINDOW = datetime(2024, 3, 6, tzinfo=UTC)
AGENTS = [
    ("AG-1", "Asha Rao"),
    ("AG-2", "Zoë Müller"),
    ("AG-3", "@agent three"),
    ("AG-4", "Дмитрий"),
    (None, None),
]
# Text that a spreadsheet would run, text that only looks like it, and plain numbers.
TRICKY = [
    "=SUM(A1)",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\tTab",
    "\rCR",
    "-42",
    "+1.5",
    "plain",
    'Ünïcødé, "quoted"\nline',
    None,
]
NUMBERS = ["+919876543210", "+91 98765-43210", "080 4718 2201", "1234", "+1-555-0100", "98450 12345"]
DID = "+91 80 4718 2201"
OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7))]
DEFAULT_COLUMNS = [
    "callId", "startTime", "endTime", "duration", "talkDuration", "holdDuration", "waitTime", "direction",
    "callType", "status", "callerNumber", "customerNumber", "didNumber", "agentId", "agentName", "campaign",
    "department", "disposition", "queueName", "hangupBy", "recordingUrl", "callAnalysis",
]  # fmt: skip
PDF_DEFAULT = [
    "callId", "startTime", "direction", "callType", "status", "customerNumber", "agentName",
    "duration", "talkDuration", "waitTime", "campaign", "disposition",
]  # fmt: skip
TIME_FIELDS = {"startTime", "endTime"}
INT_FIELDS = {"duration", "talkDuration", "holdDuration", "waitTime"}
MASKED_FIELDS = {"callerNumber", "customerNumber"}


# --- the data and the expectations, computed independently of the service ------------------


def make_records(n: int, seed: int, prefix: str) -> list[dict]:
    """n seeded call records in the contract's JSON form, with ties, nulls and tricky text."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        start = WINDOW + timedelta(seconds=rng.randrange(0, 7 * 86400))
        status = rng.choice(["answered", "answered", "missed", "busy", "noanswer", "failed", "cancelled"])
        duration = rng.choice([5, 10, 15, 60])  # few values: sorting must break ties on callId
        wait = rng.randrange(0, 5)
        agent_id, agent_name = rng.choice(AGENTS)
        analysis: dict[str, Any] = {"score": rng.choice([1, 7, 2.5, 9.75]), "flag": rng.random() < 0.5}
        if rng.random() < 0.8:
            analysis["sentiment"] = rng.choice(["positive", "negative", "=1+1", "-neutral", None])
        zone = rng.choice(OFFSETS)
        out.append(
            {
                "callId": f"{prefix}-{i:04d}",
                "startTime": start.astimezone(zone).isoformat(),
                "endTime": (start + timedelta(seconds=duration)).astimezone(zone).isoformat(),
                "duration": duration,
                "talkDuration": duration - wait if status == "answered" else 0,
                "holdDuration": rng.randrange(0, 3),
                "waitTime": wait,
                "direction": rng.choice(["inbound", "outbound"]),
                "callType": rng.choice(["ivr", "click2call", "manual"]),
                "status": status,
                "callerNumber": rng.choice(NUMBERS),
                "customerNumber": rng.choice(NUMBERS),
                "didNumber": DID,
                "agentId": agent_id,
                "agentName": agent_name,
                "campaign": rng.choice(["Spring", '=HYPERLINK("http://x")', None]),
                "department": rng.choice(["Sales", "Support", None]),
                "disposition": rng.choice(TRICKY),
                "queueName": rng.choice(["Sales queue", "-overflow", "Ωueue", None]),
                "hangupBy": rng.choice(["customer", "agent", "system", None]),
                "recordingUrl": rng.choice([None, f"https://rec.example/{prefix}/{i}.mp3"]),
                "callAnalysis": analysis,
            }
        )
    return out


def ingest(client: TestClient, tenant: Tenant, records: list[dict]) -> None:
    """Store records through the API, in batches the contract allows."""
    for i in range(0, len(records), 10_000):
        out = call(client, "ingest", {**tenant.creds, "calls": records[i : i + 10_000]})
        assert out["status"] == "success", out


def mask(number: str) -> str:
    """The contract's masking: every digit but the first two and the last two becomes X."""
    positions = [i for i, ch in enumerate(number) if ch.isdigit()]
    hidden = set(positions) if len(positions) <= 4 else set(positions[2:-2])
    return "".join("X" if i in hidden else ch for i, ch in enumerate(number))


def guarded(text: str) -> str:
    """The formula rule of §9: a leading ' unless the whole cell is a plain number."""
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not re.fullmatch(r"[+-]?[0-9 .\-]*", text):
        return "'" + text
    return text


def instant(text: str) -> datetime:
    """An ISO 8601 time with offset as an aware datetime."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def local(text: str, tz: str = VIEW_TZ) -> datetime:
    """A record's time as an aware datetime in the zone."""
    return instant(text).astimezone(ZoneInfo(tz))


def raw_value(rec: dict, name: str, masked: bool) -> Any:
    """The column's value of a record, numbers masked as the requester must see them."""
    if name.startswith("callAnalysis."):
        return rec["callAnalysis"].get(name.split(".", 1)[1])
    value = rec[name]
    if name in MASKED_FIELDS and masked:
        return mask(value)
    return value


def csv_cell(rec: dict, name: str, masked: bool) -> str:
    """The CSV text the contract asks for."""
    value = raw_value(rec, name, masked)
    if value is None:
        return ""
    if name in TIME_FIELDS:
        return local(value).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, dict):
        return value  # compared as parsed JSON
    return guarded(value)


def xlsx_cell(rec: dict, name: str, masked: bool) -> Any:
    """The typed Excel value the contract asks for (times as local naive date-times, no ')."""
    value = raw_value(rec, name, masked)
    if name in TIME_FIELDS:
        return local(value).replace(tzinfo=None)
    return value


def select(
    records: list[dict], start: str | None = None, end: str | None = None, agents: list[str] | None = None
) -> list[dict]:
    """Records whose start is within [start, end] (instants) and whose agent is allowed."""
    lo = instant(start) if start else None
    hi = instant(end) if end else None
    return [
        r
        for r in records
        if (lo is None or instant(r["startTime"]) >= lo)
        and (hi is None or instant(r["startTime"]) <= hi)
        and (agents is None or r["agentId"] in agents)
    ]


def ordered(records: list[dict], sort_by: str = "startTime", order: str = "desc") -> list[dict]:
    """Records in the contract's order: by the key, nulls last, ties on callId the same way."""

    def key(r: dict) -> Any:
        v = r[sort_by]
        return instant(v).timestamp() if sort_by in TIME_FIELDS else v

    present = [r for r in records if r[sort_by] is not None]
    nulls = [r for r in records if r[sort_by] is None]
    reverse = order == "desc"
    present.sort(key=lambda r: (key(r), r["callId"]), reverse=reverse)
    nulls.sort(key=lambda r: r["callId"], reverse=reverse)
    return present + nulls


# --- running exports ------------------------------------------------------------------------


def run_until_final(
    engine: sa.Engine,
    storage: Any,
    settings: Any,
    client: TestClient,
    creds: dict,
    request_id: str,
    tries: int = 50,
) -> dict:
    """Run the worker until the request leaves pending/running; its exportStatus data."""
    worker = Worker(engine, storage, settings, name="test")
    for _ in range(tries):
        data = call(client, "exportStatus", {**creds, "requestId": request_id})["data"]
        if data["state"] not in ("pending", "running"):
            return data
        assert worker.run_one() is not None, "the worker found no job while one was pending"
    raise AssertionError(f"export {request_id} never finished")


def export(
    client: TestClient, engine: sa.Engine, storage: Any, settings: Any, creds: dict, endpoint: str, body: dict
) -> tuple[dict, bytes, Any]:
    """Request an export, run it, download it; (status data, bytes, response)."""
    out = call(client, endpoint, {**creds, **body})
    assert out["status"] == "success", out
    data = run_until_final(engine, storage, settings, client, creds, out["requestId"])
    assert data["state"] == "done", data
    download = "download" + endpoint.removeprefix("export")
    resp = client.post(f"/api/v2/callreport/{download}", json={**creds, "requestId": out["requestId"]})
    assert resp.status_code == 200
    return data, resp.content, resp


@dataclass
class Dataset:
    """One account's ingested records and users that see numbers or not."""

    viewer: Tenant  # every permission, VIEW_NUMBER included
    masked: Tenant  # LIST_CALL_LOG only
    records: list[dict]
    account_name: str


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(body: bytes) -> list[list[str]]:
    """The CSV's rows, after checking the bytes: UTF-8, no BOM, CRLF line ends."""
    assert not body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8")
    outside_quotes = re.sub(r'"(?:[^"]|"")*"', "", text)
    assert re.search(r"\r(?!\n)|(?<!\r)\n", outside_quotes) is None, "every line ends with CRLF"
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))
