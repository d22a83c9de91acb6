"""Alembic environment: uses the connection handed over by `storage.migrate`, or, for
`alembic revision --autogenerate` during development, a sync SQLite URL from
`SIJAKON_ALEMBIC_URL` (default: sqlite:///data/alembic-dev.db)."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("SIJAKON_ALEMBIC_URL", "sqlite:///data/alembic-dev.db")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
