"""Putting the parts together from the settings: database, engine, worker, scheduler,
metrics; and the log format (text or JSON, phone numbers masked in both)."""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.delivery import DeliveryWorker, Sender
from bot.media import discard_paths
from bot.metrics import Metrics
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.startup import check_data_dir
from flows.context import FlowConfig
from flows.engine import Engine
from storage.clock import utcnow
from storage.db import Database


def flow_config(settings: Settings) -> FlowConfig:
    return FlowConfig(offer_ttl=timedelta(minutes=settings.sijakon_offer_ttl_minutes),
                      choose_within=timedelta(minutes=settings.sijakon_choose_minutes),
                      data_dir=settings.sijakon_data_dir, locale=settings.sijakon_locale,
                      pdp_name=settings.sijakon_pdp_name,
                      pdp_contact=settings.sijakon_pdp_contact,
                      holidays_file=settings.sijakon_holidays_file,
                      officer_chat=settings.officer_chat,
                      objection_days=settings.sijakon_objection_days,
                      dinas_address=settings.sijakon_dinas_address,
                      dinas_phone=settings.sijakon_dinas_phone,
                      dinas_hours=settings.sijakon_dinas_hours,
                      waking_hours=settings.waking_hours,
                      **settings.retention_keep())


async def open_database(settings: Settings) -> Database:
    """Open the configured database and bring it to the head revision, after proving the data
    directory takes files (an unwritable one is a start-up error, not a lost photo later)."""
    check_data_dir(settings)
    # alembic announces each of its plugins at INFO on every start: noise, and lines before a
    # start-up error that should stand alone (bot/startup.py); its migration lines stay
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
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
    metrics: Metrics | None = None  # None: built here, fed by nothing (a runtime built by hand)

    def __post_init__(self) -> None:
        if self.metrics is None:
            self.metrics = Metrics(self.db, list(self.worker.pumps), clock=self.clock,
                                   holidays_file=self.engine.config.holidays_file)
            self.metrics.idle = self.worker.idle.is_set

    async def close(self) -> None:
        await self.engine.stop()
        await self.db.close()


async def build_runtime(settings: Settings, senders: list[Sender], *,
                        clock: Callable[[], datetime] = utcnow) -> Runtime:
    """Open the database and wire the parts: whatever the engine or the scheduler writes to
    the outbox wakes the delivery worker at once (on every channel); the engine's batches and
    the worker's sends feed the metrics."""
    db = await open_database(settings)
    config = flow_config(settings)
    metrics = Metrics(db, [s.channel for s in senders], clock=clock,
                      holidays_file=config.holidays_file)
    worker = DeliveryWorker(db, senders, clock=clock, locale=settings.sijakon_locale,
                            name=settings.sijakon_instance or None,
                            observe=metrics.observe_send)
    metrics.idle = worker.idle.is_set  # caught up: that is progress too
    engine = Engine(db, config=config, clock=clock, on_output=worker.wake, handoff=worker,
                    discard=functools.partial(discard_paths, media_dir=settings.media_dir),
                    observe_batch=metrics.observe_batch)
    scheduler = Scheduler(db, config, clock=clock, on_output=worker.wake)
    return Runtime(settings, db, engine, worker, scheduler, clock, metrics)


_PHONE = re.compile(r"(\+?62|0)(8\d{2})\d{3,5}(\d{4})")


def mask_phones(text: str) -> str:
    """Indonesian phone numbers anywhere in a log line masked (+62812****7890): personal data
    never reaches a log, whatever its format."""
    return _PHONE.sub(r"\1\2****\3", text)


class MaskingFilter(logging.Filter):
    """Masks the message of every record, for any handler that formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        masked = mask_phones(msg)
        if masked != msg:
            record.msg, record.args = masked, ()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, the whole line masked (a traceback's text included)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask_phones(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line (time in UTC, level, logger, message, exception), for a log
    collector; masked after serialising, so no field can carry a number past it."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(
                     timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return mask_phones(json.dumps(entry, ensure_ascii=False))


def setup_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    """Log to stderr as `fmt` ("text" or "json", SIJAKON_LOG_FORMAT), phone numbers masked."""
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "telegram", "twilio", "apscheduler", "aiosqlite"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
