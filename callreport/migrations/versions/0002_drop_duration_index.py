"""Drop the duration index: it misled SQLite's planner for minDuration filters.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_calls_account_duration")


def downgrade() -> None:
    op.create_index("ix_calls_account_duration", "calls", ["account_id", "duration", "call_id"])
