"""Both backends for every test that asks for `engine`: a fresh SQLite file and a fresh
PostgreSQL database per test session, each built through the Alembic migrations.
Tests isolate themselves by making their own accounts: nothing crosses accounts."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import db
from callreport.app import create_app
from callreport.settings import Settings
from tests.factories import REQUIRE_PG, Tenant, fresh_pg_database, make_tenant, pg_available

pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.procs", "tests.fixtures.exports"]

BACKENDS = ["sqlite", "postgresql"]
# Every Settings() the suite makes: thousands of requests come from one TestClient address.
# tests/test_limits.py passes its own limit.
os.environ.setdefault("CALLREPORT_RATE_LIMIT_PER_MINUTE", str(10**9))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    why = pg_available()
    if why:
        if REQUIRE_PG:
            pytest.fail(why + "; CI requires it (CALLREPORT_REQUIRE_POSTGRES=1)")
        pytest.skip(why + ": the PostgreSQL half of the suite is skipped")
    with fresh_pg_database("callreport_test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite file for this test session."""
    return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'callreport.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind under test."""
    return request.param


@pytest.fixture(scope="session")
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The URL of the session's database of the current backend."""
    return request.getfixturevalue("pg_url" if backend == "postgresql" else "sqlite_url")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    """A migrated engine on the current backend."""
    eng = db.make_engine(database_url)
    db.migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def tenant(engine: sa.Engine) -> Tenant:
    """A fresh account with an all-permissions user."""
    return make_tenant(engine)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for in-process apps: no embedded worker unless a test starts one; no practical rate
    limit (the suite makes thousands of requests from one address; tests/test_limits.py sets one)."""
    return Settings(data_dir=tmp_path_factory.mktemp("data"), embedded_worker=False, rate_limit_per_minute=10**9)


@pytest.fixture(scope="session")
def local_storage(tmp_path_factory: pytest.TempPathFactory):
    """A local-folder storage for the session."""
    from callreport.storage import from_url

    return from_url((tmp_path_factory.mktemp("exports")).as_uri())


@pytest.fixture(scope="session")
def client(engine: sa.Engine, settings: Settings, local_storage) -> Iterator[TestClient]:
    """The app on the current backend, over an in-process HTTP client."""
    app = create_app(settings, engine=engine, storage=local_storage)
    with TestClient(app) as c:
        yield c
