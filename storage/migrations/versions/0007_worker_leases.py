"""delivery workers with a heartbeat; outbox rows say which worker holds them; the
provider-id and broadcast indexes hold only the rows that have one

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

A row claimed by a worker that stopped beating (a killed process) is given back at once,
instead of waiting out its lease (Step 3: replies used to arrive ~120 s late after a
restart). Replies are written with no provider id and no broadcast: partial indexes keep
those two out of every reply's insert.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROVIDER = sa.text("provider_id IS NOT NULL")
BROADCAST = sa.text("broadcast_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "worker",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_worker_name", "worker", ["name"])
    op.add_column("outbox", sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.drop_index("ix_outbox_provider_id", table_name="outbox")
    op.drop_index("ix_outbox_broadcast_id", table_name="outbox")
    op.create_index("ix_outbox_provider_id", "outbox", ["provider_id"],
                    sqlite_where=PROVIDER, postgresql_where=PROVIDER)
    op.create_index("ix_outbox_broadcast_id", "outbox", ["broadcast_id"],
                    sqlite_where=BROADCAST, postgresql_where=BROADCAST)


def downgrade() -> None:
    op.drop_index("ix_outbox_broadcast_id", table_name="outbox")
    op.drop_index("ix_outbox_provider_id", table_name="outbox")
    op.create_index("ix_outbox_broadcast_id", "outbox", ["broadcast_id"])
    op.create_index("ix_outbox_provider_id", "outbox", ["provider_id"])
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("claimed_by")
    op.drop_index("ix_worker_name", table_name="worker")
    op.drop_table("worker")
