"""Putting the parts together from the settings: database, engine, worker, scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery import DeliveryWorker, Sender
from bot.scheduler import Scheduler
from bot.settings import Settings
from flows.context import FlowConfig
from flows.engine import Engine
from storage.clock import utcnow
from storage.db import Database


def flow_config(settings: Settings) -> FlowConfig:
    return FlowConfig(offer_ttl=timedelta(minutes=settings.sijakon_offer_ttl_minutes),
                      data_dir=settings.sijakon_data_dir, locale=settings.sijakon_locale,
                      outbox_keep=timedelta(days=settings.sijakon_outbox_retention_days))


async def open_database(settings: Settings) -> Database:
    """Open the configured database and bring it to the head revision."""
    settings.sijakon_data_dir.mkdir(parents=True, exist_ok=True)
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    await db.migrate()
    return db


@dataclass
class Runtime:
    """The parts of one bot process. Adapters use `engine` (inbound), `worker` (receipts for
    sent messages) and `clock`; never `db`, which is for the parts below them."""

    settings: Settings
    db: Database
    engine: Engine
    worker: DeliveryWorker
    scheduler: Scheduler
    clock: Callable[[], datetime] = utcnow

    async def close(self) -> None:
        await self.engine.stop()
        await self.db.close()


async def build_runtime(settings: Settings, senders: list[Sender], *,
                        clock: Callable[[], datetime] = utcnow) -> Runtime:
    """Open the database and wire the parts: whatever the engine or the scheduler writes to
    the outbox wakes the delivery worker at once (on every channel)."""
    db = await open_database(settings)
    config = flow_config(settings)
    worker = DeliveryWorker(db, senders, clock=clock, locale=settings.sijakon_locale)
    engine = Engine(db, config=config, clock=clock, on_output=worker.wake)
    scheduler = Scheduler(db, config, clock=clock, on_output=worker.wake)
    return Runtime(settings, db, engine, worker, scheduler, clock)


class MaskingFilter(logging.Filter):
    """Masks Indonesian phone numbers in log lines (personal data never reaches a log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        import re

        msg = record.getMessage()
        masked = re.sub(r"(\+?62|0)(8\d{2})\d{3,5}(\d{4})", r"\1\2****\3", msg)
        if masked != msg:
            record.msg, record.args = masked, ()
        return True


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "telegram", "twilio", "apscheduler", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
