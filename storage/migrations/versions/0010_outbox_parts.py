"""outbox rows remember how many parts of a multi-part message were delivered

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

WhatsApp takes one file per message, and a text over 1,600 characters goes in several: one
outbox row can be several sends. A retry after a 429 or a 5xx on a later part used to send
the delivered parts again (Step 3); the row now keeps the count and a retry sends the rest.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("parts_sent", sa.Integer(), nullable=False,
                                      server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("parts_sent")
