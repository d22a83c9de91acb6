"""The delivery worker: claims due outbox rows and sends them, paced and retried.

Per channel a pump keeps a small window of claimed rows in memory (about two seconds' worth at
the channel's rate, so a reply queued behind a broadcast waits at most that long). Rows for one
address go out one after another, in order; different addresses go out side by side. Pacing is
two token buckets: the channel's overall rate and, where the platform has one, a per-chat rate
with a small burst. Errors are sorted once (DESIGN.md "Errors sorted once"):

- `Retryable` (429 with retry-after, 5xx, timeouts): the row and the rest of that chat's window
  go back to the queue after the delay; after `max_attempts` the row fails with the reason;
- `Permanent` (blocked, chat not found, not on WhatsApp, STOP): the row fails and the account
  is marked unreachable; a new inbound message from it makes it reachable again (the engine);
- `Hold` (WhatsApp's 24-hour window closed, no template): the row waits for the next inbound.

A row is claimed with a lease; if the process dies, rows whose lease ran out are claimed again,
so at most the rows in flight at a crash can go twice and none is lost.

Several bot processes on one database (docs/scale.md): each channel has one sender, the
worker holding the channel's lease (storage/leader.py); the others claim nothing on it, write
their replies queued and wake the sender (PostgreSQL NOTIFY). So the platform's limits hold
for the whole deployment and one person's rows leave in order from one place. A standby takes
the lease within a beat of the sender's death and sends at once what the dead one held.
Replies are handed straight over (`accepts`) only by a sender alone on the database: with
others writing, a reply handed over could overtake an older row another process queued.

The claim also reads what a sender needs to know about the recipient (`OutRow.locale`,
`OutRow.window_open`), so the adapters never read the database.

The worker is also the adapters' way back to the outbox: `wake()` when rows became due (the
engine calls it after a commit that wrote replies), `receipt()` for a platform's word on a sent
message (Twilio's status callbacks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from flows.outbox import PRIORITY_REPLY, Sendable, window_cutoff
from flows.render import DEFAULT_LOCALE, render
from flows.types import Reply
from storage.claims import (
    Outcome,
    beat,
    claim,
    record,
    start_worker,
    stop_worker,
    take_over,
)
from storage.clock import as_utc, utcnow
from storage.db import Database
from storage.leader import Leases
from storage.outbox import apply_receipt

ReceiptStatus = Literal["sent", "delivered", "read", "failed", "undelivered", "waiting"]

log = logging.getLogger(__name__)

MAX_WINDOW = 500


class SendError(Exception):
    """A send failed; subclasses say whether to try again. `parts_done`: a message sent in
    several parts stopped after that many were delivered (recorded; a retry sends the rest)."""

    parts_done: int | None = None


class Retryable(SendError):
    def __init__(self, reason: str, retry_after: float | None = None, *,
                 whole_channel: bool = False) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.whole_channel = whole_channel


class Permanent(SendError):
    """The address cannot be reached: stop sending to it."""


class Hold(SendError):
    """Not now: keep the row waiting until the person writes again."""


class Sender(Protocol):
    """What a channel must provide to the worker."""

    channel: str
    rate: float  # messages per second overall
    chat_rate: float | None  # messages per second per address, or None
    chat_burst: int

    async def send(self, row: OutRow) -> str | None:
        """Send one message; return the provider's id. Raise a SendError subclass on failure."""


OutRow = Sendable  # the senders' name for a row to send (flows/outbox.py)


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; `pause` empties it for a while."""

    def __init__(self, rate: float, burst: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.clock = clock
        self.tokens = self.burst
        self.stamp = clock()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock() + seconds)
        self.tokens = 0.0

    async def acquire(self, *, take: bool = True) -> None:
        """Wait for a token and spend it (`take=False`: only wait; spend it with `take()`)."""
        async with self._lock:
            while True:
                now = self.clock()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    if take:
                        self.tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self.tokens) / self.rate)

    def take(self) -> None:
        """Spend the token `acquire(take=False)` waited for (a bucket with one user: a chat)."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - 1.0
        self.stamp = now


@dataclass(slots=True)
class _Result:
    row: OutRow
    status: str  # sent | retry | failed | waiting
    provider_id: str | None = None
    error: str | None = None
    delay: float = 0.0
    unreachable: bool = False
    parts_done: int | None = None


@dataclass
class _Pump:
    sender: Sender
    bucket: TokenBucket
    chat_buckets: dict[str, TokenBucket] = field(default_factory=dict)
    queues: dict[str, deque[OutRow]] = field(default_factory=lambda: defaultdict(deque))
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    in_memory: int = 0
    held: set[int] = field(default_factory=set)  # ids claimed here and not yet recorded
    results: list[_Result] = field(default_factory=list)
    # the last claim found nothing more due: replies may be handed over (Handoff) without
    # overtaking older rows in the database
    caught_up: bool = False
    refusals: int = 0  # a claim that overlapped a refusal does not count as caught up


class DeliveryWorker:
    """Sends the outbox through one sender per channel."""

    def __init__(
        self,
        db: Database,
        senders: list[Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
        lease: timedelta = timedelta(seconds=30),
        name: str | None = None,
        beat_every: float = 1.0,
        stale_after: timedelta = timedelta(seconds=10),
        record_every: float = 0.02,
        stop_wait: float = 3.0,
        max_attempts: int = 8,
        window_seconds: float = 2.0,
        loop_limit: int = 20,
        claim_gap: float = 0.01,
        locale: str = DEFAULT_LOCALE,
        observe: Callable[[str, str, str | None], None] | None = None,
        leases: Leases | None = None,
    ) -> None:
        self.db = db
        # which channels this process sends (one sender per channel on a database)
        self.leases = leases if leases is not None else Leases(db.url)
        self.leading: set[str] = set()
        self.alone = True  # no other live worker on the database (from the last beat)
        self.clock = clock
        self.locale = locale  # for a recipient whose language we do not know
        self.observe = observe  # metrics: (channel, status, error) of each send answered
        # a claimed row is leased to this worker, renewed at every beat; when the worker is
        # gone (a new life of the same `name`, or no beat for `stale_after`) its rows go back
        # to the queue at once (storage/claims.py)
        self.lease = lease
        self.name = name or socket.gethostname()
        self.beat_every = beat_every
        self.stale_after = stale_after
        self.owner: int | None = None  # this life's Worker id, from run()
        # sent rows are recorded this soon: what a crash can send twice is what went out in
        # the last `record_every` seconds (Step 3; it was 0.2 s)
        self.record_every = record_every
        self.stop_wait = stop_wait
        self.max_attempts = max_attempts
        self.loop_limit = loop_limit
        self.claim_gap = claim_gap
        # a sender may declare an overall `burst`: with 1.0, every late wake-up of the pacing
        # loop is throughput lost for good (at 30/s a few ms each cost ~20%)
        self.pumps = {s.channel: _Pump(s, TokenBucket(s.rate, float(getattr(s, "burst", 1.0))))
                      for s in senders}
        # never more than MAX_WINDOW rows in memory per channel, however fast the sender: a
        # claim is one write transaction and the rows are sent on the engine's event loop
        self.window = {s.channel: min(MAX_WINDOW, max(8, int(s.rate * window_seconds)))
                       for s in senders}
        self._wakeup = asyncio.Event()
        # set while run() waits with nothing claimed or left to record: caught up until a
        # wake() or the next poll (for health checks and tests)
        self.idle = asyncio.Event()
        self.ready = asyncio.Event()  # registered, leases taken: the process may take updates
        self._recent: dict[tuple[str, str, int], deque[float]] = defaultdict(deque)
        self._slowed: dict[tuple[str, str], float] = {}  # when each address was told to wait
        self._stopping = False
        self._running = False
        self._due = True  # rows may be due in the database: claim
        self._notifying: set[asyncio.Future[None]] = set()
        self._notify_pending: set[str] = set()
        self._started: datetime | None = None  # this life's start, on `clock`
        self._unaware = 0  # other live workers that have not beaten since we started

    # --- running ---------------------------------------------------------------------------
    async def run(self, poll: float = 0.25) -> None:
        """Until `stop()`: claim, send, record. Unsent rows stay queued for the next start."""
        last_record = last_claim = last_beat = time.monotonic()
        self._started = self.clock()
        self.owner, back = await start_worker(self.db, self.name, self._started)
        if back:
            log.info("%d messages held by this worker's previous life go out again", back)
        try:
            await self.leases.listen(self._notified)
            await self._beat()
            await self._lead()
            # a sender learns of us at its next beat; until then it may still hand its replies
            # straight over, which our rows must not be written beside: while another process
            # sends a channel, updates wait until every live worker has beaten since we started
            # (or gone stale)
            waited = 0.0
            while (self._unaware and len(self.leading) < len(self.pumps)
                   and waited < self.stale_after.total_seconds()):
                await asyncio.sleep(self.beat_every / 4)
                waited += self.beat_every / 4
                await self._beat()
                await self._lead()
            self.ready.set()
            self._running = True
            self._due = True
            await self._loop(poll, last_record, last_claim, last_beat)
        finally:
            self._running = False
            for channel in list(self.pumps):
                self._lose(channel)  # nothing goes out once the lease is given up
            for task in list(self._notifying):
                task.cancel()
            await self.leases.close()  # a cancelled run lets a standby take over, as a kill would

    async def _loop(self, poll: float, last_record: float, last_claim: float,
                    last_beat: float) -> None:
        while not self._stopping:
            # record first: what went out is written down before this pass's beat and claim
            # (on SQLite both wait for the engine's batches): the window a kill can repeat
            pending = sum(len(p.results) for p in self.pumps.values())
            if pending >= 64 or (pending and time.monotonic() - last_record >= self.record_every):
                await self._record()
                last_record = time.monotonic()
            if time.monotonic() - last_beat >= self.beat_every:
                last_beat = time.monotonic()
                await self._beat()
                await self.leases.alive()
                for channel in [c for c in self.leading
                                if not self.leases.holds(f"sender:{c}")]:
                    self._lose(channel)  # the database dropped the lease with the connection
                await self._lead()
            self._wakeup.clear()  # before claiming: a wake from here on ends the idle wait
            busy = 0
            # claim when rows were queued (`wake`), when the last claim left rows due, and at
            # each poll (other processes write too); sends finishing only lead to a record
            if self._due or time.monotonic() - last_claim >= poll:
                # claims are write transactions, beside the engine's on the same lock: under
                # load at most one per `claim_gap`; a reply to an idle bot is claimed at once
                wait = last_claim + self.claim_gap - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._due = False
                last_claim = time.monotonic()
                for channel, pump in self.pumps.items():
                    # refill in batches, not one row per send: one claim per half window
                    if channel in self.leading and pump.in_memory <= self.window[channel] // 2:
                        busy += await self._fill(channel)
                self._due = self._due or not all(self.pumps[c].caught_up for c in self.leading)
            pending = sum(len(p.results) for p in self.pumps.values())  # recorded next pass
            if not busy:
                if not pending and not any(p.in_memory for p in self.pumps.values()):
                    self.idle.set()  # nothing claimed, nothing in flight, nothing to record
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(),
                                           self.record_every if pending else
                                           min(poll, self.beat_every))
                self.idle.clear()
        await self._finish()

    async def _beat(self) -> None:
        now = self.clock()
        assert self.owner is not None
        result = await beat(self.db, self.owner, now, now + self.lease, now - self.stale_after,
                            self._started)
        if result.given_back:
            self._due = True  # a gone worker's rows are due again
        if result.others == 0 and not self.alone:
            # alone again: rows the others queued may still wait; a claim must catch up
            # before replies are handed straight over (they could overtake those rows)
            for pump in self.pumps.values():
                pump.caught_up = False
            self._due = True
        self.alone = result.others == 0
        self._unaware = result.unaware

    def _lose(self, channel: str) -> None:
        """This process no longer sends `channel`: what waits here stops (the rows stay
        leased to us; the new sender gives them back when it takes the lease)."""
        self.leading.discard(channel)
        pump = self.pumps[channel]
        for task in list(pump.tasks.values()):
            task.cancel()
        pump.tasks.clear()
        pump.queues.clear()
        pump.held.clear()
        pump.in_memory = 0
        pump.caught_up = False

    async def _lead(self) -> None:
        """Take the sender lease of every channel nobody sends; what the previous sender held
        goes back to the queue at once (it is gone: its lease went with it)."""
        for channel in self.pumps:
            if channel in self.leading or not await self.leases.take(f"sender:{channel}"):
                continue
            self.leading.add(channel)
            assert self.owner is not None
            back = await take_over(self.db, channel, self.owner, self.clock())
            log.info("sending %s from this process%s", channel,
                     f"; {back} messages of the previous sender go out again" if back else "")
            self._due = True

    def _notified(self, payload: str) -> None:
        if payload in self.leading:  # another process wrote rows we send: claim, tell nobody
            self._due = True
            self._wakeup.set()

    def wake(self) -> None:
        """Rows became due (the engine committed replies, the scheduler wrote notifications):
        claim now rather than at the next poll; on channels another process sends, wake it."""
        self._due = True
        self._wakeup.set()
        if self._running and len(self.leading) < len(self.pumps):
            for channel in self.pumps:
                if channel not in self.leading and channel not in self._notify_pending:
                    # one NOTIFY on its way per channel: a burst of commits is one wake-up
                    self._notify_pending.add(channel)
                    task = asyncio.ensure_future(self._notify(channel))
                    self._notifying.add(task)
                    task.add_done_callback(self._notifying.discard)

    async def _notify(self, channel: str) -> None:
        try:
            await self.leases.notify(channel)
        finally:
            self._notify_pending.discard(channel)

    def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()

    # --- replies handed over by the engine (flows.outbox.Handoff) ----------------------------
    def accepts(self, channel: str, n: int) -> bool:
        pump = self.pumps.get(channel)
        if pump is None or not self._running or self._stopping or self.owner is None:
            return False
        if channel not in self.leading or not self.alone:
            return False
        if pump.caught_up and pump.in_memory + n <= self.window[channel]:
            return True
        pump.caught_up = False  # rows will be queued: claim them before taking more
        pump.refusals += 1
        return False

    def take(self, rows: list[OutRow]) -> None:
        for row in rows:
            self._enqueue(self.pumps[row.channel], row)
        self.idle.clear()

    async def receipt(self, channel: str, provider_id: str, status: ReceiptStatus, *,
                      row_id: int | None = None, error: str | None = None,
                      unreachable: str | None = None) -> str | None:
        """A platform's word on a message sent earlier (delivered, read, failed...): the row
        moves on, never backwards; `unreachable` marks the account. Returns the row's status
        (see `storage.outbox.apply_receipt`)."""
        return await apply_receipt(self.db, channel, provider_id, status, row_id=row_id,
                                   error=error, unreachable=unreachable)

    async def drain(self, *, limit_seconds: float = 30.0) -> int:
        """Send everything due now and wait for it (console, tests, scripts)."""
        sent = 0
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            claimed = sum([await self._fill(c) for c in self.pumps])
            running = [t for p in self.pumps.values() for t in p.tasks.values()]
            if running:
                await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
            sent += await self._record()
            if not claimed and not any(p.in_memory for p in self.pumps.values()):
                break
        return sent

    async def _finish(self) -> None:
        """A clean stop: the sends under way finish (for at most `stop_wait` seconds), what
        was sent is recorded, and the rows still waiting here go back to the queue."""
        running = [t for p in self.pumps.values() for t in p.tasks.values()]
        if running:
            await asyncio.wait(running, timeout=self.stop_wait)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        await self._record()
        unsent = sorted(i for p in self.pumps.values() for i in p.held)
        if self.owner is not None:
            await stop_worker(self.db, self.owner, self.clock(), unsent)

    # --- claiming --------------------------------------------------------------------------
    async def _fill(self, channel: str) -> int:
        pump = self.pumps[channel]
        room = self.window[channel] - pump.in_memory
        if room <= 0:
            return 0
        refusals = pump.refusals
        rows, found = await self._claim(channel, room)
        for row in rows:
            self._enqueue(pump, row)
        # SQLite: a batch that refused committed before the claim took the write lock, or
        # refuses after it; PostgreSQL has no such order, so a claim that overlapped a refusal
        # may have missed that batch's rows and does not count
        pump.caught_up = found < room and (self.db.is_sqlite or refusals == pump.refusals)
        return len(rows)

    def _enqueue(self, pump: _Pump, row: OutRow) -> None:
        pump.queues[row.address].append(row)
        pump.in_memory += 1
        pump.held.add(row.id)
        if row.address not in pump.tasks:
            pump.tasks[row.address] = asyncio.create_task(self._chain(pump, row.address))

    async def _claim(self, channel: str, limit: int) -> tuple[list[OutRow], int]:
        """The rows to send of those claimed, and how many were claimed."""
        now = self.clock()
        found = await claim(self.db, channel, limit, now, now + self.lease, self.owner)
        if not found:
            return [], 0
        cutoff = window_cutoff(now)
        rows, blocked = [], set()
        for r in found:
            if r.reachable is False:
                blocked.add(r.id)
            # the account's last inbound message; someone still registering has no account yet,
            # and a reply is written the moment the person wrote (even someone we have not met)
            last = r.last_inbound_at if r.account_id is not None else r.conv_updated_at
            replied = as_utc(r.created_at) if r.priority == PRIORITY_REPLY else None
            if replied is not None and (last is None or replied > as_utc(last)):
                last = replied
            rows.append(OutRow(r.id, r.channel, r.address, r.user_id, r.key,
                               Reply.from_payload(r.payload), r.priority, r.attempts,
                               r.broadcast_id,
                               locale=r.user_locale or r.conv_locale or self.locale,
                               window_open=last is not None and as_utc(last) > cutoff,
                               digest=r.digest, parts_sent=r.parts_sent))
        pump = self.pumps[channel]
        keep = []
        for row in rows:
            if row.id in pump.held:
                # still waiting here (a long pause outlived its lease): the claim just renewed
                # the lease; taking it again would send it twice
                continue
            if row.id in blocked:
                pump.results.append(_Result(row, "failed", error="unreachable"))
            else:
                keep.append(row)
        return keep, len(found)

    # --- sending ---------------------------------------------------------------------------
    async def _chain(self, pump: _Pump, address: str) -> None:
        queue = pump.queues[address]
        sender = pump.sender
        try:
            # stopping: the send under way finishes, nothing more is taken (what waits goes
            # back to the queue in `_finish`, never half-sent)
            while queue and not self._stopping:
                row = queue.popleft()
                if self._looping(row):
                    if not self._told_to_wait(row):
                        pump.results.append(_Result(row, "failed", error="loop guard"))
                        pump.in_memory -= 1
                        continue
                    # a person repeating themselves still gets an answer: once a minute,
                    # "tunggu sebentar" goes in place of the same reply again
                    row = replace(row, reply=Reply(text=render("delivery.slow_down",
                                                               row.locale)))
                bucket = None
                if sender.chat_rate:
                    bucket = pump.chat_buckets.get(address)
                    if bucket is None:
                        bucket = pump.chat_buckets[address] = TokenBucket(sender.chat_rate,
                                                                          sender.chat_burst)
                    await bucket.acquire(take=False)
                await pump.bucket.acquire()
                if bucket is not None:
                    # charge the chat when the message leaves: time spent waiting for the
                    # overall rate is not time the chat was quiet (else 4 can go at once)
                    bucket.take()
                result = await self._send(sender, row)
                if self.observe is not None:
                    self.observe(sender.channel, result.status, result.error)
                pump.results.append(result)
                pump.in_memory -= 1
                await asyncio.sleep(0)  # a sender that answers at once must not starve the engine
                if result.status != "sent":
                    if result.delay and sender.chat_rate:
                        pump.chat_buckets[address].pause(result.delay)
                    # keep the chat's order: what was behind a failed row waits with it
                    while queue:
                        rest = queue.popleft()
                        pump.in_memory -= 1
                        status = "failed" if result.unreachable else "retry"
                        pump.results.append(_Result(rest, status, error=result.error,
                                                    delay=result.delay,
                                                    unreachable=result.unreachable))
                self._wakeup.set()
        finally:
            pump.tasks.pop(address, None)
            if not queue:
                pump.queues.pop(address, None)
                if len(pump.chat_buckets) > 10_000:
                    pump.chat_buckets.clear()

    async def _send(self, sender: Sender, row: OutRow) -> _Result:
        try:
            provider_id = await sender.send(row)
        except Retryable as exc:
            delay = exc.retry_after if exc.retry_after is not None else _backoff(row.attempts)
            if exc.whole_channel:
                self.pumps[sender.channel].bucket.pause(delay)
            if exc.retry_after is None and row.attempts >= self.max_attempts:
                return _Result(row, "failed", error=f"gave up: {exc}", parts_done=exc.parts_done)
            return _Result(row, "retry", error=str(exc), delay=delay, parts_done=exc.parts_done)
        except Permanent as exc:
            return _Result(row, "failed", error=str(exc), unreachable=True)
        except Hold as exc:
            return _Result(row, "waiting", error=str(exc), parts_done=exc.parts_done)
        except Exception as exc:  # a bug in a sender must not kill the worker
            log.exception("sender %s failed on outbox row %s", sender.channel, row.id)
            if row.attempts >= self.max_attempts:
                return _Result(row, "failed", error=f"gave up: {type(exc).__name__}")
            return _Result(row, "retry", error=type(exc).__name__, delay=_backoff(row.attempts))
        return _Result(row, "sent", provider_id=provider_id)

    def _told_to_wait(self, row: OutRow) -> bool:
        """Whether this address may get the slow-down notice now (once a minute)."""
        now = time.monotonic()
        last = self._slowed.get((row.channel, row.address))
        if last is not None and now - last < 60:
            return False
        if len(self._slowed) > 10_000:
            self._slowed.clear()
        self._slowed[(row.channel, row.address)] = now
        return True

    def _looping(self, row: OutRow) -> bool:
        if row.broadcast_id is not None:
            return False
        seen = self._recent[(row.channel, row.address, row.digest)]
        now = time.monotonic()
        while seen and now - seen[0] > 60:
            seen.popleft()
        seen.append(now)
        return len(seen) > self.loop_limit

    # --- recording -------------------------------------------------------------------------
    async def _record(self) -> int:
        results: list[_Result] = []
        for pump in self.pumps.values():
            results.extend(pump.results)
            pump.results.clear()
            pump.held.difference_update(r.row.id for r in results)
        if not results:
            return 0
        now = self.clock()
        await record(self.db, [
            Outcome(r.row.id, "queued" if r.status == "retry" else r.status,
                    provider_id=r.provider_id, error=r.error,
                    next_at=now + timedelta(seconds=r.delay) if r.status != "sent" else None,
                    parts_sent=r.parts_done)
            for r in results],
            now, {(r.row.channel, r.row.address): r.error for r in results if r.unreachable})
        for r in results:
            if r.status == "failed":
                log.warning("outbox %s to %s failed: %s", r.row.id, r.row.channel, r.error)
        return sum(1 for r in results if r.status == "sent")


def _backoff(attempts: int) -> float:
    return min(300.0, 2.0 ** max(0, attempts - 1)) * random.uniform(0.8, 1.2)
