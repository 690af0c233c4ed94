"""Engines and migrations: SQLite pragmas, PostgreSQL pooling, Alembic upgrade."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine


def _casefold_contains(haystack: object, needle: object) -> int | None:
    """SQLite helper: case-insensitive substring with Unicode lower-casing (as PostgreSQL ICU lower())."""
    if not isinstance(haystack, str) or not isinstance(needle, str):
        return None
    return int(needle.lower() in haystack.lower())


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine for SQLite (WAL, busy timeout, Unicode helpers) or PostgreSQL (pre-ping pool)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, pool_size)
    return sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        pool_size=pool_size,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
    )


def _sqlite_engine(url: str, pool_size: int) -> Engine:
    """A SQLite engine whose connections get the pragmas and helpers, and whose transactions begin as asked."""
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"check_same_thread": False, "timeout": 30},
        # SQLite answers from one file on this machine's cores: more connections add page
        # caches, not throughput (a 32-client load peaked at 493 MB with 30, 374 MB with 16).
        pool_size=min(pool_size, 8),
        max_overflow=8,
        # No pre-ping: a local file cannot drop the connection, and a ping per checkout
        # is a measurable share of a 2 ms request.
    )
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    """Set a new SQLite connection's pragmas and register the Unicode helper."""
    # Let SQLAlchemy, not pysqlite, decide when transactions begin.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # 2 MiB of page cache per connection (the OS caches the file too), and no memory map:
    # mapped pages count in the process's memory (a 300,000-call export peaked at 331 MB
    # with a map, 83 MB without), and under a 32-client load 8 MiB caches made the
    # server grow 17% after warm-up against 13% (peak 373 MB against 244 MB).
    cur.execute("PRAGMA cache_size=-2048")
    cur.execute("PRAGMA temp_store=MEMORY")
    # After a checkpoint, cut the write-ahead log back to 64 MiB: a 1M-call ingest grew it to 2.3 GB.
    cur.execute("PRAGMA journal_size_limit=67108864")
    cur.close()
    dbapi_conn.create_function("cr_contains", 2, _casefold_contains, deterministic=True)


def _on_sqlite_begin(conn: sa.Connection) -> None:
    """Begin DEFERRED, or IMMEDIATE when the connection's execution options ask for it."""
    # IMMEDIATE would serialise readers too; DEFERRED plus busy_timeout suffices because
    # writers take the lock on their first write.
    immediate = conn.get_execution_options().get("immediate")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[sa.Connection]:
    """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE), so a
    transaction that reads first cannot fail to upgrade its lock when another writer got in."""
    with engine.connect().execution_options(immediate=True) as conn, conn.begin():
        yield conn


def analyze(engine: Engine) -> None:
    """Refresh the planner's statistics after a bulk load (without them it picks bad indexes).

    On PostgreSQL VACUUM also sets the visibility map, without which the covering index
    cannot answer alone: a month's count over 1,000,000 calls took 101 ms before, 8.6 after.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) calls")
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE calls")
        conn.commit()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def ping(engine: Engine) -> None:
    """Run a trivial statement: raises when the database cannot be reached."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def is_postgres(engine: Engine | sa.Connection) -> bool:
    """Whether the engine (or connection) talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    # Alembic's INFO lines (plugins, "context impl") say nothing an operator needs at every start.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    here = Path(__file__).parent
    cfg = Config()
    cfg.set_main_option("script_location", str(here / "migrations"))
    cfg.attributes["engine"] = engine
    command.upgrade(cfg, "head")


# SQLite calls the deadline check every this many virtual-machine steps: about every 0.1 ms,
# so the check costs little and a query stops within a millisecond of its deadline.
PROGRESS_STEPS = 10_000
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement that statement_timeout stopped


@contextmanager
def time_budget(conn: sa.Connection, seconds: float) -> Iterator[sa.Connection]:
    """Run the block's queries for at most `seconds`; past it, errors.QueryTooSlow (1000).

    The timeout is caught here, not left to the request's error mapping, which would call
    PostgreSQL's QueryCanceled (an OperationalError) "database unavailable" (1010).
    """
    from callreport.errors import QueryTooSlow

    pg = is_postgres(conn)
    try:
        with _pg_timeout(conn, seconds) if pg else _sqlite_deadline(conn, seconds):
            yield conn
    except sa.exc.OperationalError as exc:
        if not _ran_out(exc, pg):
            raise
        conn.rollback()  # the aborted transaction must not reach the next statement or request
        raise QueryTooSlow(seconds) from None


@contextmanager
def _pg_timeout(conn: sa.Connection, seconds: float) -> Iterator[None]:
    # SET LOCAL lasts until the transaction ends; 0 would mean no limit, so at least 1 ms.
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
    yield
    conn.exec_driver_sql("SET LOCAL statement_timeout TO DEFAULT")


@contextmanager
def _sqlite_deadline(conn: sa.Connection, seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    raw = conn.connection.driver_connection
    # A true answer makes SQLite stop the statement with "interrupted".
    raw.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _ran_out(exc: sa.exc.OperationalError, pg: bool) -> bool:
    if pg:
        return getattr(exc.orig, "sqlstate", None) == QUERY_CANCELED
    return "interrupted" in str(exc.orig).lower()


SQLITE_UNREACHABLE = ("unable to open", "disk i/o error", "readonly database", "database disk image")


def is_db_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        text = str(exc.orig).lower() if getattr(exc, "orig", None) else str(exc).lower()
        if type(getattr(exc, "orig", None)).__module__.startswith("sqlite3"):
            # On SQLite only a file that cannot be opened or read is "cannot reach the database";
            # "locked" is contention and SQL or JSON-path errors are bugs (1009).
            return any(s in text for s in SQLITE_UNREACHABLE)
        return True
    return isinstance(exc, sa.exc.TimeoutError)
