"""Storing what the PBX readers made: rows straight from their records, upserted in batches, counted per call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy.engine import Connection, Engine

from callreport import db
from callreport.ingest import NON_DIGITS, TIME_ARGS, call_row
from callreport.record import FIELDS
from callreport.repo import accounts as accounts_repo
from callreport.repo import calls as queries
from callreport.sources.legs import Outcome

BATCH = 5000  # calls per upsert (and per transaction without --strict)
MAX_ERRORS = 1000  # errors listed in a summary; `rejected` counts them all (memory stays flat)


@dataclass
class Summary:
    """What an import did: counts of calls (not rows) and the first MAX_ERRORS problems."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    def reject(self, where: int | str, reason: str) -> None:
        """Count a bad row (line number) or document (file name)."""
        self.rejected += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"file" if isinstance(where, str) else "line": where, "reason": reason})

    def as_dict(self) -> dict:
        """The §11 summary: exactly these keys."""
        return {k: getattr(self, k) for k in ("inserted", "updated", "skipped", "rejected", "errors")}


def record_row(account_id: str, record: dict, now: int, stored: tuple[int, int, list[dict]] | None = None) -> dict:
    """The calls-table row of a reader's record; `stored` (merge's epoch times and events) spares parsing ISO text."""
    if stored is None:
        events = [{**ev, "time": _epoch(ev["time"])} for ev in record["events"]]
        return call_row(account_id, record, _epoch(record["startTime"]), _epoch(record["endTime"]), events, now)
    return call_row(account_id, record, stored[0], stored[1], stored[2], now)


def record_params(account_id: str, record: dict, now: int, stored: tuple[int, int, list[dict]] | None = None) -> tuple:
    """record_row's values as the upsert's parameters (queries.upsert_params), with no row dict between."""
    if stored is None:
        events = [{**ev, "time": _epoch(ev["time"])} for ev in record["events"]]
        return _make_params(account_id, record, _epoch(record["startTime"]), _epoch(record["endTime"]), events, now)
    return _make_params(account_id, record, stored[0], stored[1], stored[2], now)


def _params_maker() -> Callable[..., tuple]:
    """A generated function: one tuple display in queries.UPSERT_FIELDS order, each column by ingest's
    row rules (test_fast_paths holds the two equal); a record dict to a row dict to a tuple cost
    ~1.1 CPU-s per 62,534 calls, this ~0.4."""
    by_column = {f.column: f for f in FIELDS}
    extra = {
        "account_id": "a",
        "events": "_json(events)",
        "updated_at": "now",
        "customer_rev": '_digits("", r["customerNumber"] or "")[::-1]',
    }
    items = []
    for column in queries.UPSERT_FIELDS:
        f = by_column.get(column)
        if column in extra:
            items.append(extra[column])
        elif f.kind == "time":
            items.append(TIME_ARGS[f.name])
        elif f.kind == "phone" and not f.nullable:  # a PBX may not know a number (§11): "" (NOT NULL)
            items.append(f'r["{f.name}"] or ""')
        elif column in queries.JSON_FIELDS:
            items.append(f'_json(r["{f.name}"])')
        else:
            items.append(f'r["{f.name}"]')
    code = f"lambda a, r, start, end, events, now: ({', '.join(items)},)"
    names = {"_digits": NON_DIGITS.sub, "_json": lambda v: orjson.dumps(v).decode()}
    return eval(code, names)  # noqa: S307 - built from record.py's and the table's own names


_make_params = _params_maker()
_EPOCHS: dict[str, int] = {}


def _epoch(text: str) -> int:
    # Legs of a call and neighbouring calls share seconds: parse each distinct text once.
    value = _EPOCHS.get(text)
    if value is None:
        if len(_EPOCHS) > 8192:
            _EPOCHS.clear()
        value = _EPOCHS[text] = int(datetime.fromisoformat(text).timestamp())
    return value


def check_accounts(engine: Engine, ids: Iterable[str]) -> str | None:
    """The first of these account ids that does not exist, or None."""
    wanted = set(ids)
    with engine.connect() as conn:
        missing = sorted(accounts_repo.missing_accounts(conn, wanted))
    return missing[0] if missing else None


def account_timezone(engine: Engine, account_id: str) -> str | None:
    """The account's timezone, or None when there is no such account."""
    with engine.connect() as conn:
        return accounts_repo.account_timezone(conn, account_id)


class Loader:
    """Upserts records in batches per account; with strict, one transaction that is rolled back on any error.

    on_commit(conn) runs inside each batch's transaction (the follower saves its position there).
    """

    def __init__(self, engine: Engine, account_id: str, *, strict: bool = False, batch: int = BATCH) -> None:
        self.engine, self.account_id, self.strict, self.size = engine, account_id, strict, batch
        self.summary = Summary()
        self.pending: dict[str, list[tuple]] = {}
        self.count = 0
        self._stack = ExitStack()
        self._conn: Connection | None = None

    def __enter__(self) -> Loader:
        if self.strict:
            self._conn = self._stack.enter_context(db.writing(self.engine))
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None and self.strict and self.summary.rejected:
            self._conn.rollback()  # --strict: nothing is stored when any row is bad
        self._stack.__exit__(kind, exc, tb)

    def add(self, outcome: Outcome, now: int | None = None) -> None:
        """Take one reader outcome: a call to store, a skipped call, or a rejected row."""
        if outcome.error is not None:
            self.summary.reject(outcome.where, outcome.error)
            return
        if outcome.record is None:
            self.summary.skipped += 1
            return
        if self.strict and self.summary.rejected:
            return  # nothing will be stored: do not spend time writing it
        account = outcome.account or self.account_id
        params = record_params(account, outcome.record, now or int(time.time()), outcome.stored)
        self.pending.setdefault(account, []).append(params)
        self.count += 1
        if self.count >= self.size:
            self.flush()

    def flush(self, on_commit: Callable[[Connection], None] | None = None) -> None:
        """Write the pending calls (and run on_commit in the same transaction)."""
        pending, self.pending, self.count = self.pending, {}, 0
        if self.strict:
            self._write(self._conn, pending, on_commit)
            return
        with db.writing(self.engine) as conn:
            self._write(conn, pending, on_commit)

    def _write(self, conn: Connection, pending: dict[str, list[tuple]], on_commit) -> None:
        at = queries.CALL_ID_AT
        for account, params in pending.items():
            total = len({p[at] for p in params})
            ins, upd = queries.upsert_params(conn, account, params, only_changed=True)
            self.summary.inserted += ins
            self.summary.updated += upd
            self.summary.skipped += total - ins - upd  # already stored, unchanged
        if on_commit is not None:
            on_commit(conn)


def load(engine: Engine, account_id: str, outcomes: Iterable[Outcome], *, strict: bool = False, tick=None) -> Summary:
    """Store every outcome; tick(outcome) after each (progress). Returns the summary."""
    with Loader(engine, account_id, strict=strict) as loader:
        for outcome in outcomes:
            loader.add(outcome)
            if tick is not None:
                tick(outcome)
        loader.flush()
    if loader.summary.inserted >= 10_000:
        db.analyze(engine)  # as after an ingest: a bulk load leaves the planner's statistics behind
    return loader.summary
