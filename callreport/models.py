"""The tables: accounts, users, credentials, calls, export requests, login failures, PBX sources.

Times are stored as integer UTC epoch seconds: the contract keeps times to the second,
and integers compare, index and page the same way on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

# Strings sort by code point on both databases: SQLite's default BINARY collation does,
# and on PostgreSQL the "C" collation compares UTF-8 bytes, which is code point order.
BinaryText = sa.String().with_variant(sa.String(collation="C"), "postgresql")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# None is stored as SQL NULL, never as the JSON value null (which a test `IS NULL` would miss).
NullableJson = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
Id = sa.String(24)
Epoch = sa.BigInteger

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("created_at", Epoch, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("username", sa.String(200), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("permissions", sa.String(200), nullable=False, server_default=sa.text("''")),
    sa.Column("agents", JsonDoc, nullable=True),
    sa.Column("created_at", Epoch, nullable=False),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", Id, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # "session" | "token"
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("expires_at", Epoch, nullable=True),
    sa.Column("revoked_at", Epoch, nullable=True),
    sa.Index("ix_credentials_user_kind", "user_id", "kind"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(200), nullable=False),
    sa.Column("at", Epoch, nullable=False),
    sa.Index("ix_login_failures_username_at", "username", "at"),
)

calls = sa.Table(
    "calls",
    metadata,
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
    # The customer number's digits reversed: "ends with 3210" becomes the prefix "0123",
    # which a plain b-tree range scan answers on both databases.
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
    sa.Column("queue_name", BinaryText, nullable=True),  # migration 0007
    sa.UniqueConstraint("account_id", "call_id", name="uq_calls_account_call"),
    sa.Index("ix_calls_account_agent_start", "account_id", "agent_id", "start_ts"),
    sa.Index("ix_calls_account_customer_rev", "account_id", "customer_rev"),
    sa.Index("ix_calls_account_end", "account_id", "end_ts", "call_id"),
    # No index on duration: SQLite chose it for `minDuration` (which nearly every call meets)
    # over the start-time index, then sorted the whole account: 705 ms for a first page, 4.5 without.
)

# The start-time index carries what summaries and counts read, so they never touch the table
# (migration 0003): PostgreSQL as INCLUDE columns, SQLite (which has no INCLUDE) as key columns.
CARRIED = ("status", "agent_id", "duration", "talk_duration", "wait_time", "agent_name")
sa.Index(
    "ix_calls_account_start", calls.c.account_id, calls.c.start_ts, calls.c.call_id, postgresql_include=list(CARRIED)
).ddl_if(dialect="postgresql")
sa.Index(
    "ix_calls_account_start", calls.c.account_id, calls.c.start_ts, calls.c.call_id, *(calls.c[c] for c in CARRIED)
).ddl_if(dialect="sqlite")
# containment (@>) answers callAnalysis `eq` conditions from this index (migration 0001)
sa.Index(
    "ix_calls_analysis",
    calls.c.call_analysis,
    postgresql_using="gin",
    postgresql_ops={"call_analysis": "jsonb_path_ops"},
).ddl_if(dialect="postgresql")

export_requests = sa.Table(
    "export_requests",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("created_by", Id, nullable=False),
    sa.Column("format", sa.String(8), nullable=False),  # csv | xlsx | pdf
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("title_set", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("params", JsonDoc, nullable=False),  # resolved filters, sort, columns, timezone
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
    # Who may see another user's request (API.md §4), added by migration 0005: whether its file
    # masks numbers (false, the default, is the stricter reading), and the agents it may cover
    # (the creator's agents intersected with its agentIds filter; NULL is every agent).
    sa.Column("masked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("agent_scope", NullableJson, nullable=True),
    # When a worker last took the job (fractions of a second): claims go round the accounts.
    sa.Column("claimed_at", sa.Float, nullable=True),
    sa.Index("ix_exports_account_created", "account_id", "created_at"),
    sa.Index("ix_exports_state_lease", "state", "lease_expires_at"),
    sa.Index("ix_exports_idem", "account_id", "created_by", "idempotency_key"),
    sa.Index("ix_exports_account_state", "account_id", "state"),
    sa.Index("ix_exports_account_claimed", "account_id", "claimed_at"),
)

# Secrets shared by every process (the cursor-sealing key): made once, kept across restarts.
server_keys = sa.Table(
    "server_keys",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("secret", sa.String(128), nullable=False),  # hex
    sa.Column("created_at", Epoch, nullable=False),
)


# Push sources (§11): credentials a PBX posts CDRs with; only a SHA-256 of the high-entropy password is kept.
sources = sa.Table(
    "sources",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("account_id", Id, sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "freeswitch"
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("include_internal", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Epoch, nullable=False),
    sa.Column("revoked_at", Epoch, nullable=True),
)

# The legs a push source sent, so a call's A and B legs (posted one by one) become one record.
source_legs = sa.Table(
    "source_legs",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("source_id", Id, sa.ForeignKey("sources.id"), nullable=False),
    sa.Column("call_key", sa.String(255), nullable=False),
    sa.Column("leg_id", sa.String(255), nullable=False),
    sa.Column("document", JsonDoc, nullable=False),
    sa.Column("created_at", Epoch, nullable=False),
    sa.UniqueConstraint("source_id", "leg_id", name="uq_source_legs_leg"),
    sa.Index("ix_source_legs_call", "source_id", "call_key"),
)

# Where `import asterisk-csv --follow` stopped in a file: a restart resumes there, a rotated file starts over.
follow_positions = sa.Table(
    "follow_positions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", Id, nullable=False),
    sa.Column("path", sa.String(1000), nullable=False),
    sa.Column("inode", sa.BigInteger, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),  # SHA-256 of the file's first bytes
    sa.Column("fingerprint_size", sa.Integer, nullable=False),
    sa.Column("offset", sa.BigInteger, nullable=False),
    sa.Column("line", sa.BigInteger, nullable=False),  # lines before offset
    sa.Column("updated_at", Epoch, nullable=False),
    sa.UniqueConstraint("account_id", "path", name="uq_follow_positions_path"),
)


def include_for(dialect: str) -> Callable[..., bool]:
    """Alembic's include_object for a dialect: an index declared for another dialect (ddl_if) is left out."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        if type_ != "index" or reflected or not isinstance(obj, sa.Index) or obj._ddl_if is None:
            return True
        return obj._ddl_if.dialect in (None, dialect)

    return include
