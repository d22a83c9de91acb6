"""job, complaint and objection numbers from sequences on PostgreSQL

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

Two bot processes' batches deadlocked on the one `counter` row a month's job codes were
counted in (the booking's `UPDATE counter` against an offer's `UPDATE tukangprofile`; Step 4).
On PostgreSQL the number now comes from a sequence, which takes no row lock and is never
rolled back; each starts after the highest number already given, so no code repeats. SQLite
has one writer at a time and keeps the monthly counter.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIXES = ("J", "P", "K")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for prefix in PREFIXES:
        start = bind.execute(sa.text("SELECT coalesce(max(value), 0) + 1 FROM counter "
                                     "WHERE name LIKE :p"), {"p": f"{prefix}-%"}).scalar_one()
        op.execute(f"CREATE SEQUENCE code_{prefix.lower()} START WITH {int(start)}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for prefix in PREFIXES:
        op.execute(f"DROP SEQUENCE IF EXISTS code_{prefix.lower()}")
