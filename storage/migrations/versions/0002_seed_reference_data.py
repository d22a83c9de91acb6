"""seed reference data: kecamatan, categories, skills

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.seed import CATEGORIES, KECAMATAN, SKILLS

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_kec = sa.table("kecamatan", sa.column("code"), sa.column("name"), sa.column("neighbours", sa.JSON))
_cat = sa.table("category", sa.column("id"), sa.column("slug"), sa.column("name"),
                sa.column("position"), sa.column("active"))
_skill = sa.table("skill", sa.column("code"), sa.column("name"), sa.column("active"))
_sc = sa.table("skillcategory", sa.column("skill_code"), sa.column("category_id"))


def upgrade() -> None:
    op.bulk_insert(_kec, [{"code": c, "name": n, "neighbours": nb} for c, n, nb in KECAMATAN])
    op.bulk_insert(_cat, [{"id": i, "slug": s, "name": n, "position": i, "active": True}
                          for i, (s, n) in enumerate(CATEGORIES, start=1)])
    op.bulk_insert(_skill, [{"code": c, "name": n, "active": True} for c, n, _ in SKILLS])
    ids = {s: i for i, (s, _) in enumerate(CATEGORIES, start=1)}
    op.bulk_insert(_sc, [{"skill_code": c, "category_id": ids[slug]}
                         for c, _, slugs in SKILLS for slug in slugs])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('category_id_seq', (SELECT max(id) FROM category))")


def downgrade() -> None:
    for name in ("skillcategory", "skill", "category", "kecamatan"):
        op.execute(f"DELETE FROM {name}")  # nosec B608 # names from the tuple above
