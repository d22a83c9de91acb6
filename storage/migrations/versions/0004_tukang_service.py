"""the matching table: one row per tukang per (service area, category served)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

`find_tukang` loaded every active profile and filtered the JSON skills and areas in Python
(3.9 s on SQLite, 3.6 s on PostgreSQL with 50,000 tukang). `tukangservice` holds, per
(kecamatan, category), the tukang the rule lists by status, with what the list shows and its
order key, so a page is one index range (docs/matching.md). storage/service.py keeps it
current; this revision creates it and fills it from the profiles already there.

The fill is written out here rather than imported from storage/service.py, so this revision
keeps producing the table of this revision whatever later code does with the model
(tests/test_matching.py checks both give the same rows).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the rule's constants at this revision (storage/matching.py)
PRIOR_MEAN = 4.0
PRIOR_WEIGHT = 3
FAIRNESS_WEIGHT = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    service = op.create_table(
        "tukangservice",
        sa.Column("kecamatan_code", sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("jenjang", sa.Integer(), nullable=False),
        sa.Column("skill_codes", sa.JSON(), nullable=True),
        sa.Column("skk_valid_until", sa.Date(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("jobs_done", sa.Integer(), nullable=False),
        sa.Column("last_offer_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("rested_key", sa.Float(), nullable=False),
        sa.Column("offer_hours", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("kecamatan_code", "category_id", "user_id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("tukangservice") as batch_op:
        batch_op.create_index("ix_tukangservice_rank",
                              ["kecamatan_code", "category_id", "rested_key", "jobs_done",
                               "user_id", "skk_valid_until", "last_offer_at"])
        batch_op.create_index("ix_tukangservice_recent",
                              ["kecamatan_code", "category_id", "last_offer_at", "offer_hours",
                               "rested_key", "jobs_done", "user_id", "skk_valid_until"])
        batch_op.create_index("ix_tukangservice_count",
                              ["kecamatan_code", "category_id", "user_id", "skk_valid_until"])
        batch_op.create_index("ix_tukangservice_user_id", ["user_id"])
    assert service is not None
    _fill(service)


def _fill(service: sa.Table) -> None:
    conn = op.get_bind()
    profile = sa.table("tukangprofile", sa.column("user_id"), sa.column("jenjang"),
                       sa.column("skk_valid_until", sa.Date), sa.column("skills", sa.JSON),
                       sa.column("areas", sa.JSON), sa.column("available", sa.Boolean),
                       sa.column("status"), sa.column("jobs_done"), sa.column("rating_sum"),
                       sa.column("rating_count"),
                       sa.column("last_offer_at", sqlmodel.sql.sqltypes.UTCDateTime))
    user = sa.table("user", sa.column("id"), sa.column("name"), sa.column("role"),
                    sa.column("status"))
    skill = sa.table("skill", sa.column("code"), sa.column("active", sa.Boolean))
    link = sa.table("skillcategory", sa.column("skill_code"), sa.column("category_id"))
    serving: dict[str, list[int]] = {}
    for code, category_id in conn.execute(
            sa.select(link.c.skill_code, link.c.category_id)
            .join(skill, skill.c.code == link.c.skill_code).where(skill.c.active.is_(True))
            .order_by(link.c.skill_code, link.c.category_id)):
        serving.setdefault(code, []).append(category_id)
    listed = conn.execute(
        sa.select(profile.c.user_id, profile.c.jenjang, profile.c.skk_valid_until,
                  profile.c.skills, profile.c.areas, profile.c.jobs_done, profile.c.rating_sum,
                  profile.c.rating_count, profile.c.last_offer_at, user.c.name)
        .join(user, user.c.id == profile.c.user_id)
        .where(user.c.status == "active", user.c.role == "tukang",
               profile.c.status == "active", profile.c.available.is_(True))).mappings().all()
    rows = []
    for p in listed:
        by_category: dict[int, list[str]] = {}
        for code in p["skills"] or []:
            for category_id in serving.get(code, ()):
                by_category.setdefault(category_id, []).append(code)
        bayes = (PRIOR_WEIGHT * PRIOR_MEAN + p["rating_sum"]) / (PRIOR_WEIGHT + p["rating_count"])
        for area in dict.fromkeys(p["areas"] or []):
            for category_id, codes in by_category.items():
                rows.append({"kecamatan_code": area, "category_id": category_id,
                             "user_id": p["user_id"], "name": p["name"], "jenjang": p["jenjang"],
                             "skill_codes": codes, "skk_valid_until": p["skk_valid_until"],
                             "rating_sum": p["rating_sum"], "rating_count": p["rating_count"],
                             "jobs_done": p["jobs_done"], "last_offer_at": p["last_offer_at"],
                             "rested_key": -(bayes + FAIRNESS_WEIGHT),
                             "offer_hours": None if p["last_offer_at"] is None else
                             (p["last_offer_at"] - EPOCH).total_seconds() / 3600})
    for start in range(0, len(rows), 5000):
        conn.execute(service.insert(), rows[start:start + 5000])


def downgrade() -> None:
    op.drop_table("tukangservice")
