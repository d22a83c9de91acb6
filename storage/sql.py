"""Small dialect-aware statement helpers shared by the engine, the worker and the CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def insert_ignore(table: Table | Any, dialect: str, index_elements: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (cols) DO NOTHING, on SQLite and PostgreSQL alike."""
    factory = sqlite.insert if dialect == "sqlite" else postgresql.insert
    return factory(table).on_conflict_do_nothing(index_elements=index_elements)
