"""Prometheus metrics of one bot process, served at `/metrics` (docs/ARCHITECTURE.md, Metrics).

Each runtime has its own `CollectorRegistry`, so tests (and benches) can build several runtimes
in one process. Counters and histograms are fed by the engine (`observe_batch`) and the
delivery worker (`observe_send`) through plain callbacks: flows/ never imports Prometheus.
The gauges that live in the database (outbox depth, pending offers, overdue complaints) are
read when Prometheus scrapes, one indexed query each, kept for `cache_seconds` so a storm of
scrapes cannot load the database.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select, text

from flows.deadlines import OPEN as OPEN_COMPLAINT
from flows.deadlines import Calendar, calendar, complaint_due
from flows.outbox import PRIORITY_BROADCAST, PRIORITY_NOTIFY, PRIORITY_REPLY
from storage.clock import utcnow
from storage.db import Database
from storage.models import Complaint
from storage.sql import table

log = logging.getLogger(__name__)

PRIORITIES = {PRIORITY_REPLY: "reply", PRIORITY_NOTIFY: "notify",
              PRIORITY_BROADCAST: "broadcast"}
# a platform's "too many requests": Telegram's flood control, Twilio's HTTP 429 / error 20429
# (the error texts of bot/telegram.py:classify and bot/whatsapp.py:_error; pinned by
# tests/test_metrics.py against both stand-ins)
_RATE_LIMITED = re.compile(r"\b(?:20)?429\b")

# the outbox's partial index `ix_outbox_claim` covers exactly these rows (migration 0003)
_OUTBOX_DEPTH = text("SELECT channel, priority, count(*) AS n FROM outbox "
                     "WHERE status IN ('queued', 'sending') GROUP BY channel, priority")
_PENDING_OFFERS = text("SELECT count(*) FROM offer WHERE status = 'pending'")

# --- the database gauges ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Snapshot:
    """The database gauges at one moment."""

    outbox: dict[tuple[str, str], int]
    offers_pending: int
    complaints_overdue: int


async def read_snapshot(db: Database, now: datetime, cal: Calendar | None = None) -> Snapshot:
    """The three database gauges: one query each, in one read transaction. "Overdue" is the
    officers' rule (`flows.deadlines.complaint_due`, working days on `cal`)."""
    async with db.read() as s:
        outbox = {(r.channel, PRIORITIES.get(r.priority, str(r.priority))): int(r.n)
                  for r in await s.execute(_OUTBOX_DEPTH)}
        offers = int((await s.execute(_PENDING_OFFERS)).scalar_one())
        c = table(Complaint)  # through the model's types: aware datetimes on both databases
        overdue = 0
        for r in await s.execute(select(
                c.c.status, c.c.created_at, c.c.statement_requested_at, c.c.statement_due_at,
                c.c.statement_at).where(c.c.status.in_(OPEN_COMPLAINT))):
            due = complaint_due(*r, cal=cal)
            overdue += due is not None and now > due
    return Snapshot(outbox, offers, overdue)


class _DatabaseGauges(Collector):
    """Yields the last snapshot; `Metrics.refresh` reads it (collect() cannot await)."""

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = list(channels)
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        if snap is None:  # the database did not answer: better no value than a stale one
            return
        depth = GaugeMetricFamily("sijakon_outbox_depth",
                                  "Outbox rows waiting to be sent or in flight (queued, sending)",
                                  labels=["channel", "priority"])
        # every served channel and priority, zero included: a drained queue is no gap
        keys = {(c, p) for c in self.channels for p in PRIORITIES.values()} | set(snap.outbox)
        for channel, priority in sorted(keys):
            depth.add_metric([channel, priority], snap.outbox.get((channel, priority), 0))
        yield depth
        yield GaugeMetricFamily("sijakon_offers_pending",
                                "Job offers waiting for the tukang's answer",
                                value=snap.offers_pending)
        yield GaugeMetricFamily("sijakon_complaints_overdue",
                                "Undecided complaints past their deadline (complaints list)",
                                value=snap.complaints_overdue)


# --- the process's metrics --------------------------------------------------------------------
class Metrics:
    """The metrics of one runtime, on a registry of its own."""

    def __init__(self, db: Database, channels: Sequence[str], *,
                 clock: Callable[[], datetime] = utcnow, cache_seconds: float = 5.0,
                 holidays_file: Path | None = None) -> None:
        self.db = db
        self.holidays_file = holidays_file  # the Dinas's own days off (SIJAKON_HOLIDAYS_FILE)
        self.clock = clock
        # whether the delivery worker waits with nothing to do (`DeliveryWorker.idle`)
        self.idle: Callable[[], bool] = lambda: False
        self.cache = timedelta(seconds=cache_seconds)
        # the worker's last send answered (any answer); a new worker has made none yet, so
        # its start counts, and /healthz gives it time before calling it stalled
        self.last_progress = clock()
        self._lock = asyncio.Lock()
        self._read_at: datetime | None = None
        r = self.registry = CollectorRegistry()
        self.inbound = Counter("sijakon_inbound_messages", "Inbound messages handled by the "
                               "engine (repeats included)", ["channel"], registry=r)
        self.batch_size = Histogram("sijakon_engine_batch_size", "Messages per engine batch "
                                    "(one transaction)", buckets=(1, 2, 4, 8, 16, 32, 64),
                                    registry=r)
        self.batch_seconds = Histogram(
            "sijakon_engine_batch_seconds", "Time from taking a batch to its commit",
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10), registry=r)
        self.sends = Counter("sijakon_sends", "Messages the platform accepted", ["channel"],
                             registry=r)
        self.retries = Counter("sijakon_send_retries", "Sends to be tried again later (429, "
                               "5xx, timeouts)", ["channel"], registry=r)
        self.rate_limited = Counter("sijakon_send_rate_limited", "Sends refused with 429 "
                                    "(too many requests)", ["channel"], registry=r)
        self.failures = Counter("sijakon_send_failures", "Sends failed for good (address "
                                "unreachable, or retries used up)", ["channel"], registry=r)
        progress = Gauge("sijakon_delivery_last_progress_seconds", "Unix time of the delivery "
                         "worker's last progress (a send answered, or caught up)", registry=r)
        progress.set_function(lambda: self.progress().timestamp())
        for channel in channels:  # a channel with nothing sent yet shows 0, not nothing
            for counter in (self.inbound, self.sends, self.retries, self.rate_limited,
                            self.failures):
                counter.labels(channel)
        self._db_gauges = _DatabaseGauges(channels)
        r.register(self._db_gauges)

    # --- fed by the engine and the worker --------------------------------------------------
    def observe_batch(self, size: int, seconds: float, channels: Sequence[str]) -> None:
        """The engine committed a batch of `size` messages from `channels` in `seconds`."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)
        for channel in channels:
            self.inbound.labels(channel).inc()

    def observe_send(self, channel: str, status: str, error: str | None) -> None:
        """The platform answered one send: "sent", "retry", "failed" or "waiting"."""
        self.last_progress = self.clock()
        if status == "sent":
            self.sends.labels(channel).inc()
        elif status == "retry":
            self.retries.labels(channel).inc()
            if error and _RATE_LIMITED.search(error):
                self.rate_limited.labels(channel).inc()
        elif status == "failed":
            self.failures.labels(channel).inc()

    def progress(self) -> datetime:
        """The worker's last progress: now while it waits with nothing to do."""
        return self.clock() if self.idle() else self.last_progress

    # --- scraping --------------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read the database gauges unless the last reading is younger than the cache."""
        async with self._lock:  # concurrent scrapes share one reading
            now = self.clock()
            if self._read_at is not None and abs(now - self._read_at) < self.cache:
                return  # a failed reading is kept as long: a dead database is asked no more
            self._read_at = now
            try:
                self._db_gauges.snapshot = await asyncio.wait_for(
                    read_snapshot(self.db, now, calendar(self.holidays_file)), timeout=5.0)
            except Exception as exc:  # still serve the counters
                log.warning("metrics: database gauges unavailable: %s", type(exc).__name__)
                self._db_gauges.snapshot = None

    async def exposition(self) -> bytes:
        """The Prometheus text format of everything, database gauges refreshed."""
        await self.refresh()
        return generate_latest(self.registry)
