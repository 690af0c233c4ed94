"""The contract's filters (§6), typed, and their pure translation to SQL.

`CallFilter` is parsed once per request; `resolve()` fixes its times against the effective
timezone; `where()`, `order_by()` and `after_cursor()` turn it into SQLAlchemy clauses that
list, count, summary and exports all share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
    field_validator,
    model_validator,
)
from sqlalchemy.sql.elements import ColumnElement

from callreport import record
from callreport.models import calls
from callreport.record import STRICT
from callreport.zones import check_timezone

MAX_ITEMS = 1000
# §9 Sizes: at most 20 callAnalysis conditions with at most 1,000 list values among them all.
MAX_CONDITIONS = 20
MAX_CONDITION_VALUES = 1000
# Durations are INTEGER columns: a bound beyond 32 bits would be a database error, not an answer.
Seconds = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]
Text = Annotated[StrictStr, Field(max_length=1000)]
TextList = Annotated[list[Text], Field(max_length=MAX_ITEMS)]
SortBy = Literal[tuple(f.name for f in record.SORTS)]  # startTime, endTime, ... as §6 lists them
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None
Op = Literal["eq", "ne", "in", "nin", "contains", "gt", "gte", "lt", "lte", "exists"]
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
PHONE_NOISE = re.compile(r"[+\s-]")
# The keys ingest stores; any other field is one no call has (and would break SQLite's JSON path).
FIELD_KEY = re.compile(r'[^"\\\x00-\x1f]+')


class AnalysisCondition(BaseModel):
    """One callAnalysis condition: a field, an operator and a value."""

    model_config = STRICT
    field: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    op: Op
    value: Scalar | Annotated[list[Scalar], Field(max_length=MAX_ITEMS)] = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> AnalysisCondition:
        v, op = self.value, self.op
        if op in ("in", "nin"):
            ok, want = isinstance(v, list), "a list of values"
        elif op == "exists":
            ok, want = isinstance(v, bool), "true or false"
        elif op in ("gt", "gte", "lt", "lte"):
            ok, want = isinstance(v, int | float) and not isinstance(v, bool), "a number"
        elif op == "contains":
            ok, want = isinstance(v, str), "a string"
        else:
            ok, want = not isinstance(v, list), "a string, number, boolean or null"
        if not ok:
            raise ValueError(f"value of op {op} must be {want}")
        return self


def _list_type(f: record.Field) -> object:
    """A list filter's type: strings, or the field's enumerated values."""
    item = Literal[f.choices] if f.choices else Text
    return Annotated[list[item], Field(max_length=MAX_ITEMS)]


# The list and bound filters of record.py, e.g. agentIds, statuses, minDuration.
RecordFilters = create_model(
    "RecordFilters",
    __config__=STRICT,
    **{f.filter: (_list_type(f) | None, None) for f in record.LISTED},
    **{b.name: (Seconds | None, None) for _, b in record.BOUNDED},
)


class CallFilter(RecordFilters):
    """The filter fields of §6, shared by list, count, summary and the exports."""

    startDate: Annotated[StrictStr, Field(max_length=64)] | None = None
    endDate: Annotated[StrictStr, Field(max_length=64)] | None = None
    timezone: Annotated[StrictStr, Field(max_length=64)] | None = None
    customerNumber: Annotated[StrictStr, Field(max_length=64)] | None = None
    callAnalysis: Annotated[list[AnalysisCondition], Field(max_length=MAX_CONDITIONS)] | None = None
    sortBy: SortBy = "startTime"
    sortOrder: Literal["asc", "desc"] = "desc"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)

    @field_validator("callAnalysis")
    @classmethod
    def _few_values(cls, v: list[AnalysisCondition] | None) -> list[AnalysisCondition] | None:
        total = sum(len(c.value) for c in v or () if isinstance(c.value, list))
        if total > MAX_CONDITION_VALUES:
            raise ValueError(f"holds {total} list values; at most {MAX_CONDITION_VALUES} among all conditions")
        return v

    @field_validator("startDate", "endDate")
    @classmethod
    def _date_shape(cls, v: str | None) -> str | None:
        if v is not None:
            parse_instant(v, ZoneInfo("UTC"), end_of_day=False)
        return v

    @field_validator("customerNumber")
    @classmethod
    def _digits(cls, v: str | None) -> str | None:
        if v is None:
            return None
        digits = PHONE_NOISE.sub("", v)
        if not digits.isascii() or not digits.isdigit():
            raise ValueError("must be digits, optionally with +, spaces and dashes")
        return digits


# Without VIEW_NUMBER a suffix this long is needed: shorter ones read a masked number digit by digit (§6).
MASKED_MIN_DIGITS = 8


def check_number_filter(f: CallFilter, sees_numbers: bool) -> None:
    """ValueError when a user who sees masked numbers could read hidden digits through the filter or the order."""
    if sees_numbers:
        return
    if f.customerNumber is not None and len(f.customerNumber) < MASKED_MIN_DIGITS:
        raise ValueError(f"customerNumber needs at least {MASKED_MIN_DIGITS} digits without the VIEW_NUMBER permission")
    # The order of full numbers is an oracle too: a user who can also ingest places probe calls
    # and reads where they land (a binary search finds a 10-digit number in ~34 probes).
    if record.BY_NAME[f.sortBy].masked:  # customerNumber, or any masked number record.py makes sortable
        raise ValueError(f"sortBy {f.sortBy} needs the VIEW_NUMBER permission (the order would reveal hidden digits)")


def parse_instant(text: str, tz: ZoneInfo, end_of_day: bool) -> int:
    """A contract date (`YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS`, ISO 8601) as epoch seconds."""
    if DATE_ONLY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a real date") from None
        moment = datetime.combine(day, time(23, 59, 59) if end_of_day else time(0), tz)
        return int(moment.timestamp())
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: use YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or ISO 8601 with offset"
        ) from None
    if moment.tzinfo is None:
        if not LOCAL_TIME.match(text):
            raise ValueError(f"{text!r} is not a date: use YYYY-MM-DD HH:MM:SS or ISO 8601 with offset")
        moment = moment.replace(tzinfo=tz)
    return int(moment.timestamp() // 1)


@dataclass(frozen=True)
class Resolved:
    """A filter with its times fixed: what a query (or a later export job) runs."""

    filter: CallFilter
    tz: ZoneInfo
    start_ts: int | None
    end_ts: int | None

    @property
    def timezone(self) -> str:
        """The effective timezone's IANA name."""
        return self.tz.key


def resolve(f: CallFilter, account_tz: str) -> Resolved:
    """Fix the filter's times in the effective timezone; start after end is 1000 (ValueError)."""
    tz = ZoneInfo(f.timezone or account_tz)
    start = parse_instant(f.startDate, tz, end_of_day=False) if f.startDate else None
    end = parse_instant(f.endDate, tz, end_of_day=True) if f.endDate else None
    if start is not None and end is not None and start > end:
        raise ValueError("startDate is after endDate")
    return Resolved(f, tz, start, end)


# --- predicates -------------------------------------------------------------------------


def in_range(start: int | None, end: int | None) -> list[ColumnElement]:
    """startDate <= startTime <= endDate."""
    out = []
    if start is not None:
        out.append(calls.c.start_ts >= start)
    if end is not None:
        out.append(calls.c.start_ts <= end)
    return out


def number_ends_with(digits: str) -> ColumnElement:
    """The customer number ends with these digits: a prefix range on the reversed digits."""
    rev = digits[::-1]
    return sa.and_(calls.c.customer_rev >= rev, calls.c.customer_rev < rev[:-1] + chr(ord(rev[-1]) + 1))


LIST_FIELDS = {f.filter: calls.c[f.column] for f in record.LISTED}
BOUNDS = {b.name: (calls.c[f.column], b.op) for f, b in record.BOUNDED}


def where(r: Resolved, dialect: str) -> list[ColumnElement]:
    """Every condition of the filter, ANDed by the caller (account scoping is not here)."""
    f = r.filter
    out = in_range(r.start_ts, r.end_ts)
    for name, column in LIST_FIELDS.items():
        values = getattr(f, name)
        if values is not None:
            out.append(column.in_(sorted(set(values))) if values else sa.false())
    for name, (column, op) in BOUNDS.items():
        value = getattr(f, name)
        if value is not None:
            out.append(column >= value if op == ">=" else column <= value)
    if f.customerNumber:
        out.append(number_ends_with(f.customerNumber))
    from callreport.analysis import condition  # the JSON dialect details live there

    for cond in f.callAnalysis or ():
        if FIELD_KEY.fullmatch(cond.field):
            out.append(condition(cond.field, cond.op, cond.value, dialect))
        else:  # every call lacks this field: only ne, nin and exists=false hold
            lacking = cond.op in ("ne", "nin") or (cond.op == "exists" and cond.value is False)
            out.append(sa.true() if lacking else sa.false())
    return out


# --- ordering and cursors ------------------------------------------------------------------

SORT_COLUMNS = {f.name: calls.c[f.column] for f in record.SORTS}
TEXT_SORTS = tuple(f.name for f in record.SORTS if f.kind in ("text", "phone"))


def int_bound(col: sa.Column) -> int:
    """Beyond this an integer does not fit the column (durations are INTEGER, times BIGINT)."""
    return 2**63 if isinstance(col.type, sa.BigInteger) else 2**31


def order_by(f: CallFilter) -> list[ColumnElement]:
    """ORDER BY the sort key (nulls last either way), then callId in the same direction."""
    col = SORT_COLUMNS[f.sortBy]
    desc = f.sortOrder == "desc"
    key = col.desc() if desc else col.asc()
    if col.nullable:
        # Only nullable keys pay for NULLS LAST: it stops PostgreSQL scanning an index backwards.
        key = key.nulls_last()
    return [key, calls.c.call_id.desc() if desc else calls.c.call_id.asc()]


def after_cursor(f: CallFilter, value: Any, call_id: str) -> ColumnElement:
    """Rows strictly after (value, callId) in the filter's order, nulls last."""
    col = SORT_COLUMNS[f.sortBy]
    desc = f.sortOrder == "desc"
    cid = calls.c.call_id
    if value is None:
        return sa.and_(col.is_(None), cid < call_id if desc else cid > call_id)
    pair = sa.tuple_(col, cid)
    later = pair < (value, call_id) if desc else pair > (value, call_id)
    return sa.or_(later, col.is_(None)) if col.nullable else later
