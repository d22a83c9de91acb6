"""Alembic, driven from code: the bot and the CLI bring the database to head on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# pg_advisory_xact_lock's key for "migrating" (any fixed bigint; "SIJAKON" in ASCII)
MIGRATION_LOCK = 0x53494A414B4F4E


def upgrade_to_head(connection: Connection) -> None:
    """Run inside `AsyncConnection.run_sync`; the caller commits.

    N processes may start together on one empty database (Step 4): the first takes a lock
    that lasts until its commit (PostgreSQL: a transaction-level advisory lock; SQLite: the
    file's write lock, `BEGIN IMMEDIATE` from `storage.db`), migrates, and commits; the others
    wait for it and then find the schema at head. Without it the second died on a unique
    violation in `alembic_version`."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    else:
        connection.exec_driver_sql("SELECT 1")  # begins: BEGIN IMMEDIATE holds the file
    command.upgrade(alembic_config(connection), "head")


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
