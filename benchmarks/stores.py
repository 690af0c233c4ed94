"""The databases a benchmark runs against: fresh ones (dropped afterwards) or kept ones, and their tenants."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import sqlalchemy as sa
from common import CLI

from callreport import db
from callreport.models import calls
from callreport.settings import Settings

PG_ADMIN_URL = os.environ.get("CALLREPORT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PERMISSIONS = ("LIST_CALL_LOG", "VIEW_NUMBER", "INGEST_CALL_LOG", "ADMIN")


@dataclass
class Store:
    """One database (and data folder) the benchmark runs against, with the env that selects it."""

    backend: str  # sqlite | postgresql
    data_dir: Path
    database_url: str | None = None
    owned_db: str | None = None  # a PostgreSQL database this script created and must drop

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a callreport process using this store."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CALLREPORT_")}
        env.update(CALLREPORT_DATA_DIR=str(self.data_dir), CALLREPORT_LOG_LEVEL="WARNING")
        # One benchmark client is one user at one address: the rate limit is not what is measured.
        env["CALLREPORT_RATE_LIMIT_PER_MINUTE"] = "0"
        if self.database_url:
            env["CALLREPORT_DATABASE_URL"] = self.database_url
        return {**env, **extra}


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def open_store(backend: str, data_dir: str | None = None, database_url: str | None = None) -> Iterator[Store]:
    """A store: the given folder / PostgreSQL database (kept), or fresh ones removed at the end."""
    folder = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix=f"crbench-{backend}-"))
    store = Store(backend, folder, database_url if backend == "postgresql" else None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if backend == "postgresql" and not database_url:
            name = f"callreport_bench_{secrets.token_hex(4)}"
            _pg_admin(f'CREATE DATABASE "{name}"')
            store.owned_db, store.database_url = name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        yield store
    finally:
        if store.owned_db:
            _pg_admin(f'DROP DATABASE IF EXISTS "{store.owned_db}" WITH (FORCE)')
        if not data_dir:
            shutil.rmtree(folder, ignore_errors=True)


def cli(store: Store, *args: str, timeout: float = 120) -> dict:
    """Run a `callreport ... --json` command against the store; its JSON output."""
    out = subprocess.run([CLI, *args, "--json"], env=store.env(), capture_output=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"callreport {args[0]} failed: {out.stdout[-500:]!r} {out.stderr[-2000:]!r}")
    return orjson.loads(out.stdout.splitlines()[-1])


@dataclass
class Tenant:
    """An account and a user with every permission, holding a long-lived token."""

    account_id: str
    user_id: str
    token: str

    @property
    def creds(self) -> dict[str, str]:
        """The credential fields of a request body."""
        return {"userId": self.user_id, "token": self.token}


def make_tenant(store: Store, account_id: str | None = None, timezone: str = "Asia/Kolkata") -> Tenant:
    """A user with every permission (in a new account unless one is given), through the CLI."""
    if account_id is None:
        account_id = cli(store, "account", "create", "Bench Call Centre", "--timezone", timezone)["accountId"]
    perms = [arg for p in PERMISSIONS for arg in ("--permission", p)]
    user_args = ["--account", account_id, "--username", f"bench-{secrets.token_hex(4)}"]
    user = cli(store, "user", "create", *user_args, "--password", secrets.token_urlsafe(16), *perms)["userId"]
    return Tenant(account_id, user, cli(store, "token", "create", "--user", user)["token"])


def engine_of(store: Store) -> sa.Engine:
    """An engine on the store, migrated (a fresh store has no tables yet)."""
    settings = Settings(data_dir=store.data_dir, database_url=store.database_url)
    engine = db.make_engine(settings.resolved_database_url(), pool_size=2)
    db.migrate(engine)
    return engine


def busiest_account(store: Store) -> tuple[str | None, int]:
    """The account with the most calls and how many it has ((None, 0) when there are none)."""
    stmt = sa.select(calls.c.account_id, sa.func.count()).group_by(calls.c.account_id)
    engine = engine_of(store)
    try:
        with engine.connect() as conn:
            best = max(conn.execute(stmt).all(), key=lambda r: r[1], default=None)
    finally:
        engine.dispose()
    return (best[0], best[1]) if best else (None, 0)


def analyze(store: Store) -> float:
    """Run ANALYZE (fresh planner statistics) on the store's database; the seconds it took."""
    engine = engine_of(store)
    try:
        t0 = time.perf_counter()
        with engine.begin() as conn:  # a transaction that commits (db.py begins one even in AUTOCOMMIT)
            conn.exec_driver_sql("ANALYZE")
        return time.perf_counter() - t0
    finally:
        engine.dispose()


def database_size(store: Store) -> tuple[int, int]:
    """Bytes the database takes on disk: (database, SQLite's write-ahead log or 0)."""
    if store.backend == "sqlite":
        wal = store.data_dir / "callreport.db-wal"
        return (store.data_dir / "callreport.db").stat().st_size, wal.stat().st_size if wal.exists() else 0
    import psycopg

    with psycopg.connect(store.database_url, connect_timeout=5) as conn:
        return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0], 0
