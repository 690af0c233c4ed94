"""All SQL over calls. Every statement is scoped to the principal's account and agents."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql import Select

from callreport import cursors, filters, record, sealing
from callreport.models import calls
from callreport.principal import Principal

EPOCH_DAY = date(1970, 1, 1)
# Lists and exports never show the timeline; not decoding its JSON saves ~20% per row.
ROW_COLUMNS = [c for c in calls.columns if c.name not in ("events", "customer_rev", "updated_at")]


def scoped(stmt: Select, principal: Principal) -> Select:
    """The statement limited to the principal's account and, when limited, agents."""
    stmt = stmt.where(calls.c.account_id == principal.account_id)
    if principal.agents is not None:
        stmt = stmt.where(calls.c.agent_id.in_(principal.agents))
    return stmt


def matching(principal: Principal, r: filters.Resolved, dialect: str, *cols: Any) -> Select:
    """SELECT cols FROM calls WHERE scope AND filter."""
    return scoped(sa.select(*cols), principal).where(*filters.where(r, dialect))


def list_page(
    conn: Connection, principal: Principal, r: filters.Resolved, limit: int, page: int, cursor: str | None
) -> tuple[Sequence[Row], str | None]:
    """One page of calls in the filter's order and the sealed cursor of the next page (None at the end)."""
    # Before any statement: the first use of the key in a process may have to write it.
    aead = sealing.cipher(conn.engine, "cursor")
    stmt = matching(principal, r, conn.dialect.name, *ROW_COLUMNS).order_by(*filters.order_by(r.filter))
    if cursor:
        value, call_id = cursors.decode_cursor(aead, principal.user_id, r, cursor)
        stmt = stmt.where(filters.after_cursor(r.filter, value, call_id))
    else:
        stmt = stmt.offset((page - 1) * limit)
    rows = conn.execute(stmt.limit(limit + 1)).fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    sort_col = filters.SORT_COLUMNS[r.filter.sortBy]
    return rows, cursors.encode_cursor(aead, principal.user_id, r, getattr(last, sort_col.key), last.call_id)


def count(conn: Connection, principal: Principal, r: filters.Resolved) -> int:
    """How many calls match."""
    return conn.execute(matching(principal, r, conn.dialect.name, sa.func.count())).scalar_one()


def stored(conn: Connection, account_id: str) -> int:
    """How many calls the account has, for the operator (the demo), not scoped to a principal."""
    return conn.execute(
        sa.select(sa.func.count()).select_from(calls).where(calls.c.account_id == account_id)
    ).scalar_one()


def get_call(conn: Connection, principal: Principal, call_id: str) -> Row | None:
    """One call by its callId, if the principal may see it."""
    stmt = scoped(sa.select(calls), principal).where(calls.c.call_id == call_id)
    return conn.execute(stmt).first()


def stream(conn: Connection, principal: Principal, r: filters.Resolved, batch: int = 2000) -> Iterator[Row]:
    """Every matching call in order, from a server-side cursor (memory stays flat)."""
    stmt = matching(principal, r, conn.dialect.name, *ROW_COLUMNS).order_by(*filters.order_by(r.filter))
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    yield from result


# --- summary ----------------------------------------------------------------------------------


def offsets(tz: ZoneInfo, lo: int, hi: int) -> list[tuple[int, int]]:
    """The zone's UTC offsets over [lo, hi]: (from_ts, offset seconds), found day by day."""

    def off(ts: int) -> int:
        return int(_utc(ts).astimezone(tz).utcoffset().total_seconds())

    out = [(lo, off(lo))]
    t = lo
    while t < hi:
        nxt = min(t + 86400, hi)
        if off(nxt) != out[-1][1]:
            a, b = t, nxt  # off(a) is the current offset, off(b) the new one
            while b - a > 1:
                mid = (a + b) // 2
                a, b = (mid, b) if off(mid) == out[-1][1] else (a, mid)
            out.append((b, off(b)))
        t = nxt
    return out


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def local_seconds(col: Any, tz: ZoneInfo, lo: int, hi: int) -> Any:
    """SQL for the column's epoch seconds shifted to local wall-clock seconds in tz."""
    changes = offsets(tz, lo, hi)
    if len(changes) == 1:
        return col + changes[0][1]
    whens = [(col < changes[i + 1][0], changes[i][1]) for i in range(len(changes) - 1)]
    return col + sa.case(*whens, else_=changes[-1][1])


# groupBy keys over a column (record.py); day and hour are computed from startTime below.
GROUP_COLUMNS = {f.group: calls.c[f.column] for f in record.GROUPS}


def _group_key(conn: Connection, principal: Principal, r: filters.Resolved, group_by: str) -> Any:
    if group_by in GROUP_COLUMNS:
        return GROUP_COLUMNS[group_by]
    # Offsets are needed only where the matching calls are: a filter from year 1 to 9999 would
    # otherwise walk 3.6M days and build a CASE too deep for SQLite (13 s, then an error).
    span = sa.func.min(calls.c.start_ts), sa.func.max(calls.c.start_ts)
    bounds = conn.execute(matching(principal, r, conn.dialect.name, *span)).one()
    lo, hi = bounds[0] or 0, bounds[1] or 0
    local = local_seconds(calls.c.start_ts, r.tz, lo, max(lo, hi))
    return local // 86400 if group_by == "day" else (local % 86400) // 3600


def summary(conn: Connection, principal: Principal, r: filters.Resolved, group_by: str) -> list[dict]:
    """Per-group aggregates: calls, answered, durations and wait times (raw sums, not averages)."""
    key = _group_key(conn, principal, r, group_by).label("key")
    answered = calls.c.status == "answered"
    cols = [
        key,
        sa.func.count().label("calls"),
        sa.func.sum(sa.case((answered, 1), else_=0)).label("answered"),
        sa.func.sum(calls.c.duration).label("total_duration"),
        sa.func.sum(calls.c.talk_duration).label("total_talk"),
        sa.func.sum(sa.case((answered, calls.c.talk_duration), else_=0)).label("answered_talk"),
        sa.func.sum(calls.c.wait_time).label("total_wait"),
        sa.func.max(calls.c.wait_time).label("max_wait"),
    ]
    if group_by == "agent":
        cols.append(sa.func.max(calls.c.agent_name).label("label"))
    stmt = matching(principal, r, conn.dialect.name, *cols).group_by(key)
    groups = []
    for row in conn.execute(stmt):
        item = dict(row._mapping)
        if group_by == "day":
            item["key"] = (EPOCH_DAY + timedelta(days=int(item["key"]))).isoformat()
        elif group_by == "hour":
            item["key"] = f"{int(item['key']):02d}"
        groups.append(item)
    groups.sort(key=lambda g: (g["key"] is None, g["key"] or ""))
    return groups


def totals_of(groups: list[dict]) -> dict:
    """The groups' raw aggregates added up (max for the longest wait)."""
    keys = ("calls", "answered", "total_duration", "total_talk", "answered_talk", "total_wait")
    total = {k: sum(int(g[k] or 0) for g in groups) for k in keys}
    total["max_wait"] = max((g["max_wait"] or 0 for g in groups), default=0)
    return total


# --- ingest -------------------------------------------------------------------------------------

UPSERT_CHUNK = 1000


def upsert(conn: Connection, account_id: str, rows: list[dict], *, only_changed: bool = False) -> tuple[int, int]:
    """Insert or replace calls by callId, in order; returns (inserted, updated) as applied.

    only_changed (PBX imports): a stored call equal to its new row is left as it is and counted in
    neither number, so importing the same file again changes nothing (§11).
    """
    last: dict[str, dict] = {}
    for row in rows:
        last[row["call_id"]] = row
    params = [tuple(_param(row[f], f in JSON_FIELDS) for f in UPSERT_FIELDS) for row in last.values()]
    inserted, updated = upsert_params(conn, account_id, params, only_changed=only_changed)
    return (inserted, updated) if only_changed else (inserted, len(rows) - inserted)


def upsert_params(
    conn: Connection, account_id: str, params: list[tuple], *, only_changed: bool = False
) -> tuple[int, int]:
    """upsert() of ready parameter tuples, in UPSERT_FIELDS order with JSON as text; (inserted, updated).

    A callId given twice is written once, with its last tuple (updated counts distinct calls).
    """
    last = {p[CALL_ID_AT]: p for p in params}
    if len(last) < len(params):
        params = list(last.values())
    # One INSERT ... ON CONFLICT for new and existing alike (a concurrent batch may insert the
    # same callId first; the later one wins), at the driver: SQLAlchemy's per-row parameter
    # processing cost more than SQLite's own work (~300 ms per 10,000 rows).
    if conn.dialect.name == "postgresql":
        inserted, applied = _upsert_returning(conn, params, only_changed)
    else:
        inserted = len(last) - _count_existing(conn, account_id, list(last))
        applied = conn.exec_driver_sql(_upsert_sql("sqlite", only_changed), params).rowcount
    return inserted, applied - inserted


def _count_existing(conn: Connection, account_id: str, ids: list[str]) -> int:
    found = 0
    for i in range(0, len(ids), UPSERT_CHUNK):
        chunk = ids[i : i + UPSERT_CHUNK]
        stmt = sa.select(sa.func.count()).where(calls.c.account_id == account_id, calls.c.call_id.in_(chunk))
        found += conn.execute(stmt).scalar_one()
    return found


def _upsert_returning(conn: Connection, params: list[tuple], only_changed: bool) -> tuple[int, int]:
    """Pipelined upserts that say which rows were new (xmax = 0), so no lookup runs first.

    A lookup of 10,000 callIds seq-scanned the table while its statistics lagged a bulk load
    (~1 s per batch at 200,000 calls); the upsert itself always uses the unique index.
    """
    cursor = conn.connection.driver_connection.cursor()  # psycopg's, in this transaction
    try:
        cursor.executemany(_upsert_sql("postgresql", only_changed) + " RETURNING (xmax = 0)", params, returning=True)
        inserted = applied = 0
        while True:
            row = cursor.fetchone()  # None: an unchanged row the WHERE left alone
            if row is not None:
                inserted += bool(row[0])
                applied += 1
            if not cursor.nextset():
                return inserted, applied
    finally:
        cursor.close()


UPSERT_FIELDS = [c.name for c in calls.columns if c.name != "id"]
CALL_ID_AT = UPSERT_FIELDS.index("call_id")
JSON_FIELDS = {"call_analysis", "events"}


def _param(value: Any, is_json: bool) -> Any:
    return orjson.dumps(value).decode() if is_json else value


@lru_cache(maxsize=4)
def _upsert_sql(dialect: str, only_changed: bool = False) -> str:
    """INSERT ... ON CONFLICT (account_id, call_id) DO UPDATE in the driver's parameter style."""
    pg = dialect == "postgresql"
    marks = [("CAST(%s AS jsonb)" if f in JSON_FIELDS else "%s") if pg else "?" for f in UPSERT_FIELDS]
    updates = ", ".join(f"{f} = excluded.{f}" for f in UPSERT_FIELDS if f not in ("account_id", "call_id"))
    sql = (
        f"INSERT INTO calls ({', '.join(UPSERT_FIELDS)}) VALUES ({', '.join(marks)}) "
        f"ON CONFLICT (account_id, call_id) DO UPDATE SET {updates}"
    )
    if only_changed:
        kept = [f for f in UPSERT_FIELDS if f not in ("account_id", "call_id", "updated_at")]
        distinct = "IS DISTINCT FROM" if pg else "IS NOT"  # null-safe row comparison on each database
        sql += (
            f" WHERE ({', '.join(f'calls.{f}' for f in kept)}) {distinct} ({', '.join(f'excluded.{f}' for f in kept)})"
        )
    return sql
