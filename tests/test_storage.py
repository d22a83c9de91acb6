"""Storage on SQLite and PostgreSQL: migrations, seed data, codes, SQLite's settings."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from storage.codes import next_code
from storage.db import Database, head_revision
from storage.migrate import alembic_config, current_revision
from storage.models import Category, Kecamatan, Skill, SkillCategory


async def test_schema_is_at_head_and_migrating_again_is_a_no_op(any_db: Database) -> None:
    """Start-up migration brings the schema to head; a second start changes nothing."""
    await any_db.migrate()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and head >= "0003"  # the bounded outbox, at least
    async with any_db.engine.connect() as conn:
        assert await conn.run_sync(current_revision) == head
    assert head_revision() == head  # the file names tell the head without Alembic


def test_a_database_at_head_starts_without_alembic(db: Database) -> None:
    """A bot starting on a database at head asks one query and never imports Alembic (the
    process keeps ~6.5 MB less): proved in a fresh interpreter."""
    code = ("import asyncio, sys\n"
            "from storage.db import Database\n"
            f"db = Database({db.url!r})\n"
            "asyncio.run(db.migrate())\n"
            "asyncio.run(db.close())\n"
            "print(sorted(m for m in ('alembic', 'mako', 'pygments') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent.parent, check=True)
    assert done.stdout.strip() == "[]"


async def test_seed_data(any_db: Database) -> None:
    """The 12 kecamatan of Batam with BPS codes, the categories and the SKK skills."""
    async with any_db.read() as s:
        kec = {k.code: k.name for k in (await s.execute(select(Kecamatan))).scalars()}
        assert len(kec) == 12 and kec["217101"] == "Belakang Padang" and kec["217112"] == "Batu Aji"
        cats = (await s.execute(select(func.count()).select_from(Category))).scalar()
        assert cats == 13
        skill = await s.get(Skill, "SI013027")
        assert skill is not None and "Baja Ringan" in skill.name
        atap = (await s.execute(select(Category.id).where(Category.slug == "baja-ringan"))).scalar()
        served = (await s.execute(select(SkillCategory.skill_code)
                                  .where(SkillCategory.category_id == atap))).scalars().all()
        assert "SI013027" in served


async def test_codes_count_per_month(any_db: Database) -> None:
    """Job codes look like J-2611-0001 with the month in Batam time; SQLite counts each month
    from 1, PostgreSQL takes the numbers from a sequence per prefix (no hot row, Step 4)."""
    nov = datetime(2026, 11, 23, 2, tzinfo=UTC)
    dec = datetime(2026, 11, 30, 18, tzinfo=UTC)  # already 1 December in WIB
    async with any_db.transaction() as s:
        assert await next_code(s, "J", nov) == "J-2611-0001"
        assert await next_code(s, "J", nov) == "J-2611-0002"
        december = "J-2612-0001" if any_db.is_sqlite else "J-2612-0003"
        assert await next_code(s, "J", dec) == december
        assert await next_code(s, "P", nov) == "P-2611-0001"


# PostgreSQL only: SQLite has one writer at a time, so a second transaction waits by design
@pytest.mark.parametrize("any_db", ["postgresql"], indirect=True)
async def test_postgres_codes_take_no_row_lock(any_db: Database) -> None:
    """Two transactions take job numbers at once without waiting for each other (a counter
    row would make the second wait for the first's commit), and never the same number."""
    now = datetime(2026, 11, 23, 2, tzinfo=UTC)
    async with any_db.transaction() as first:
        a = await next_code(first, "J", now)
        async with any_db.transaction() as second:
            b = await asyncio.wait_for(next_code(second, "J", now), timeout=5)
    assert a != b and {a[:7], b[:7]} == {"J-2611-"}


async def test_sqlite_connection_settings(db: Database) -> None:
    """WAL, foreign keys and a busy timeout on every connection."""
    async with db.read() as s:
        assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await s.execute(text("PRAGMA busy_timeout"))).scalar() == 5000


async def test_two_processes_write_without_lock_errors(db: Database) -> None:
    """Two Database objects on one file (like the bot and the CLI) interleave writes safely:
    read-then-write transactions start with BEGIN IMMEDIATE, so none fails 'database is locked'."""
    other = Database(db.url)

    async def bump(database: Database) -> None:
        for _ in range(20):
            async with database.transaction() as s:
                await next_code(s, "X", datetime(2026, 11, 23, tzinfo=UTC))

    await asyncio.gather(bump(db), bump(other))
    async with db.transaction() as s:
        assert await next_code(s, "X", datetime(2026, 11, 23, tzinfo=UTC)) == "X-2611-0041"
    await other.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_processes_starting_together_migrate_once(kind: str, tmp_path: Path) -> None:
    """Four processes' databases migrating one empty database at the same instant all come
    up at head (Step 4: the second used to die on a unique violation in alembic_version)."""
    from tests.conftest import PG_AVAILABLE, PG_HOST, PG_PORT, PG_USER, _pg_admin

    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    else:
        if not PG_AVAILABLE:
            pytest.skip(f"no PostgreSQL answering at {PG_HOST}:{PG_PORT}")
        name = f"sijakon_test_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    databases = [Database(url) for _ in range(4)]
    try:
        await asyncio.gather(*(d.migrate() for d in databases))
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        async with databases[0].engine.connect() as conn:
            assert await conn.run_sync(current_revision) == head
            assert (await conn.execute(text("SELECT count(*) FROM kecamatan"))).scalar_one() > 0
    finally:
        for d in databases:
            await d.close()
        if kind == "postgresql":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
