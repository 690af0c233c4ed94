"""The record's columns, declared once for JSON responses, CSV, Excel and PDF.

A column knows its header name, its kind and how to read its value from a row of the
``calls`` table. Values are plain Python: str, int, bool, float, None, an aware
``datetime`` in the effective timezone (kind ``time``) or a dict (kind ``json``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from callreport import record

Getter = Callable[[Any, ZoneInfo, bool], Any]


DIGIT = re.compile(r"[0-9]")


# Customer numbers repeat (callers call again), so a cache spares most of the work in exports.
@lru_cache(maxsize=1 << 16)
def _mask(number: str) -> str:
    digits = len(DIGIT.findall(number))
    if digits <= 4:
        return DIGIT.sub("X", number)
    seen = 0

    def keep_ends(m: re.Match) -> str:
        nonlocal seen
        seen += 1
        return m.group() if seen <= 2 or seen > digits - 2 else "X"

    return DIGIT.sub(keep_ends, number)


def mask_number(number: str | None) -> str | None:
    """Replace every digit but the first two and last two with X; four digits or fewer: all X."""
    return None if number is None else _mask(number)


def local_time(ts: int | None, tz: ZoneInfo) -> datetime | None:
    """An epoch second as an aware datetime in the given zone."""
    return None if ts is None else datetime.fromtimestamp(ts, tz)


@dataclass(frozen=True)
class Column:
    """One output column: its header, its kind and how to get its value."""

    name: str
    kind: str  # text | int | time | json | phone | any
    get: Getter
    source: str | None = None  # the calls column it reads, for the compiled fast path
    key: str | None = None  # the callAnalysis key, for callAnalysis.<key> columns
    masked: bool = False  # a phone number masked without VIEW_NUMBER


def _attr(attr: str) -> Getter:
    return lambda row, tz, masked: getattr(row, attr)


def _time(attr: str) -> Getter:
    return lambda row, tz, masked: local_time(getattr(row, attr), tz)


def _phone(attr: str) -> Getter:
    def get(row: Any, tz: ZoneInfo, masked: bool) -> str | None:
        value = getattr(row, attr)
        return mask_number(value) if masked else value

    return get


def _json(attr: str) -> Getter:
    return lambda row, tz, masked: getattr(row, attr) or {}


def _analysis(key: str) -> Getter:
    return lambda row, tz, masked: (row.call_analysis or {}).get(key)


def _column(f: record.Field) -> Column:
    """The export column of a record field: its value read from the field's column, by kind."""
    if f.kind == "time":
        get = _time(f.column)
    elif f.masked:
        get = _phone(f.column)
    elif f.kind == "json":
        get = _json(f.column)
    else:
        get = _attr(f.column)
    return Column(f.name, f.kind, get, f.column, masked=f.masked)


# The contract's §5 order, without `events`.
DEFAULT_COLUMNS: tuple[Column, ...] = tuple(_column(f) for f in record.EXPORTED)
BY_NAME = {c.name: c for c in DEFAULT_COLUMNS}
# The PDF's default: what a person reads on A4 landscape at 8 pt (export/pdf.py), in record.py's
# pdf_at order. The other fields (end time, hold, numbers the agent dialled from, ids, the queue,
# the recording link, the callAnalysis JSON) are for CSV and Excel, or asked for with `columns`.
PDF_COLUMNS: tuple[Column, ...] = tuple(BY_NAME[f.name] for f in record.PDF_DEFAULT)
ANALYSIS_PREFIX = "callAnalysis."


def default_columns(fmt: str) -> tuple[Column, ...]:
    """The columns of an export that names none: fewer for PDF, which has a page to fit."""
    return PDF_COLUMNS if fmt == "pdf" else DEFAULT_COLUMNS


def resolve_columns(names: Sequence[str] | None, fmt: str = "csv") -> tuple[Column, ...]:
    """Columns for the requested names (record fields or callAnalysis.<key>); KeyError names a bad one."""
    if not names:
        return default_columns(fmt)
    out = []
    for name in names:
        if name in BY_NAME:
            out.append(BY_NAME[name])
        elif name.startswith(ANALYSIS_PREFIX) and len(name) > len(ANALYSIS_PREFIX):
            key = name[len(ANALYSIS_PREFIX) :]
            out.append(Column(name, "any", _analysis(key), "call_analysis", key))
        else:
            raise KeyError(name)
    return tuple(out)


def row_values(columns: Sequence[Column], row: Any, tz: ZoneInfo, masked: bool) -> tuple:
    """The values of one call for the given columns."""
    return tuple(c.get(row, tz, masked) for c in columns)


class IsoClock:
    """Epoch seconds to ISO 8601 with offset in a zone, cached per minute (exports repeat minutes).

    Equal to datetime.fromtimestamp(ts, tz).isoformat() and about five times faster.
    """

    def __init__(self, tz: ZoneInfo, size: int = 1 << 17):
        self.tz = tz
        self.size = size
        self.minutes: dict[int, tuple[str, str]] = {}

    def __call__(self, ts: int | None) -> str | None:
        if ts is None:
            return None
        minute, second = divmod(ts, 60)
        parts = self.minutes.get(minute)
        if parts is None:
            text = datetime.fromtimestamp(minute * 60, self.tz).isoformat()
            if len(text) != 25:  # an offset with seconds (old local mean times): no shortcut
                return datetime.fromtimestamp(ts, self.tz).isoformat()
            if len(self.minutes) >= self.size:
                self.minutes.clear()
            parts = self.minutes[minute] = (text[:17], text[19:])
        return f"{parts[0]}{second:02d}{parts[1]}"


def row_reader(
    columns: Sequence[Column],
    fields: Sequence[str],
    tz: ZoneInfo,
    masked: bool,
    iso_times: bool = False,
    absent: Any = None,
) -> Callable:
    """A compiled row -> values function for rows whose fields come in this order.

    Same values as row_values, about three times faster: one generated function with
    positional reads instead of a getter call and an attribute lookup per cell. With
    iso_times, times come as ISO 8601 text (what CSV writes) instead of datetimes. A
    callAnalysis.<key> the call lacks reads as ``absent`` (JSON Lines leaves it out).
    """
    index = {f: i for i, f in enumerate(fields)}
    env: dict[str, Any] = {"_ts": datetime.fromtimestamp, "_tz": tz, "_mask": mask_number, "_iso": IsoClock(tz)}
    env["_absent"] = absent
    parts = []
    for n, c in enumerate(columns):
        at = f"r[{index[c.source]}]"
        if c.kind == "time":
            parts.append(f"_iso({at})" if iso_times else f"(None if {at} is None else _ts({at}, _tz))")
        elif c.masked and masked:
            parts.append(f"_mask({at})")
        elif c.kind == "json":
            parts.append(f"({at} or {{}})")
        elif c.key is not None:
            env[f"_k{n}"] = c.key
            parts.append(f"({at} or {{}}).get(_k{n}, _absent)")
        else:
            parts.append(at)
    return eval(f"lambda r: ({', '.join(parts)},)", env)  # noqa: S307 - built from our own names


NAMES = tuple(c.name for c in DEFAULT_COLUMNS)


def records(rows: Sequence[Any], fields: Sequence[str], tz: ZoneInfo, masked: bool) -> list[dict[str, Any]]:
    """Many calls as JSON records (a page of list): the compiled reader, ISO times."""
    reader = row_reader(DEFAULT_COLUMNS, fields, tz, masked, iso_times=True)
    return [dict(zip(NAMES, reader(row), strict=True)) for row in rows]


def record(row: Any, tz: ZoneInfo, masked: bool, with_events: bool = False) -> dict[str, Any]:
    """One call as the contract's JSON record, times as ISO 8601 in the zone."""
    out: dict[str, Any] = {}
    for c in DEFAULT_COLUMNS:
        value = c.get(row, tz, masked)
        out[c.name] = value.isoformat() if c.kind == "time" and value is not None else value
    if with_events:
        out["events"] = [{**event, "time": local_time(event["time"], tz).isoformat()} for event in (row.events or [])]
    return out
