"""Small dialect-aware statement helpers shared by the engine, the worker and the CLI."""

from __future__ import annotations

from typing import Any, TypeVarTuple, cast

from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.dml import Insert
from sqlmodel import SQLModel, col

_Ts = TypeVarTuple("_Ts")


def insert_ignore(table: Table | Any, dialect: str, index_elements: list[str]) -> Insert:
    """INSERT ... ON CONFLICT (cols) DO NOTHING, on SQLite and PostgreSQL alike."""
    factory = sqlite.insert if dialect == "sqlite" else postgresql.insert
    return factory(table).on_conflict_do_nothing(index_elements=index_elements)


def table(model: type[SQLModel]) -> Table:
    """The Core `Table` behind a `table=True` model (what `Model.__table__` holds at runtime).

    SQLModel does not declare `__table__` to type checkers, and the mapper's `local_table` is
    typed as the general `FromClause`; for our plain single-table models it is always the
    model's `Table`, so the isinstance check only narrows the type for the checker.
    """
    local = inspect(model).local_table
    assert isinstance(local, Table), f"{model.__name__} is not mapped to a single Table"
    return local


def pk(attr: int | None) -> Mapped[int]:
    """A model's `id` as a typed column, e.g. `select(pk(User.id))` yields `int`, not `int | None`.

    The models declare `id: int | None` because an object has no id until it is inserted, and
    `col()` keeps that `None`; in the table the primary key is never NULL, so the values read
    back are always ints. Only for primary keys; anything else goes through `col()`.
    """
    return cast("Mapped[int]", col(attr))


def rowcount(result: Result[*_Ts]) -> int:
    """Rows matched by an UPDATE or DELETE (without RETURNING) run through a `Session`.

    `Session.execute()` is typed to return the general `Result`, but for such statements it
    returns a `CursorResult`, the only kind that carries `rowcount`.
    """
    assert isinstance(result, CursorResult), "rowcount needs an UPDATE/DELETE without RETURNING"
    return result.rowcount
