"""Human codes like J-2611-0042: a prefix, the year and month (WIB), a monthly sequence."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.clock import local
from storage.models import Counter


async def next_code(session: AsyncSession, prefix: str, now: datetime) -> str:
    """The next code for `prefix` this month; safe under concurrent writers (row update)."""
    month = local(now).strftime("%y%m")
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
