"""Timers as rows: jobs the scheduler runs over due rows (DESIGN.md "Timers from rows").

Each timer is `async (session, now, out, config) -> int` (how many rows it handled); it runs in
its own transaction and its messages go to the outbox with it. Features add theirs with
`timer`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from flows.context import FlowConfig
from flows.outbox import Outgoing
from storage.models import ProcessedUpdate

Timer = Callable[[AsyncSession, datetime, Outgoing, FlowConfig], Awaitable[int]]
TIMERS: dict[str, Timer] = {}
DEDUPE_KEEP = timedelta(hours=48)


def timer(name: str) -> Callable[[Timer], Timer]:
    def register(fn: Timer) -> Timer:
        TIMERS[name] = fn
        return fn

    return register


@timer("prune_dedupe")
async def prune_dedupe(session: AsyncSession, now: datetime, out: Outgoing,
                       config: FlowConfig) -> int:
    """External ids are kept 48 hours: longer than Telegram (24 h) or Twilio retry."""
    result = await session.execute(
        delete(ProcessedUpdate).where(ProcessedUpdate.received_at < now - DEDUPE_KEEP))
    return result.rowcount or 0
