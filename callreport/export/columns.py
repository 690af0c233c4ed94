"""The record's columns, declared once for JSON responses, CSV, Excel and PDF.

A column knows its header name, its kind and how to read its value from a row of the
``calls`` table. Values are plain Python: str, int, bool, float, None, an aware
``datetime`` in the effective timezone (kind ``time``) or a dict (kind ``json``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

Getter = Callable[[Any, ZoneInfo, bool], Any]


def mask_number(number: str | None) -> str | None:
    """Replace every digit but the first two and last two with X; four digits or fewer: all X."""
    if number is None:
        return None
    digits = sum(ch.isdigit() for ch in number)
    if digits <= 4:
        return "".join("X" if ch.isdigit() else ch for ch in number)
    out, seen = [], 0
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen <= 2 or seen > digits - 2 else "X")
        else:
            out.append(ch)
    return "".join(out)


def local_time(ts: int | None, tz: ZoneInfo) -> datetime | None:
    """An epoch second as an aware datetime in the given zone."""
    return None if ts is None else datetime.fromtimestamp(ts, tz)


@dataclass(frozen=True)
class Column:
    """One output column: its header, its kind and how to get its value."""

    name: str
    kind: str  # text | int | time | json | phone | any
    get: Getter


def _attr(attr: str) -> Getter:
    return lambda row, tz, masked: getattr(row, attr)


def _time(attr: str) -> Getter:
    return lambda row, tz, masked: local_time(getattr(row, attr), tz)


def _phone(attr: str) -> Getter:
    def get(row: Any, tz: ZoneInfo, masked: bool) -> str | None:
        value = getattr(row, attr)
        return mask_number(value) if masked else value

    return get


def _analysis(key: str) -> Getter:
    return lambda row, tz, masked: (row.call_analysis or {}).get(key)


# The contract's §5 order, without `events`.
DEFAULT_COLUMNS: tuple[Column, ...] = (
    Column("callId", "text", _attr("call_id")),
    Column("startTime", "time", _time("start_ts")),
    Column("endTime", "time", _time("end_ts")),
    Column("duration", "int", _attr("duration")),
    Column("talkDuration", "int", _attr("talk_duration")),
    Column("holdDuration", "int", _attr("hold_duration")),
    Column("waitTime", "int", _attr("wait_time")),
    Column("direction", "text", _attr("direction")),
    Column("callType", "text", _attr("call_type")),
    Column("status", "text", _attr("status")),
    Column("callerNumber", "phone", _phone("caller_number")),
    Column("customerNumber", "phone", _phone("customer_number")),
    Column("didNumber", "phone", _attr("did_number")),
    Column("agentId", "text", _attr("agent_id")),
    Column("agentName", "text", _attr("agent_name")),
    Column("campaign", "text", _attr("campaign")),
    Column("department", "text", _attr("department")),
    Column("disposition", "text", _attr("disposition")),
    Column("hangupBy", "text", _attr("hangup_by")),
    Column("recordingUrl", "text", _attr("recording_url")),
    Column("callAnalysis", "json", lambda row, tz, masked: row.call_analysis or {}),
)
BY_NAME = {c.name: c for c in DEFAULT_COLUMNS}
ANALYSIS_PREFIX = "callAnalysis."


def resolve_columns(names: Sequence[str] | None) -> tuple[Column, ...]:
    """Columns for the requested names (record fields or callAnalysis.<key>); KeyError names a bad one."""
    if not names:
        return DEFAULT_COLUMNS
    out = []
    for name in names:
        if name in BY_NAME:
            out.append(BY_NAME[name])
        elif name.startswith(ANALYSIS_PREFIX) and len(name) > len(ANALYSIS_PREFIX):
            out.append(Column(name, "any", _analysis(name[len(ANALYSIS_PREFIX) :])))
        else:
            raise KeyError(name)
    return tuple(out)


def row_values(columns: Sequence[Column], row: Any, tz: ZoneInfo, masked: bool) -> tuple:
    """The values of one call for the given columns."""
    return tuple(c.get(row, tz, masked) for c in columns)


def record(row: Any, tz: ZoneInfo, masked: bool, with_events: bool = False) -> dict[str, Any]:
    """One call as the contract's JSON record, times as ISO 8601 in the zone."""
    out: dict[str, Any] = {}
    for c in DEFAULT_COLUMNS:
        value = c.get(row, tz, masked)
        out[c.name] = value.isoformat() if c.kind == "time" and value is not None else value
    if with_events:
        out["events"] = [
            {**event, "time": local_time(event["time"], tz).isoformat()} for event in (row.events or [])
        ]
    return out
