"""Every export format read back and compared with expectations computed here from the
records this module generates and ingests over HTTP (never from the service's output)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from pypdf import PdfReader

from callreport.worker import Worker
from tests.conftest import Tenant, call, make_tenant

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


@pytest.fixture(scope="module")
def dataset(client: TestClient, engine: sa.Engine) -> Dataset:
    """150 records (three PDF table pages) in a fresh account, per backend."""
    viewer = make_tenant(engine, timezone=ACCOUNT_TZ)
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=viewer.account_id)
    records = make_records(150, seed=20240306, prefix="FMT")
    ingest(client, viewer, records)
    return Dataset(viewer, masked, records, f"acct {viewer.username}")


@pytest.fixture
def run(client: TestClient, engine: sa.Engine, local_storage: Any, settings: Any):
    """export(creds, endpoint, body) on the session's app and local storage."""
    return lambda creds, endpoint, body: export(client, engine, local_storage, settings, creds, endpoint, body)


# --- CSV ------------------------------------------------------------------------------------


def parse_csv(body: bytes) -> list[list[str]]:
    """The CSV's rows, after checking the bytes: UTF-8, no BOM, CRLF line ends."""
    assert not body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8")
    outside_quotes = re.sub(r'"(?:[^"]|"")*"', "", text)
    assert re.search(r"\r(?!\n)|(?<!\r)\n", outside_quotes) is None, "every line ends with CRLF"
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text, newline="")))


def check_csv_rows(rows: list[list[str]], columns: list[str], expected: list[dict], masked: bool) -> None:
    """Header and every cell against the records."""
    assert rows[0] == columns
    assert [r[columns.index("callId")] for r in rows[1:]] == [r["callId"] for r in expected]
    for got, rec in zip(rows[1:], expected, strict=True):
        for name, cell in zip(columns, got, strict=True):
            want = csv_cell(rec, name, masked)
            if isinstance(want, dict):
                assert json.loads(cell) == want
                assert cell == json.dumps(json.loads(cell), separators=(",", ":"), ensure_ascii=False)
            else:
                assert cell == want, (rec["callId"], name)


def test_csv_default_columns_in_the_effective_timezone(dataset: Dataset, run) -> None:
    start, end = "2024-03-07", "2024-03-11"
    _, body, _ = run(dataset.viewer.creds, "exportCsv", {"startDate": start, "endDate": end, "timezone": VIEW_TZ})
    tz = ZoneInfo(VIEW_TZ)
    lo = datetime(2024, 3, 7, tzinfo=tz).isoformat()
    hi = datetime(2024, 3, 11, 23, 59, 59, tzinfo=tz).isoformat()
    expected = ordered(select(dataset.records, lo, hi))
    assert 40 < len(expected) < len(dataset.records)
    rows = parse_csv(body)
    check_csv_rows(rows, DEFAULT_COLUMNS, expected, masked=False)
    # Both sides of the DST change show their own offsets.
    offsets = {cell[-6:] for row in rows[1:] for cell in (row[1], row[2])}
    assert offsets == {"-05:00", "-04:00"}


def test_csv_columns_sort_and_masking(dataset: Dataset, run) -> None:
    columns = [
        "callId",
        "callAnalysis.sentiment",
        "callAnalysis.score",
        "callAnalysis.flag",
        "customerNumber",
        "callerNumber",
        "didNumber",
        "duration",
        "disposition",
        "campaign",
        "agentName",
        "startTime",
    ]
    body = {"columns": columns, "sortBy": "duration", "sortOrder": "asc", "timezone": VIEW_TZ}
    _, data, _ = run(dataset.masked.creds, "exportCsv", body)
    rows = parse_csv(data)
    check_csv_rows(rows, columns, ordered(dataset.records, "duration", "asc"), masked=True)
    cells = {cell for row in rows[1:] for cell in row}
    # The contract's own examples of the formula rule and the masking.
    assert "'=SUM(A1)" in cells and "'+91XXXXXXXX10" in cells and "'=1+1" in cells
    assert "+919876543210" not in cells and "-42" in cells and "+1.5" in cells
    assert {row[columns.index("didNumber")] for row in rows[1:]} == {DID}


def test_csv_full_numbers_and_nulls_last(dataset: Dataset, run) -> None:
    columns = ["callId", "agentName", "customerNumber", "recordingUrl"]
    body = {"columns": columns, "sortBy": "agentName", "sortOrder": "desc", "timezone": VIEW_TZ}
    _, data, _ = run(dataset.viewer.creds, "exportCsv", body)
    rows = parse_csv(data)
    check_csv_rows(rows, columns, ordered(dataset.records, "agentName", "desc"), masked=False)
    assert rows[-1][1] == "" and "+919876543210" in {row[2] for row in rows}


# --- Excel ----------------------------------------------------------------------------------


def summary_tables(ws: Any) -> dict[str, list[tuple]]:
    """The Summary sheet's titled tables: title -> data rows (header row skipped)."""
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    tables: dict[str, list[tuple]] = {}
    for i, row in enumerate(rows):
        if row[0] in ("By status", "By agent"):
            body = []
            for data in rows[i + 2 :]:
                if all(v is None for v in data):
                    break
                body.append(data)
            tables[row[0]] = body
    return tables


def check_summary(ws: Any, records: list[dict]) -> None:
    """Totals by status and by agent equal a Python aggregation of the records."""
    tables = summary_tables(ws)
    assert {row[0]: row[1] for row in tables["By status"]} == dict(Counter(r["status"] for r in records))
    agents: dict[Any, list] = defaultdict(lambda: [None, 0, 0, 0, 0])
    for r in records:
        a = agents[r["agentId"]]
        answered = r["status"] == "answered"
        a[0] = r["agentName"]
        a[1] += 1
        a[2] += answered
        a[3] += not answered
        a[4] += r["talkDuration"] if answered else 0
    got = {row[0]: list(row[1:6]) for row in tables["By agent"]}
    assert got == {k: v for k, v in agents.items()}
    labels = {row[0].value: row[1].value for row in ws.iter_rows() if row[0].value}
    assert labels["Calls"] == len(records)
    assert labels["Answered"] == sum(r["status"] == "answered" for r in records)
    assert labels["Missed"] == sum(r["status"] != "answered" for r in records)


@pytest.mark.parametrize("who", ["viewer", "masked"])
def test_xlsx_cells_header_and_summary(dataset: Dataset, run, tmp_path: Path, who: str) -> None:
    tenant = getattr(dataset, who)
    _, data, _ = run(tenant.creds, "exportExcel", {"timezone": VIEW_TZ, "sortOrder": "asc"})
    path = tmp_path / "report.xlsx"
    path.write_bytes(data)
    wb = load_workbook(path)
    ws = wb["Calls"]
    expected = ordered(dataset.records, "startTime", "asc")
    rows = list(ws.iter_rows())
    assert [c.value for c in rows[0]] == DEFAULT_COLUMNS
    assert all(c.font.b for c in rows[0])
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:V{len(expected) + 1}"
    assert len(rows) == len(expected) + 1
    masked = who == "masked"
    for row, rec in zip(rows[1:], expected, strict=True):
        for name, cell in zip(DEFAULT_COLUMNS, row, strict=True):
            want = xlsx_cell(rec, name, masked)
            if name == "callAnalysis":
                assert cell.data_type == "s" and json.loads(cell.value) == want
            elif isinstance(want, str):
                # OOXML writes control characters as _xHHHH_, which Excel decodes and openpyxl does not.
                assert cell.data_type == "s" and unescape(cell.value) == want, (rec["callId"], name)
            elif isinstance(want, datetime):
                assert cell.is_date and cell.value == want
            else:
                assert cell.value == want, (rec["callId"], name)
                if want is not None:
                    assert cell.data_type == "n"
    check_summary(wb["Summary"], dataset.records)


# --- PDF ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["viewer", "masked"])
def test_pdf_cover_header_pages_and_rows(dataset: Dataset, run, who: str) -> None:
    tenant = getattr(dataset, who)
    title = "Weekly report"
    _, data, _ = run(tenant.creds, "exportPdf", {"timezone": VIEW_TZ, "title": title})
    reader = PdfReader(io.BytesIO(data))
    pages = [p.extract_text() or "" for p in reader.pages]
    n = len(pages)
    assert n >= 4  # a cover and 150 rows on more than two pages
    assert title in pages[0] and dataset.account_name in pages[0] and VIEW_TZ in pages[0]
    for i, text in enumerate(pages, start=1):
        assert re.findall(r"Page (\d+) of\s*(\d+)", text) == [(str(i), str(n))], text[-200:]
    table = [p for p in pages if "".join(p.split()).startswith("callId")]
    assert len(table) >= 3
    header = "".join(PDF_DEFAULT)  # the PDF's default columns, not every field: they must fit the page
    for text in table:
        assert "".join(text.split()).startswith(header)
    expected = ordered(dataset.records)
    joined = "\n".join(table)
    positions = [joined.find(r["callId"]) for r in expected]
    assert -1 not in positions and positions == sorted(positions)
    # Wide numbers may be cut with an ellipsis in the narrow PDF cell; these two are short.
    full, hidden = "+919876543210", "+91XXXXXXXX10"
    if who == "masked":
        assert hidden in joined and full not in joined
    else:
        assert full in joined and hidden not in joined
    # didNumber is never masked; it is not a default PDF column, so it is asked for.
    _, data, _ = run(tenant.creds, "exportPdf", {"timezone": VIEW_TZ, "columns": ["callId", "didNumber"]})
    numbers = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages[1:])
    assert DID in numbers and mask(DID) not in numbers
