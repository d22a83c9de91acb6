"""the national SKK holder list, for checks at activation (Step 8)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

`skkholder` holds the list the Dinas exports from the national registry and imports with
`sijakon-admin skk import`: number (and `key`, the number without separators, unique), name,
jabatan kerja, jenjang, valid until. Empty until the first import; each import replaces it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "skkholder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("jabatan", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("jenjang", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("imported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("skkholder")
