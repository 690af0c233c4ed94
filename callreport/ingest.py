"""Validating call records (§5) and turning them into rows of the calls table."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model

from callreport import errors
from callreport.record import ANALYSIS_KEY, FIELDS, STRICT

MAX_BATCH = 10_000
MAX_PROBLEMS = 20  # problems reported for one record: enough to fix it in one go
NON_DIGITS = re.compile(r"[^0-9]")


def _declared(field) -> tuple:
    """A record field as create_model takes it: (type, default)."""
    default = field.default
    if callable(default):
        default = Field(default_factory=default)
    return field.annotation(), default


CallRecord = create_model(
    "CallRecord",
    __config__=STRICT,
    __doc__="A call detail record as ingest accepts it.",
    **{f.name: _declared(f) for f in FIELDS},
)


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


TIME_ARGS = {"startTime": "start", "endTime": "end"}  # a new time field needs its own rules here


def _row_maker() -> Any:
    """A generated function making a calls row from a record's fields: one dict display, as fast
    as the hand-written builder it replaces (a loop over the fields cost 8% more per batch)."""
    items = ['"account_id": a', '"events": events', '"updated_at": now']
    for f in FIELDS:
        if f.kind == "time":
            items.append(f'"{f.column}": {TIME_ARGS[f.name]}')
        elif f.kind == "phone" and not f.nullable:  # a PBX may not know a number (§11): "" (NOT NULL)
            items.append(f'"{f.column}": r["{f.name}"] or ""')
        elif f.kind != "events":
            items.append(f'"{f.column}": r["{f.name}"]')
    # the customer's digits reversed, so "ends with" is a prefix range on an index (models.calls)
    items.append('"customer_rev": _digits("", r["customerNumber"] or "")[::-1]')
    code = f"lambda a, r, start, end, events, now: {{{', '.join(items)}}}"
    return eval(code, {"_digits": NON_DIGITS.sub})  # noqa: S307 - built from record.py's own names


_make_row = _row_maker()


def _row(account_id: str, rec: Any, tz: ZoneInfo, now: int, problems: list[tuple[str, str]]) -> dict:
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
    return _make_row(account_id, rec, start, end, events, now)
