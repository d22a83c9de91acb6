"""`/healthz`: is this process able to take messages and send answers?

Healthy when the database answers `SELECT 1` within `DB_TIMEOUT` and the delivery worker is
not stalled. Stalled means both: rows of the worker's channels have been due for longer than
`STALL_AFTER` (nobody claimed them), and the worker made no progress in that time
(`Metrics.progress`: a send answered, or caught up). An idle worker with nothing due is
healthy; a busy one sending a long broadcast is too, as long as sends keep being answered.
Times come from the runtime's clock, so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from bot.runtime import Runtime
from storage.db import Database
from storage.hotpath import sqlite_time

DB_TIMEOUT = 2.0  # seconds
STALL_AFTER = timedelta(minutes=2)

# the claim's predicate (storage/claims.py) with `now` moved back by STALL_AFTER: rows that
# could have been claimed that long ago; through the partial index over live rows
_OVERDUE = ("SELECT 1 FROM outbox WHERE channel = :ch AND status IN ('queued', 'sending') "
            "AND ((status = 'queued' AND next_attempt_at <= :before) "
            "OR (status = 'sending' AND claimed_until < :before)) LIMIT 1")


async def _answers(db: Database) -> None:
    async with db.read() as s:
        await s.execute(text("SELECT 1"))


async def _overdue_channels(db: Database, channels: list[str], before: datetime) -> list[str]:
    at: Any = sqlite_time(before) if db.is_sqlite else before
    late = []
    async with db.read() as s:
        for channel in channels:
            found = await s.execute(text(_OVERDUE), {"ch": channel, "before": at})
            if found.first() is not None:
                late.append(channel)
    return late


async def check(rt: Runtime) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of /healthz; the body names the reason, never personal data."""
    try:
        await asyncio.wait_for(_answers(rt.db), DB_TIMEOUT)
    except TimeoutError:
        return 503, {"status": "error", "ok": False, "reason": "database timeout"}
    except Exception as exc:
        return 503, {"status": "error", "ok": False,
                     "reason": f"database: {type(exc).__name__}"}
    assert rt.metrics is not None
    now = rt.clock()
    progress = rt.metrics.progress()
    if now - progress > STALL_AFTER:
        try:
            late = await asyncio.wait_for(
                _overdue_channels(rt.db, list(rt.worker.pumps), now - STALL_AFTER), DB_TIMEOUT)
        except Exception as exc:
            return 503, {"status": "error", "ok": False,
                         "reason": f"database: {type(exc).__name__}"}
        if late:
            return 503, {"status": "error", "ok": False,
                         "reason": "delivery worker stalled",
                         "channels": late,
                         "last_progress": progress.isoformat(timespec="seconds")}
    return 200, {"status": "ok", "ok": True, "database": rt.db.dialect}
