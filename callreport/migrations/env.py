"""Alembic environment: runs on the engine handed in by callreport.db.migrate."""

from alembic import context

from callreport.models import include_for, metadata

# Any constant: it names the lock that makes concurrent `serve`/`worker` starts migrate one by one.
MIGRATION_LOCK = 0x63616C6C

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        include_object=include_for(connection.dialect.name),
        compare_server_default=True,
    )
    context.run_migrations()
