"""Pasal 9 without dead ends: statement reminders and the removed tukang's objection

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14

`complaint.statement_reminders` counts the reminders sent before the statement deadline (two
working days and one working day before), so a restart never sends one twice.
`objection` is a removed tukang's keberatan (Perwako Batam 65/2021 Pasal 9): one per removal,
with text and documents, decided by an officer (reinstated or kept).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint") as batch:
        batch.add_column(sa.Column("statement_reminders", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.create_table(
        "objection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tukang_id", sa.Integer(), nullable=False),
        sa.Column("complaint_id", sa.Integer(), nullable=True),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("removed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tukang_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaint.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_objection_tukang_id", "objection", ["tukang_id"])
    op.create_index("ix_objection_status", "objection", ["status"])


def downgrade() -> None:
    op.drop_index("ix_objection_status", table_name="objection")
    op.drop_index("ix_objection_tukang_id", table_name="objection")
    op.drop_table("objection")
    with op.batch_alter_table("complaint") as batch:
        batch.drop_column("statement_reminders")
