"""The schema comes from the migrations, and concurrent starts on PostgreSQL migrate one by one."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from callreport import db
from tests.factories import fresh_pg_database


def test_schema_is_at_head_with_its_indexes(engine: sa.Engine) -> None:
    insp = sa.inspect(engine)
    indexes = {i["name"] for i in insp.get_indexes("calls")}
    assert {"ix_calls_account_start", "ix_calls_account_agent_start", "ix_calls_account_customer_rev"} <= indexes
    assert "ix_calls_account_duration" not in indexes  # dropped by 0002: it misled SQLite's planner
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0007"
    start = next(i for i in insp.get_indexes("calls") if i["name"] == "ix_calls_account_start")
    carried = set(start["column_names"]) | set(
        start.get("include_columns") or start["dialect_options"].get("postgresql_include", [])
    )
    assert {"account_id", "start_ts", "call_id", "status", "agent_id", "duration", "wait_time"} <= carried
    db.migrate(engine)  # again: a no-op


@pytest.mark.slow  # migrating processes at once: ~3.7 s
def test_concurrent_migrations_on_a_fresh_postgres_database() -> None:
    with fresh_pg_database("callreport_mig") as url:
        code = "import sys; from callreport import db; db.migrate(db.make_engine(sys.argv[1]))"
        # Processes, as real concurrent starts are (Alembic's context is process-global).
        procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE) for _ in range(4)]
        failures = [p.stderr.read().decode() for p in procs if p.wait(120) != 0]
        assert failures == []
        eng = db.make_engine(url)
        assert "calls" in sa.inspect(eng).get_table_names()
        eng.dispose()


def test_analyze_leaves_statistics(engine: sa.Engine, tenant) -> None:
    """After a bulk load the planner has statistics (and PostgreSQL a vacuumed table)."""
    from callreport.demo import generate_calls
    from callreport.loading import load_records

    load_records(engine, tenant.account_id, generate_calls(50, seed=9), 50, "calls")
    db.analyze(engine)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            row = conn.execute(
                sa.text("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = 'calls'")
            ).one()
            assert row.last_vacuum is not None and row.last_analyze is not None
        else:
            assert conn.execute(sa.text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'calls'")).scalar() > 0


def test_models_match_the_migrations(engine: sa.Engine) -> None:
    """Alembic's autogenerate comparison (what `alembic check` runs) finds nothing between
    models.py and the database the migrations built, so the two can never drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callreport.models import include_for, metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": include_for(conn.dialect.name),
            },
        )
        assert compare_metadata(ctx, metadata) == []


def test_the_drift_check_sees_a_column_models_lack(engine: sa.Engine) -> None:
    """The comparison is not blind: a column added behind the models' back is reported."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from callreport.models import include_for, metadata

    with engine.connect() as conn, conn.begin() as tx:
        conn.exec_driver_sql("ALTER TABLE accounts ADD COLUMN drift_probe INTEGER")
        ctx = MigrationContext.configure(conn, opts={"include_object": include_for(conn.dialect.name)})
        diffs = compare_metadata(ctx, metadata)
        tx.rollback()
    assert [d[0] for d in diffs] == ["remove_column"] and diffs[0][3].name == "drift_probe"
