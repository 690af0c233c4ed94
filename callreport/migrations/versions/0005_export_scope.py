"""Export scope: who may see another user's request (masked, agent_scope) and fair claiming (claimed_at).

Existing rows are filled from their `params`: `masked` as recorded, `agent_scope` the creator's
agents intersected with the request's agentIds filter (NULL when neither limited it).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NullableJson = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 500


def upgrade() -> None:
    op.add_column("export_requests", sa.Column("masked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("export_requests", sa.Column("agent_scope", NullableJson, nullable=True))
    op.add_column("export_requests", sa.Column("claimed_at", sa.Float, nullable=True))
    op.create_index("ix_exports_account_state", "export_requests", ["account_id", "state"])
    op.create_index("ix_exports_account_claimed", "export_requests", ["account_id", "claimed_at"])
    _backfill()


def agent_scope(params: dict) -> list[str] | None:
    """The agents a request may cover: its creator's, narrowed by its agentIds filter; None for all."""
    agents = params.get("agents")
    wanted = (params.get("filter") or {}).get("agentIds")
    if agents is None and wanted is None:
        return None
    if agents is None:
        return sorted(set(wanted))
    if wanted is None:
        return sorted(set(agents))
    return sorted(set(agents) & set(wanted))


def _backfill() -> None:
    rows = sa.table(
        "export_requests",
        sa.column("id", sa.String),
        sa.column("params", JsonDoc),
        sa.column("masked", sa.Boolean),
        sa.column("agent_scope", NullableJson),
        sa.column("claimed_at", sa.Float),
        sa.column("started_at", sa.BigInteger),
    )
    conn = op.get_bind()
    after = ""
    while True:
        batch = list(
            conn.execute(
                sa.select(rows.c.id, rows.c.params, rows.c.started_at)
                .where(rows.c.id > after)
                .order_by(rows.c.id)
                .limit(BATCH)
            )
        )
        if not batch:
            return
        for row in batch:
            params = row.params or {}
            conn.execute(
                rows.update()
                .where(rows.c.id == row.id)
                .values(
                    # A request that does not say it masked is taken as showing numbers: the stricter.
                    masked=bool(params.get("masked", False)),
                    agent_scope=agent_scope(params),
                    claimed_at=row.started_at,
                )
            )
        after = batch[-1].id


def downgrade() -> None:
    op.drop_index("ix_exports_account_claimed", "export_requests")
    op.drop_index("ix_exports_account_state", "export_requests")
    with op.batch_alter_table("export_requests") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("agent_scope")
        batch.drop_column("masked")
