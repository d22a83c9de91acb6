"""A step's `Read` (storage/reads.py) gives on the driver what the ORM would give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from flows.context import Context, ConvState, FlowConfig
from flows.engine import _Batch
from flows.outbox import Outgoing
from storage.db import Database
from storage.hotpath import hot_path
from storage.models import Conversation
from storage.reads import Read
from storage.sql import table

NOW = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)
STEPS = Read(select(col(Conversation.address), Conversation.step)
             .where(Conversation.channel == bindparam("channel"))
             .order_by(col(Conversation.address)).limit(3))


def _conv(address: str) -> dict[str, object]:
    return dict(channel="console", address=address, flow="menu", step=f"menu.{address}",
                data={}, locale="id", version=0, updated_at=NOW)


def test_a_column_whose_values_need_converting_is_refused() -> None:
    """A time or JSON column would come back as the driver's text on SQLite: not allowed."""
    read = Read(select(Conversation.address, Conversation.updated_at))
    for dialect in (sqlite.dialect(), postgresql.asyncpg.dialect()):
        with pytest.raises(TypeError, match="updated_at"):
            read.sql(dialect, {})


def test_a_missing_parameter_is_named() -> None:
    with pytest.raises(KeyError, match="channel"):
        STEPS.sql(sqlite.dialect(), {})


async def test_the_driver_and_the_orm_give_the_same_rows(any_db: Database) -> None:
    async with any_db.transaction() as s:
        for address in ("d", "a", "c", "b"):
            await s.execute(insert(table(Conversation)).values(**_conv(address)))
    async with any_db.write() as conn:
        on_driver = await (await hot_path(conn)).rows(STEPS, {"channel": "console"})
    async with any_db.transaction() as s:
        ctx = Context(conv=ConvState(id=0, channel="console", address="x", user_id=None,
                                     flow="", step="", data={}, locale="id", version=0),
                      now=NOW, out=Outgoing(), config=FlowConfig(),
                      open_session=lambda: _same(s))
        through_orm = await ctx.rows(STEPS, channel="console")  # no driver: the session
    assert on_driver == through_orm == [("a", "menu.a"), ("b", "menu.b"), ("c", "menu.c")]


async def _same(s: object) -> object:
    return s


async def test_what_the_batch_session_holds_unwritten_is_read(any_db: Database) -> None:
    """A step that added a row and then lists rows sees its own row."""
    async with any_db.write() as conn:
        batch = _Batch(conn=conn, sql=await hot_path(conn), now=NOW)
        (await batch.session()).add(Conversation(**_conv("new")))  # type: ignore[arg-type]
        assert await batch.rows(STEPS, {"channel": "console"}) == [("new", "menu.new")]


def test_a_parameter_that_needs_converting_is_refused() -> None:
    """A time compared on SQLite would be sent as a datetime, not as the text stored; an
    expanding IN would be sent unexpanded."""
    by_time = Read(select(Conversation.address).where(
        col(Conversation.updated_at) <= bindparam("at", type_=Conversation.updated_at.type)))
    among = Read(select(Conversation.address).where(
        col(Conversation.address).in_(bindparam("addresses", expanding=True))))
    with pytest.raises(TypeError, match="at"):
        by_time.sql(sqlite.dialect(), {"at": NOW})
    with pytest.raises(TypeError, match="addresses"):
        among.sql(postgresql.asyncpg.dialect(), {"addresses": ["a"]})
