"""ask several tukang and confirm one, the warga confirms completion, profiles with photos

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Step 8: a job offered to up to three tukang remembers until when the warga may confirm one
who said yes (`job.choose_by`), when the tukang asked the warga whether the work is done
(`job.finish_asked_at`) and who closed it (`job.done_by`); a tukang's profile gets a photo,
photos of past work and a short description.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("job", sa.Column("choose_by", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("job", sa.Column("finish_asked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column("job", sa.Column("done_by", sa.String(length=10), nullable=True))
    op.add_column("tukangprofile", sa.Column("photo", sa.String(length=300), nullable=True))
    op.add_column("tukangprofile", sa.Column("work_photos", sa.JSON(), nullable=True))
    op.add_column("tukangprofile", sa.Column("bio", sa.String(length=300), nullable=False,
                                             server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("tukangprofile") as batch_op:
        batch_op.drop_column("bio")
        batch_op.drop_column("work_photos")
        batch_op.drop_column("photo")
    with op.batch_alter_table("job") as batch_op:
        batch_op.drop_column("done_by")
        batch_op.drop_column("finish_asked_at")
        batch_op.drop_column("choose_by")
