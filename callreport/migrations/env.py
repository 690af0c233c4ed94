"""Alembic environment: runs on the engine handed in by callreport.db.migrate."""

from alembic import context

from callreport.models import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
