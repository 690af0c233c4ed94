"""The queue a call went through (queueName, §5): a nullable column, empty for the calls before it.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# models.BinaryText as it is today, written out: a migration never imports the models it predates.
BinaryText = sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.add_column("calls", sa.Column("queue_name", BinaryText, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("queue_name")
