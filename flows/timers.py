"""Timers as rows: jobs the scheduler runs over due rows (DESIGN.md "Timers from rows").

Each timer is `async (session, now, out, config) -> int` (how many rows it handled, the type
`flows.table.Timer`); it runs in its own transaction and its messages go to the outbox with it.
Flow modules register theirs in `register(registry)` with `registry.timer(name, fn)`; this
module holds the one that belongs to no flow.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from flows.context import FlowConfig
from flows.outbox import Outgoing
from flows.table import Registry
from storage.models import ProcessedUpdate
from storage.sql import rowcount

DEDUPE_KEEP = timedelta(hours=48)


async def prune_dedupe(session: AsyncSession, now: datetime, out: Outgoing,
                       config: FlowConfig) -> int:
    """External ids are kept 48 hours: longer than Telegram (24 h) or Twilio retry."""
    result = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.received_at) < now - DEDUPE_KEEP))
    return rowcount(result) or 0


def register(registry: Registry) -> None:
    registry.timer("prune_dedupe", prune_dedupe)
