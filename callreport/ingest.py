"""Validating call records (§5) and turning them into rows of the calls table."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from callreport import errors

STRICT = ConfigDict(extra="forbid", strict=True)
MAX_BATCH = 10_000
MAX_PROBLEMS = 20  # problems reported for one record: enough to fix it in one go
PHONE = re.compile(r"^\+?[0-9][0-9 \-]*$")
# Keys become SQLite JSON paths ($."key"): quotes, backslashes and control characters cannot.
ANALYSIS_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,64}$')
NON_DIGITS = re.compile(r"[^0-9]")

Phone = Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=PHONE.pattern)]
Seconds = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
Name = Annotated[StrictStr, Field(max_length=200)]
Scalar = Annotated[StrictStr, Field(max_length=10_000)] | StrictInt | StrictFloat | StrictBool | None


class Event(BaseModel):
    """One step of a call's timeline."""

    model_config = STRICT
    time: Annotated[StrictStr, Field(max_length=64)]
    type: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    agentId: Annotated[StrictStr, Field(max_length=64)] | None = None
    note: Annotated[StrictStr, Field(max_length=1000)] | None = None


class CallRecord(BaseModel):
    """A call detail record as ingest accepts it."""

    model_config = STRICT
    callId: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    startTime: Annotated[StrictStr, Field(max_length=64)]
    endTime: Annotated[StrictStr, Field(max_length=64)]
    duration: Seconds
    talkDuration: Seconds = 0
    holdDuration: Seconds = 0
    waitTime: Seconds = 0
    direction: Literal["inbound", "outbound"]
    callType: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    status: Literal["answered", "missed", "busy", "noanswer", "failed", "cancelled"]
    callerNumber: Phone
    customerNumber: Phone
    didNumber: Phone
    agentId: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    agentName: Name | None = None
    campaign: Name | None = None
    department: Name | None = None
    disposition: Name | None = None
    hangupBy: Literal["customer", "agent", "system"] | None = None
    recordingUrl: Annotated[StrictStr, Field(max_length=2000)] | None = None
    callAnalysis: Annotated[dict[StrictStr, Scalar], Field(max_length=50)] = Field(default_factory=dict)
    events: Annotated[list[Event], Field(max_length=500)] = Field(default_factory=list)

    @field_validator("callAnalysis", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        # Before the union: a float field would otherwise take 2**63 silently as 9.2e18.
        for key, value in v.items() if isinstance(v, dict) else ():
            if not isinstance(key, str) or not ANALYSIS_KEY.fullmatch(key):  # match() lets a final \n through
                raise ValueError(f"key {str(key)[:70]!r} must be 1-64 characters, no quotes, backslashes or controls")
            if type(value) is int and not -(2**63) <= value < 2**63:
                raise ValueError(f"value of {key!r} must be within 64-bit integers")
        return v


def _record_schema() -> dict:
    """CallRecord's JSON schema with its Event definition inlined (for the OpenAPI document)."""
    schema = CallRecord.model_json_schema()
    event = schema.pop("$defs")["Event"]
    schema["properties"]["events"]["items"] = event
    # What clients should send; a time without an offset is still taken in the account's timezone.
    for props, name in (
        (schema["properties"], "startTime"),
        (schema["properties"], "endTime"),
        (event["properties"], "time"),
    ):
        props[name]["format"] = "date-time"
    schema["properties"]["callAnalysis"]["propertyNames"] = {"pattern": ANALYSIS_KEY.pattern}
    return schema


def _document_calls(schema: dict) -> None:
    # Records are validated one by one in to_rows (so errors name their index); the schema says what they are.
    schema["items"] = _record_schema()


class IngestParams(BaseModel):
    """The ingest body: 1 to 10,000 call records."""

    model_config = STRICT
    calls: Annotated[list[Any], Field(min_length=1, max_length=MAX_BATCH, json_schema_extra=_document_calls)]


_records = TypeAdapter(list[CallRecord])


def epoch(text: str, tz: ZoneInfo) -> int:
    """ISO 8601 (naive: in tz) to epoch seconds, fractions dropped."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() // 1)


class InvalidRecord(errors.InvalidParameters):
    """1000 naming the first invalid record; `problems` holds each (field, reason) of it, up to 20."""

    def __init__(self, index: int, problems: list[tuple[str, str]]):
        self.index, self.problems = index, problems[:MAX_PROBLEMS]
        field, reason = problems[0]
        super().__init__(f"calls[{index}].{field}: {reason}.")


def to_rows(account_id: str, raw: list[Any], tz: ZoneInfo) -> list[dict]:
    """Validated rows for the calls table, or InvalidRecord naming the first bad record and its fields."""
    try:
        records = _records.validate_python(raw)
    except ValidationError as exc:
        raise _first_invalid(raw, exc, tz) from None
    now = int(time.time())
    rows = []
    for index, rec in enumerate(records):
        problems: list[tuple[str, str]] = []
        rows.append(_row(account_id, rec, tz, now, problems))
        if problems:
            raise InvalidRecord(index, problems)
    return rows


def _first_invalid(raw: list[Any], exc: ValidationError, tz: ZoneInfo) -> InvalidRecord:
    """The first record with a problem, with every problem it has (types first, then times)."""
    by_index: dict[int, list[tuple[str, str]]] = {}
    for err in exc.errors(include_url=False):
        index, *field = err["loc"]
        by_index.setdefault(int(index), []).append(_schema_problem(field, err))
    first = min(by_index)
    for index in range(first):  # records before it passed the types; one may still fail a time check
        problems: list[tuple[str, str]] = []
        _row("", CallRecord.model_validate(raw[index]), tz, 0, problems)
        if problems:
            return InvalidRecord(index, problems)
    problems = by_index[first]
    if isinstance(raw[first], dict):
        problems += _time_problems(raw[first], tz, {field for field, _ in problems})
    return InvalidRecord(first, problems)


def _schema_problem(field: list, err: dict) -> tuple[str, str]:
    where = ".".join(str(p) for p in field) or "record"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "is not a field of a call record"
    elif err["type"] == "missing":
        msg = "is required"
    return where, msg


def _time_problems(rec: dict, tz: ZoneInfo, flagged: set[str]) -> list[tuple[str, str]]:
    """The time checks of a record that failed on types, over the fields whose types were right."""
    problems: list[tuple[str, str]] = []
    times = {}
    for name in ("startTime", "endTime"):
        text = rec.get(name)
        if name not in flagged and isinstance(text, str):
            times[name] = _when(name, text, tz, problems)
    if len(times) == 2 and None not in times.values() and times["endTime"] < times["startTime"]:
        problems.append(("endTime", "is before startTime"))
    talk, total = rec.get("talkDuration"), rec.get("duration")
    if type(talk) is int and type(total) is int and talk > total and not {"talkDuration", "duration"} & flagged:
        problems.append(("talkDuration", "is longer than duration"))
    return problems


def _when(name: str | int, text: str, tz: ZoneInfo, problems: list[tuple[str, str]]) -> int | None:
    """Epoch seconds of an ISO 8601 time, or None with the problem noted."""
    try:
        return epoch(text, tz)
    except ValueError:
        # the label is built only here: an f-string per event cost 12% of ingest's CPU
        label = f"events[{name}].time" if isinstance(name, int) else name
        problems.append((label, f"{text[:64]!r} is not an ISO 8601 time"))
        return None


def _row(account_id: str, rec: CallRecord, tz: ZoneInfo, now: int, problems: list[tuple[str, str]]) -> dict:
    start, end = _when("startTime", rec.startTime, tz, problems), _when("endTime", rec.endTime, tz, problems)
    if start is not None and end is not None and end < start:
        problems.append(("endTime", "is before startTime"))
    if rec.talkDuration > rec.duration:
        problems.append(("talkDuration", "is longer than duration"))
    events = []
    for i, ev in enumerate(rec.events):
        item = {"time": _when(i, ev.time, tz, problems), "type": ev.type}
        if ev.agentId is not None:
            item["agentId"] = ev.agentId
        if ev.note is not None:
            item["note"] = ev.note
        events.append(item)
    return call_row(account_id, rec.__dict__, start, end, events, now)  # a model's fields live in __dict__


def call_row(account_id: str, rec: dict, start: int | None, end: int | None, events: list, now: int) -> dict:
    """The calls-table row of a record's fields (ingest's checked model, or a PBX import's own dict)."""
    customer = rec["customerNumber"] or ""  # a PBX may not know it (§11): stored as "" (the column is NOT NULL)
    # queueName is not a column yet: this is the one place a record's field is dropped (issue 12 follow-up).
    return {
        "account_id": account_id,
        "call_id": rec["callId"],
        "start_ts": start,
        "end_ts": end,
        "duration": rec["duration"],
        "talk_duration": rec["talkDuration"],
        "hold_duration": rec["holdDuration"],
        "wait_time": rec["waitTime"],
        "direction": rec["direction"],
        "call_type": rec["callType"],
        "status": rec["status"],
        "caller_number": rec["callerNumber"] or "",
        "customer_number": customer,
        "customer_rev": NON_DIGITS.sub("", customer)[::-1],
        "did_number": rec["didNumber"] or "",  # null from a PBX (no DID, or not digits): ""
        "agent_id": rec["agentId"],
        "agent_name": rec["agentName"],
        "campaign": rec["campaign"],
        "department": rec["department"],
        "disposition": rec["disposition"],
        "hangup_by": rec["hangupBy"],
        "recording_url": rec["recordingUrl"],
        "call_analysis": rec["callAnalysis"],
        "events": events,
        "updated_at": now,
    }
