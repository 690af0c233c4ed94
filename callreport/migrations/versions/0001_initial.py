"""The initial schema: accounts, users, credentials, login failures, calls, export requests.

Revision ID: 0001
"""

from alembic import op

from callreport.models import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind)
    if bind.dialect.name == "postgresql":
        # containment (@>) answers callAnalysis `eq` conditions from this index
        op.execute("CREATE INDEX IF NOT EXISTS ix_calls_analysis ON calls USING gin (call_analysis jsonb_path_ops)")


def downgrade() -> None:
    metadata.drop_all(op.get_bind())
