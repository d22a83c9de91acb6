"""a bounded outbox: a claim index over live rows only, pruning by age, broadcast tallies

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

The claim used `ix_outbox_due (status, channel, priority, next_attempt_at)` and still sorted
every row of the channel by (priority, id); the new partial index holds only queued and
sending rows, in claim order, so its size follows the live queue, not the history.
`ix_outbox_created` lets the pruner find old rows without a scan. Pruned broadcast rows leave
their per-status counts on the broadcast (`pruned`, `pruned_reached`) for the reports.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status IN ('queued', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_claim", ["channel", "priority", "id"],
                              sqlite_where=LIVE, postgresql_where=LIVE)
        batch_op.create_index("ix_outbox_created", ["created_at"])
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.add_column(sa.Column("pruned", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("pruned_reached", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("broadcast") as batch_op:
        batch_op.drop_column("pruned_reached")
        batch_op.drop_column("pruned")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_created")
        batch_op.drop_index("ix_outbox_claim")
        batch_op.create_index("ix_outbox_due", ["status", "channel", "priority",
                                                "next_attempt_at"])
