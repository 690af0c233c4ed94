"""The initial schema: accounts, users, credentials, login failures, calls, export requests.

Frozen as explicit operations: the schema as it was at this revision, whatever models.py
says today (a test compares models.py with the head of the migrations).

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BinaryText = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.String(24)
Epoch = sa.BigInteger


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("created_at", Epoch, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True),
        sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("username", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("permissions", sa.String(200), nullable=False, server_default=""),
        sa.Column("agents", JsonDoc, nullable=True),
        sa.Column("created_at", Epoch, nullable=False),
    )
    op.create_index("ix_users_account_id", "users", ["account_id"])
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("expires_at", Epoch, nullable=True),
        sa.Column("revoked_at", Epoch, nullable=True),
    )
    op.create_index("ix_credentials_user_kind", "credentials", ["user_id", "kind"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("at", Epoch, nullable=False),
    )
    op.create_index("ix_login_failures_username_at", "login_failures", ["username", "at"])
    _calls()
    _export_requests()
    if op.get_bind().dialect.name == "postgresql":
        # containment (@>) answers callAnalysis `eq` conditions from this index
        op.execute("CREATE INDEX IF NOT EXISTS ix_calls_analysis ON calls USING gin (call_analysis jsonb_path_ops)")


def _calls() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("call_id", BinaryText, nullable=False),
        sa.Column("start_ts", Epoch, nullable=False),
        sa.Column("end_ts", Epoch, nullable=False),
        sa.Column("duration", sa.Integer, nullable=False),
        sa.Column("talk_duration", sa.Integer, nullable=False),
        sa.Column("hold_duration", sa.Integer, nullable=False),
        sa.Column("wait_time", sa.Integer, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("call_type", BinaryText, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("caller_number", sa.String(32), nullable=False),
        sa.Column("customer_number", BinaryText, nullable=False),
        sa.Column("customer_rev", BinaryText, nullable=False),
        sa.Column("did_number", BinaryText, nullable=False),
        sa.Column("agent_id", BinaryText, nullable=True),
        sa.Column("agent_name", BinaryText, nullable=True),
        sa.Column("campaign", BinaryText, nullable=True),
        sa.Column("department", BinaryText, nullable=True),
        sa.Column("disposition", BinaryText, nullable=True),
        sa.Column("hangup_by", sa.String(16), nullable=True),
        sa.Column("recording_url", sa.Text, nullable=True),
        sa.Column("call_analysis", JsonDoc, nullable=False),
        sa.Column("events", JsonDoc, nullable=False),
        sa.Column("updated_at", Epoch, nullable=False),
        sa.UniqueConstraint("account_id", "call_id", name="uq_calls_account_call"),
    )
    for name, cols in (
        ("ix_calls_account_start", ["account_id", "start_ts", "call_id"]),
        ("ix_calls_account_agent_start", ["account_id", "agent_id", "start_ts"]),
        ("ix_calls_account_customer_rev", ["account_id", "customer_rev"]),
        ("ix_calls_account_end", ["account_id", "end_ts", "call_id"]),
        ("ix_calls_account_duration", ["account_id", "duration", "call_id"]),
    ):
        op.create_index(name, "calls", cols)


def _export_requests() -> None:
    op.create_table(
        "export_requests",
        sa.Column("id", Id, primary_key=True),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("created_by", Id, nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("title_set", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("params", JsonDoc, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("row_count", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("file_size", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("storage_key", sa.String(200), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", sa.Float, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", Epoch, nullable=False),
        sa.Column("started_at", Epoch, nullable=True),
        sa.Column("finished_at", Epoch, nullable=True),
        sa.Column("expires_at", Epoch, nullable=True),
    )
    op.create_index("ix_exports_account_created", "export_requests", ["account_id", "created_at"])
    op.create_index("ix_exports_state_lease", "export_requests", ["state", "lease_expires_at"])
    op.create_index("ix_exports_idem", "export_requests", ["account_id", "created_by", "idempotency_key"])


def downgrade() -> None:
    for table in ("export_requests", "calls", "login_failures", "credentials", "users", "accounts"):
        op.drop_table(table)
