"""The calls form: query string (the §6 names, lists repeated) to filter values and back; quick ranges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import orjson

from callreport.console.service import FILTER_FIELDS, LIST_FILTERS, NUMBER_FILTERS

Pairs = Sequence[tuple[str, str]]
TEXT_FILTERS = tuple(n for n in FILTER_FIELDS if n not in LIST_FILTERS + NUMBER_FILTERS + ("callAnalysis",))
CONDITION = ("callAnalysis.field", "callAnalysis.op", "callAnalysis.value")
NUMBER_OPS = ("gt", "gte", "lt", "lte")


def _get(pairs: Pairs, name: str) -> list[str]:
    return [v for k, v in pairs if k == name]


def _json(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def condition_value(op: str, text: str) -> object:
    """A condition's typed value: exists takes true/false, in/nin a JSON list or commas, else JSON or text."""
    text = text.strip()
    if op == "exists":
        return {"true": True, "false": False}.get(text.lower(), text)
    if op in ("in", "nin"):
        value = _json(text)
        return value if isinstance(value, list) else [v.strip() for v in text.split(",") if v.strip()]
    if op == "contains":
        value = _json(text)
        return value if isinstance(value, str) else text
    return _json(text)  # eq/ne: 5 is a number, "5" a string, true a boolean, anything else text


def condition_text(op: str, value: object) -> str:
    """The text that condition_value reads back as this value."""
    if isinstance(value, str) and condition_value(op, value) == value:
        return value
    return orjson.dumps(value).decode()


def parse(pairs: Pairs) -> dict:
    """The filter values of a query string: empty fields dropped, lists repeated, numbers as int."""
    values: dict = {}
    for name in TEXT_FILTERS:
        given = [v.strip() for v in _get(pairs, name) if v.strip()]
        if given:
            values[name] = given[-1]
    for name in LIST_FILTERS:
        given = [v.strip() for v in _get(pairs, name) if v.strip()]
        if given:
            values[name] = list(dict.fromkeys(given))
    for name in NUMBER_FILTERS:
        given = [v.strip() for v in _get(pairs, name) if v.strip()]
        if given:
            values[name] = int(given[-1]) if given[-1].isdigit() else given[-1]
    rows = zip(*(_get(pairs, n) for n in CONDITION), strict=False)
    conditions = [{"field": f.strip(), "op": op, "value": condition_value(op, v)} for f, op, v in rows if f.strip()]
    if conditions:
        values["callAnalysis"] = conditions
    return values


def to_pairs(values: dict) -> list[tuple[str, str]]:
    """The query-string pairs of filter values (the inverse of parse)."""
    out: list[tuple[str, str]] = []
    for name, value in values.items():
        if name == "callAnalysis":
            for c in value:
                out += [(CONDITION[0], c["field"]), (CONDITION[1], c["op"])]
                out.append((CONDITION[2], condition_text(c["op"], c["value"])))
        elif isinstance(value, list):
            out += [(name, str(v)) for v in value]
        else:
            out.append((name, str(value)))
    return out


def query(values: dict, **extra: object) -> str:
    """A query string of the values with extra parameters (a list repeats; None drops the name)."""
    merged = {k: v for k, v in {**values, **extra}.items() if v is not None}
    return urlencode(to_pairs(merged))


def quick_ranges(tz: str, today: date | None = None) -> list[tuple[str, str, str]]:
    """(label, startDate, endDate) of Today, Yesterday, Last 7 days and This month in the zone."""
    day = today or datetime.now(ZoneInfo(tz)).date()
    iso = date.isoformat
    return [
        ("Today", iso(day), iso(day)),
        ("Yesterday", iso(day - timedelta(days=1)), iso(day - timedelta(days=1))),
        ("Last 7 days", iso(day - timedelta(days=6)), iso(day)),
        ("This month", iso(day.replace(day=1)), iso(day)),
    ]


def thousands(n: int) -> str:
    """1234 -> 1,234."""
    return f"{n:,}"


def clock(seconds: int | None) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour."""
    if seconds is None:
        return ""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def wall_time(iso: str | None) -> str:
    """An ISO 8601 time as `YYYY-MM-DD HH:MM:SS` (the zone is the page's)."""
    return "" if not iso else iso[:19].replace("T", " ")


def selected(values: dict, name: str) -> Iterable[str]:
    """The chosen items of a list filter."""
    return values.get(name) or ()
