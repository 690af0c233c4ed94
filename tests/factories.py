"""Plain helpers the test modules share: tenants, the API call helper and private databases.

Fixtures live in tests/conftest.py and tests/fixtures/; test modules never import one another."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from callreport import auth, db
from callreport.app import create_app
from callreport.settings import Settings

PG_ADMIN_URL = os.environ.get("CALLREPORT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("CALLREPORT_REQUIRE_POSTGRES") == "1"


def pg_available() -> str | None:
    """None when the PostgreSQL server answers, else why not."""
    try:
        eng = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect():
            pass
        eng.dispose()
        return None
    except Exception as exc:  # report why, then skip or fail
        return f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({exc.__class__.__name__})"


@contextmanager
def fresh_pg_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database named prefix_<random>, dropped afterwards.

    Without a PostgreSQL server the test is skipped, or failed when CI requires PostgreSQL. The drop
    lets connections in again first (a test may have shut them out) and cuts any still open.
    """
    why = pg_available()
    if why:
        (pytest.fail if REQUIRE_PG else pytest.skip)(why)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def private_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the URL of a fresh database of that backend; resume the generator to drop it."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('private') / 'private.db'}"
        return
    with fresh_pg_database("callreport_private") as url:
        yield url


@dataclass
class Tenant:
    """An account with a user, as tests use them."""

    account_id: str
    user_id: str
    token: str
    username: str
    password: str

    @property
    def creds(self) -> dict:
        """The userId + token pair to put in a body."""
        return {"userId": self.user_id, "token": self.token}


def make_tenant(
    engine: sa.Engine, permissions=auth.PERMISSIONS, timezone: str = "UTC", agents=None, account_id: str | None = None
) -> Tenant:
    """A new account (or a new user in account_id) with a token."""
    password = secrets.token_hex(8)
    username = f"u_{secrets.token_hex(6)}"
    with db.writing(engine) as conn:
        if account_id is None:
            account_id = auth.create_account(conn, f"acct {username}", timezone)
        user_id = auth.create_user(conn, account_id, username, password, list(permissions), agents)
        token, _ = auth.issue(conn, user_id, "token", None)
    return Tenant(account_id, user_id, token, username, password)


def call(client: TestClient, name: str, body: dict | None = None, family: str = "callreport", **kw) -> dict:
    """POST a body to an endpoint and return the decoded JSON."""
    resp = client.post(f"/api/v2/{family}/{name}", json=body if body is not None else {}, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()


def project_root() -> Path:
    """The repository's root folder."""
    return Path(__file__).resolve().parent.parent


@contextmanager
def app_client(settings: Settings, engine, storage, **changes) -> Iterator[TestClient]:
    """An in-process app with these settings changed."""
    app = create_app(settings.model_copy(update=changes), engine=engine, storage=storage)
    with TestClient(app) as client:
        yield client


def scrape(client: TestClient, token: str | None = None) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain; version="), resp.headers
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0 when it is not there yet (a labelled counter appears on first use)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
