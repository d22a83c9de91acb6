"""Reference data kept in memory: what many conversations read and the Dinas rarely changes
(the kecamatan, the published info topics).

Through the ORM on SQLite every read is a query and about four thread hops; in the engine
bench's mixed workload those reads were most of what separated it from the light one
(docs/PERFORMANCE.md). An entry lives `TTL` on the caller's clock, per database, and is
dropped at once when a session in this process writes one of the tables (session events,
as storage/service.py keeps the matching table); what the admin CLI changes from its own
process reaches the bot within the TTL. Values must be plain data, never ORM objects (they
outlive the session that read them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

T = TypeVar("T")

TTL = timedelta(seconds=30)
TABLES = frozenset({"infoarticle", "kecamatan", "category"})

_entries: dict[tuple[str, str], tuple[Any, datetime]] = {}


async def cached(session: AsyncSession, name: str, now: datetime,
                 load: Callable[[], Awaitable[T]]) -> T:
    """`name`'s value for the session's database: from memory while fresh, else `load()`."""
    bind: Any = session.bind
    key = (str(getattr(bind, "engine", bind).url), name)
    found = _entries.get(key)
    if found is not None and timedelta(0) <= now - found[1] < TTL:
        value: T = found[0]
        return value
    value = await load()
    _entries[key] = (value, now)
    return value


def invalidate() -> None:
    _entries.clear()


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        table = getattr(obj, "__table__", None)
        if table is not None and table.name in TABLES:
            invalidate()
            return


def _on_execute(state: ORMExecuteState) -> None:
    # bulk UPDATE / DELETE / INSERT through the session (the admin CLI's publish, the seed)
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) in TABLES:
        invalidate()


def install() -> None:
    """Listen on every `Session` (and so every `AsyncSession`); a second call does nothing."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
