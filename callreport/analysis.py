"""callAnalysis conditions as SQL, one dialect each: no type coercion, nulls as the contract says.

SQLite reads the JSON text with json_type/json_extract; PostgreSQL uses jsonb operators, so
`eq` is a containment test that the GIN index on call_analysis answers. `in`/`nin` bind their
list as one JSON array that the database reads once (json_each, jsonb_array_elements): a tree
of ORs cost 29 s on 2,000 calls with 20 x 490 values, and SQLite refused 1,000 values.
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from callreport.models import calls

NUMBER_TYPES_SQLITE = ("integer", "real")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "string"


def condition(field: str, op: str, value: Any, dialect: str) -> ColumnElement:
    """The SQL for one condition on the call's callAnalysis."""
    build = _postgres if dialect == "postgresql" else _sqlite
    return build(field, op, value)


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite(field: str, op: str, value: Any) -> ColumnElement:
    path = '$."' + field + '"'
    jtype = sa.func.json_type(calls.c.call_analysis, path)
    jval = sa.func.json_extract(calls.c.call_analysis, path)

    def equals(v: Any) -> ColumnElement:
        kind = _kind(v)
        if kind == "null":
            return jtype == "null"
        if kind == "bool":
            return jtype == ("true" if v else "false")
        if kind == "number":
            return sa.and_(jtype.in_(NUMBER_TYPES_SQLITE), jval == v)
        return sa.and_(jtype == "text", jval == v)

    def one_of(values: list) -> ColumnElement:
        kinds = _by_kind(values)
        tests = [jtype == name for name in ("null", "true", "false") if name in kinds]
        if "number" in kinds:
            tests.append(sa.and_(jtype.in_(NUMBER_TYPES_SQLITE), jval.in_(_sqlite_array(kinds["number"]))))
        if "string" in kinds:
            tests.append(sa.and_(jtype == "text", jval.in_(_sqlite_array(kinds["string"]))))
        return sa.or_(sa.false(), *tests)

    if op == "exists":
        return jtype.is_not(None) if value else jtype.is_(None)
    if op == "eq":
        return equals(value)
    if op == "ne":
        return sa.or_(jtype.is_(None), sa.not_(equals(value)))
    if op == "in":
        return one_of(value)
    if op == "nin":
        return sa.or_(jtype.is_(None), sa.not_(one_of(value)))
    if op == "contains":
        return sa.and_(jtype == "text", sa.func.cr_contains(jval, value) == 1)
    return sa.and_(jtype.in_(NUMBER_TYPES_SQLITE), _compare(jval, op, value))


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres(field: str, op: str, value: Any) -> ColumnElement:
    doc = calls.c.call_analysis
    elem = doc.op("->")(sa.literal(field, sa.Text))
    jtype = sa.func.jsonb_typeof(elem)

    def jsonb(v: Any) -> ColumnElement:
        return sa.cast(sa.literal(orjson.dumps(v).decode(), sa.Text), sa.dialects.postgresql.JSONB)

    def contains_pair(v: Any) -> ColumnElement:
        return doc.op("@>", is_comparison=True)(jsonb({field: v}))

    def one_of(values: list) -> ColumnElement:
        if not values:
            return sa.false()
        # jsonb equality has no coercion ('"5"' <> '5', 'true' <> '1') and 1 = 1.0, as wanted.
        return elem.in_(sa.select(sa.func.jsonb_array_elements(jsonb(_dedupe(values)))))

    if op == "exists":
        has = doc.op("?", is_comparison=True)(sa.literal(field, sa.Text))
        return has if value else sa.not_(has)
    if op == "eq":
        return contains_pair(value)
    if op == "ne":
        return sa.not_(contains_pair(value))
    if op == "in":
        return one_of(value)
    if op == "nin":
        return sa.or_(elem.is_(None), sa.not_(one_of(value)))
    text = doc.op("->>", return_type=sa.Text)(sa.literal(field, sa.Text))
    if op == "contains":
        lowered = sa.func.lower(sa.collate(text, "und-x-icu"))
        needle = sa.func.lower(sa.collate(sa.literal(value, sa.Text), "und-x-icu"))
        return sa.case((jtype == "string", sa.func.strpos(lowered, needle) > 0), else_=sa.false())
    # CASE fixes the evaluation order: the cast runs only on numbers.
    number = sa.cast(text, sa.Numeric)
    return sa.case((jtype == "number", _compare(number, op, value)), else_=sa.false())


def _compare(expr: ColumnElement, op: str, value: float) -> ColumnElement:
    return {"gt": expr > value, "gte": expr >= value, "lt": expr < value, "lte": expr <= value}[op]


def _sqlite_array(values: list) -> sa.Select:
    """SELECT value FROM json_each(?): one bound parameter, read once per statement."""
    each = sa.func.json_each(sa.literal(orjson.dumps(values).decode(), sa.Text)).table_valued("value")
    return sa.select(each.c.value)


def _by_kind(values: list) -> dict[str, list]:
    """The distinct values grouped as SQLite's json_type tells them apart: null, true, false,
    number (1 and 1.0 are one) and string."""
    out: dict[str, list] = {}
    for v in _dedupe(values):
        kind = _kind(v)
        if kind == "bool":
            kind = "true" if v else "false"
        out.setdefault(kind, []).append(v)
    return out


def _dedupe(values: list) -> list:
    """Distinct values, keeping 1 apart from True and 1.0 apart from "1"."""
    seen, out = set(), []
    for v in values:
        key = (_kind(v), v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out
