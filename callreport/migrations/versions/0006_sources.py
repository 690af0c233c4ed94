"""PBX sources (§11): push credentials, the legs they sent, and --follow positions.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("account_id", sa.String(24), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("include_internal", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("username"),
    )
    op.create_index("ix_sources_account_id", "sources", ["account_id"])
    op.create_table(
        "source_legs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(24), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("call_key", sa.String(255), nullable=False),
        sa.Column("leg_id", sa.String(255), nullable=False),
        sa.Column("document", JsonDoc, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("source_id", "leg_id", name="uq_source_legs_leg"),
    )
    op.create_index("ix_source_legs_call", "source_legs", ["source_id", "call_key"])
    op.create_table(
        "follow_positions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.String(24), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False),
        sa.Column("inode", sa.BigInteger, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("fingerprint_size", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", "path", name="uq_follow_positions_path"),
    )


def downgrade() -> None:
    op.drop_table("follow_positions")
    op.drop_table("source_legs")
    op.drop_index("ix_sources_account_id", table_name="sources")
    op.drop_table("sources")
