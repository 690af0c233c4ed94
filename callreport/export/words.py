"""Export requests in words: the default title and the filters as a reader would say them."""

from __future__ import annotations

from datetime import datetime

from callreport import record
from callreport.filters import Resolved

# The record's filters in words (record.py), then the rest of §6.
LABELS = {
    **{f.filter: f.filter_label for f in record.LISTED},
    **{b.name: b.label for _, b in record.BOUNDED},
    "customerNumber": "Customer number ends with",
    "sortBy": "Sorted by",
    "sortOrder": "Order",
}
OPS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "nin": "is none of",
    "contains": "contains",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "exists": "exists",
}


def _day(ts: int, r: Resolved) -> str:
    return datetime.fromtimestamp(ts, r.tz).strftime("%Y-%m-%d")


def default_title(r: Resolved) -> str:
    """`Calls <start> to <end>` in the effective timezone, or what the range leaves open."""
    if r.start_ts is not None and r.end_ts is not None:
        return f"Calls {_day(r.start_ts, r)} to {_day(r.end_ts, r)}"
    if r.start_ts is not None:
        return f"Calls from {_day(r.start_ts, r)}"
    if r.end_ts is not None:
        return f"Calls up to {_day(r.end_ts, r)}"
    return "All calls"


def _fmt(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _period(r: Resolved) -> str:
    """The dates in words: both ends, one open end, or all calls when none was given."""

    def at(ts: int) -> str:
        return datetime.fromtimestamp(ts, r.tz).strftime("%Y-%m-%d %H:%M:%S")

    if r.start_ts is not None and r.end_ts is not None:
        return f"Period: {at(r.start_ts)} to {at(r.end_ts)} ({r.timezone})"
    if r.start_ts is not None:
        return f"Period: from {at(r.start_ts)} ({r.timezone})"
    if r.end_ts is not None:
        return f"Period: up to {at(r.end_ts)} ({r.timezone})"
    return "Period: All calls"


def filters_in_words(echo: dict, r: Resolved) -> list[str]:
    """One line per filter, e.g. `Statuses: answered, missed`."""
    lines = [_period(r)]
    for key, label in LABELS.items():
        if key in echo:
            lines.append(f"{label}: {_fmt(echo[key])}")
    for cond in echo.get("callAnalysis") or ():
        value = "" if cond["op"] == "exists" and cond.get("value") else " " + _fmt(cond.get("value"))
        if cond["op"] == "exists" and not cond.get("value"):
            lines.append(f"callAnalysis.{cond['field']} is absent")
        else:
            lines.append(f"callAnalysis.{cond['field']} {OPS[cond['op']]}{value}")
    return lines
