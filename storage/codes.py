"""Human codes like J-2611-0042: a prefix, the year and month (WIB), a number.

SQLite (one writer at a time) counts each month from 1 in a `counter` row. PostgreSQL takes
the number from the prefix's sequence (migration 0008): a counter row would be a hot row that
two bot processes' batches lock in opposite orders with a tukang profile (a deadlock, Step 4),
while a sequence locks nothing. There the number runs on across months; the month in the code
still says when it was made.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.clock import local
from storage.models import Counter

SEQUENCES = {"J": "code_j", "P": "code_p", "K": "code_k"}


async def next_code(session: AsyncSession, prefix: str, now: datetime) -> str:
    """The next code for `prefix` this month; safe under concurrent writers."""
    month = local(now).strftime("%y%m")
    if session.get_bind().dialect.name == "postgresql":
        value = (await session.execute(
            text(f"SELECT nextval('{SEQUENCES[prefix]}')"))).scalar_one()
        return f"{prefix}-{month}-{value:04d}"
    name = f"{prefix}-{month}"
    result = await session.execute(
        update(Counter).where(col(Counter.name) == name).values(value=Counter.value + 1)
        .returning(col(Counter.value)))
    value = result.scalar_one_or_none()
    if value is None:
        exists = (await session.execute(select(Counter).where(Counter.name == name))).first()
        if exists is None:
            session.add(Counter(name=name, value=1))
            await session.flush()
            value = 1
        else:  # pragma: no cover - another writer created it between our two statements
            return await next_code(session, prefix, now)
    return f"{prefix}-{month}-{value:04d}"
