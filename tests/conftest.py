"""Shared fixtures: a migrated database per test, on a real SQLite file and, when one answers
at 127.0.0.1:5432 (as on the CI machine), on PostgreSQL in a fresh database."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from standins.twilio import TwilioStandIn
from storage.db import Database
from tests.channels import telegram, twilio_standin, whatsapp
from tests.harness import Harness, StepClock

PG_HOST = os.environ.get("SIJAKON_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SIJAKON_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SIJAKON_TEST_PG_USER", "postgres")


def _pg_answers() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=0.5):
            return True
    except OSError:
        return False


PG_AVAILABLE = _pg_answers()
_template: dict[str, Path] = {}


async def _sqlite_template(base: Path) -> Path:
    """Migrate once per test session, then copy the file: a fresh database in milliseconds."""
    if "sqlite" not in _template:
        path = base / "template.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.migrate()
        await db.close()
        _template["sqlite"] = path
    return _template["sqlite"]


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("templates")


async def _sqlite_db(tmp_path: Path, template_dir: Path) -> Database:
    path = tmp_path / "sijakon.db"
    shutil.copyfile(await _sqlite_template(template_dir), path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.migrate()  # at head already: proves start-up migration is a no-op
    return db


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def db(tmp_path: Path, template_dir: Path) -> AsyncIterator[Database]:
    """A migrated SQLite file database."""
    database = await _sqlite_db(tmp_path, template_dir)
    yield database
    await database.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path,
                 template_dir: Path) -> AsyncIterator[Database]:
    """The same test on SQLite and on PostgreSQL (fresh database, dropped afterwards)."""
    if request.param == "sqlite":
        database = await _sqlite_db(tmp_path, template_dir)
        yield database
        await database.close()
        return
    if not PG_AVAILABLE:
        pytest.skip(f"no PostgreSQL answering at {PG_HOST}:{PG_PORT}")
    name = f"sijakon_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    database = Database(f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}")
    try:
        await database.migrate()
        yield database
    finally:
        await database.close()
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
async def t(db: Database, clock: StepClock) -> AsyncIterator[Harness]:
    """People on the console: the engine directly, on the test's clock."""
    h = Harness.console(db, clock=clock)
    yield h
    await h.close()


@pytest.fixture
def twilio() -> Iterator[TwilioStandIn]:
    """A Twilio stand-in for the test's WhatsApp channel."""
    standin = twilio_standin()
    yield standin
    standin.stop()


@pytest.fixture(params=["console", "telegram", "whatsapp"])
async def any_channel(request: pytest.FixtureRequest, db: Database, tmp_path: Path,
                      clock: StepClock) -> AsyncIterator[Harness]:
    """The same conversation on the console, on Telegram (stand-in Bot API, polling) and on
    WhatsApp (signed webhooks, stand-in Twilio)."""
    if request.param == "telegram":
        async with telegram(db, tmp_path / "data", clock=clock) as h:
            yield h
        return
    if request.param == "whatsapp":
        h = await whatsapp(db, tmp_path / "data", request.getfixturevalue("twilio"), clock)
    else:
        h = Harness.console(db, clock=clock)
    yield h
    await h.close()
