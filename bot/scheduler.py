"""The scheduler: a loop over the registry's timers, never an in-memory timer.

Every due thing is a row with a time column, so a restart or a second process loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from flows.context import FlowConfig
from flows.outbox import Outgoing
from flows.registry import load_flows
from storage.clock import utcnow
from storage.db import Database

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, db: Database, config: FlowConfig, *,
                 clock: Callable[[], datetime] = utcnow, interval: float = 15.0,
                 on_output: Callable[[], None] | None = None) -> None:
        self.timers = load_flows().timers
        self.db = db
        self.config = config
        self.clock = clock
        self.interval = interval
        self.on_output = on_output
        self._stop = asyncio.Event()

    async def tick(self) -> dict[str, int]:
        """Run every timer once, each in its own transaction; a failing one skips a turn."""
        done: dict[str, int] = {}
        for name, fn in self.timers.items():
            out = Outgoing()
            try:
                async with self.db.transaction() as session:
                    now = self.clock()
                    done[name] = await fn(session, now, out, self.config)
                    await out.write(session, now)
            except Exception:
                log.exception("timer %s failed", name)
                continue
            if done[name] and self.on_output:
                self.on_output()
        return done

    async def run(self) -> None:
        while not self._stop.is_set():
            await self.tick()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)

    def stop(self) -> None:
        self._stop.set()
