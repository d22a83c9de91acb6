"""The delivery worker: priority, pacing, retries, unreachable accounts, held rows, leases."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from bot.delivery import DeliveryWorker, Hold, OutRow, Permanent, Retryable, TokenBucket
from flows.outbox import PRIORITY_BROADCAST, PRIORITY_NOTIFY, PRIORITY_REPLY, Outgoing
from flows.types import Inbound, Reply
from storage.claims import start_worker
from storage.clock import utcnow
from storage.db import Database
from storage.models import ChannelAccount, Outbox, User, Worker
from tests.harness import Harness, StepClock, register_warga


@dataclass
class RecordingSender:
    """A sender that records what it was asked to send and fails on request."""

    channel: str = "console"
    rate: float = 1000.0
    chat_rate: float | None = None
    chat_burst: int = 1
    sent: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, list[Exception]] = field(default_factory=dict)
    rows: list[OutRow] = field(default_factory=list)

    async def send(self, row: OutRow) -> str | None:
        errors = self.fail.get(row.address)
        if errors:
            raise errors.pop(0)
        self.sent.append((row.address, row.reply.text))
        self.rows.append(row)
        return f"id-{row.id}"


async def enqueue(db: Database, rows: list[tuple[str, str, int]]) -> None:
    out = Outgoing()
    for address, text, priority in rows:
        out.add("console", address, None, "test", Reply(text=text), priority)
    async with db.transaction() as s:
        await out.write(s, utcnow())


async def statuses(db: Database) -> dict[str, str]:
    async with db.read() as s:
        rows = (await s.execute(select(Outbox.payload, Outbox.status))).all()
    return {r.payload["text"]: r.status for r in rows}


async def test_replies_go_before_notifications_and_broadcasts(any_db: Database) -> None:
    """Lower priority numbers are sent first, whatever the order they were queued in."""
    await enqueue(any_db, [("a", "broadcast", PRIORITY_BROADCAST), ("b", "notify", PRIORITY_NOTIFY),
                           ("c", "reply", PRIORITY_REPLY)])
    sender = RecordingSender()
    worker = DeliveryWorker(any_db, [sender])
    assert await worker.drain() == 3
    assert [text for _, text in sender.sent] == ["reply", "notify", "broadcast"]
    assert set((await statuses(any_db)).values()) == {"sent"}


async def test_one_chat_keeps_its_order(db: Database) -> None:
    """Messages to one address arrive in the order they were queued."""
    await enqueue(db, [("a", f"m{i}", PRIORITY_REPLY) for i in range(10)])
    sender = RecordingSender()
    await DeliveryWorker(db, [sender]).drain()
    assert [t for _, t in sender.sent] == [f"m{i}" for i in range(10)]


async def test_retry_after_waits_then_sends_once(db: Database) -> None:
    """A 429 puts the row (and what is behind it) back with the delay; later it goes once."""
    await enqueue(db, [("a", "first", 0), ("a", "second", 0)])
    sender = RecordingSender(fail={"a": [Retryable("429", retry_after=30)]})
    now = [utcnow()]
    worker = DeliveryWorker(db, [sender], clock=lambda: now[0])
    await worker.drain()
    assert sender.sent == []
    assert await statuses(db) == {"first": "queued", "second": "queued"}
    now[0] += timedelta(seconds=31)
    await worker.drain()
    assert [t for _, t in sender.sent] == ["first", "second"]


async def test_permanent_refusal_marks_the_account_unreachable(t: Harness) -> None:
    """A blocked bot stops sending to that address; a new message from it reopens it."""
    await register_warga(t, "budi")
    async with t.db.transaction() as s:
        await s.execute(update(Outbox).values(status="sent"))
    await enqueue(t.db, [("budi", "one", 1), ("budi", "two", 1)])
    sender = RecordingSender(fail={"budi": [Permanent("Forbidden: bot was blocked by the user")]})
    worker = DeliveryWorker(t.db, [sender])
    await worker.drain()
    async with t.db.read() as s:
        account = (await s.execute(select(ChannelAccount))).scalar_one()
    assert account.reachable is False and "blocked" in (account.unreachable_reason or "")
    assert set((await statuses(t.db)).values()) == {"failed", "sent"}
    await enqueue(t.db, [("budi", "three", 1)])
    await worker.drain()
    assert sender.sent == []  # nothing goes to an unreachable account
    await t.send("budi", "menu")
    async with t.db.read() as s:
        assert (await s.execute(select(ChannelAccount.reachable))).scalar() is True


async def test_held_rows_wait_for_the_next_inbound(db: Database) -> None:
    """A Hold (WhatsApp window closed) keeps the row waiting until the person writes again."""
    t = Harness.console(db)
    who = "whatsapp:whatsapp:+6281234567890"  # channel:address, and the address has a prefix
    await register_warga(t, who)
    async with db.transaction() as s:
        await s.execute(update(Outbox).values(status="sent"))
    out = Outgoing()
    out.add("whatsapp", "whatsapp:+6281234567890", None, "test", Reply(text="held"), 1)
    async with db.transaction() as s:
        await out.write(s, utcnow())
    sender = RecordingSender(channel="whatsapp",
                             fail={"whatsapp:+6281234567890": [Hold("outside 24h")]})
    worker = DeliveryWorker(db, [sender])
    await worker.drain()
    assert (await statuses(db))["held"] == "waiting"
    await t.send(who, "menu")
    assert (await statuses(db))["held"] == "queued"
    await worker.drain()
    assert ("whatsapp:+6281234567890", "held") in sender.sent
    await t.engine.stop()


async def test_claimed_rows_bring_the_recipients_language_and_window(any_db: Database) -> None:
    """A claimed row says the recipient's language (their user's, else their conversation's,
    else the worker's default) and whether they wrote within WhatsApp's 24 hours (their
    account's last message; someone still registering: their conversation's last change)."""
    clock = StepClock()
    t = Harness.console(any_db, clock=clock)
    await register_warga(t, "whatsapp:+6281200000001")
    await t.send("whatsapp:+6281200000002", "halo")  # still registering: no account yet
    async with any_db.transaction() as s:
        await s.execute(update(Outbox).values(status="sent"))
        await s.execute(update(User).values(locale="en"))
    sender = RecordingSender(channel="whatsapp")
    worker = DeliveryWorker(any_db, [sender], clock=clock, locale="en")

    async def claimed() -> dict[str, tuple[str, bool]]:
        out = Outgoing()
        for n in (1, 2, 3):
            out.add("whatsapp", f"+628120000000{n}", None, "test", Reply(text=f"{n}@{clock()}"),
                    PRIORITY_NOTIFY)
        async with any_db.transaction() as s:
            await out.write(s, clock())
        sender.rows.clear()
        await worker.drain()
        return {r.address: (r.locale, r.window_open) for r in sender.rows}

    assert await claimed() == {"+6281200000001": ("en", True), "+6281200000002": ("id", True),
                               "+6281200000003": ("en", False)}
    clock.advance(hours=23, minutes=57)
    assert {a: w for a, (_, w) in (await claimed()).items()} == {
        "+6281200000001": True, "+6281200000002": True, "+6281200000003": False}
    clock.advance(minutes=2)  # within two minutes of the 24 hours: closed, to be safe
    assert {a: w for a, (_, w) in (await claimed()).items()} == {
        "+6281200000001": False, "+6281200000002": False, "+6281200000003": False}
    await t.engine.stop()


async def test_gives_up_after_max_attempts(db: Database) -> None:
    """Transient failures are retried with backoff a bounded number of times, then failed."""
    await enqueue(db, [("a", "x", 0)])
    sender = RecordingSender(fail={"a": [Retryable("503")] * 10})
    now = [utcnow()]
    worker = DeliveryWorker(db, [sender], clock=lambda: now[0], max_attempts=3)
    for _ in range(4):
        await worker.drain()
        now[0] += timedelta(minutes=10)
    async with db.read() as s:
        row = (await s.execute(select(Outbox))).scalar_one()
    assert (row.status, row.attempts) == ("failed", 3)
    assert "gave up" in (row.last_error or "")


async def test_expired_lease_is_claimed_again(db: Database) -> None:
    """A row left 'sending' by a crashed process is sent after its lease runs out."""
    await enqueue(db, [("a", "lost", 0)])
    now = utcnow()
    async with db.transaction() as s:
        await s.execute(update(Outbox).values(status="sending",
                                              claimed_until=now - timedelta(seconds=1)))
    sender = RecordingSender()
    await DeliveryWorker(db, [sender]).drain()
    assert sender.sent == [("a", "lost")]


async def test_loop_guard_stops_identical_floods(db: Database) -> None:
    """More than 20 identical messages to one address within a minute are a loop (two bots
    answering each other, or a person repeating themselves): the first one over gets a polite
    "tunggu sebentar" instead, so a person is never left without an answer; the rest fail."""
    await enqueue(db, [("a", "same", 1)] * 25)
    sender = RecordingSender()
    await DeliveryWorker(db, [sender]).drain()
    assert [text for _, text in sender.sent[:20]] == ["same"] * 20
    assert len(sender.sent) == 21 and "Tunggu sebentar" in sender.sent[20][1]
    async with db.read() as s:
        errors = (await s.execute(select(Outbox.last_error).where(Outbox.status == "failed")))
        assert list(errors.scalars()) == ["loop guard"] * 4


async def test_token_bucket_paces() -> None:
    """A bucket of 10/s with burst 1 lets through about one token per 0.1 s of its clock."""
    ticks = [0.0]
    bucket = TokenBucket(10.0, 1.0, clock=lambda: ticks[0])
    await bucket.acquire()
    ticks[0] += 0.1
    await bucket.acquire()
    bucket.pause(5)
    assert bucket.paused_until == 5.1


async def test_engine_reply_reaches_the_sender(db: Database) -> None:
    """A message handled by the engine is delivered by the worker (the whole path)."""
    from flows.engine import Engine

    engine = Engine(db)
    await engine.handle(Inbound("console", "ani", "x1", text="halo"))
    sender = RecordingSender()
    await DeliveryWorker(db, [sender]).drain()
    assert sender.sent and "SIJAKON" in sender.sent[0][1]
    await engine.stop()


async def test_a_row_waiting_in_memory_is_not_claimed_twice(db: Database) -> None:
    """A row held past its lease (a long pause) is renewed, not taken a second time."""
    await enqueue(db, [("a", "once", 0)])
    now = [utcnow()]
    worker = DeliveryWorker(db, [RecordingSender()], clock=lambda: now[0],
                            lease=timedelta(seconds=10))
    assert await worker._fill("console") == 1  # claimed, now waiting in memory
    now[0] += timedelta(seconds=11)  # the lease runs out while it waits
    assert await worker._fill("console") == 0  # seen again: the lease is renewed, no copy
    pump = worker.pumps["console"]
    if pump.tasks:
        await asyncio.wait(list(pump.tasks.values()))
    await worker._record()
    now[0] += timedelta(seconds=11)
    assert await worker._fill("console") == 0  # recorded as sent: nothing left to claim
    sender = pump.sender
    assert isinstance(sender, RecordingSender) and sender.sent == [("a", "once")]


async def _until(cond: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_a_reply_is_handed_to_the_worker_without_a_claim(any_db: Database) -> None:
    """The engine writes a reply to someone who just wrote already leased to its worker and
    hands it over after the commit: it leaves at once though the worker claims nothing (it
    polls once an hour here and the engine does not wake it)."""
    from flows.engine import Engine

    sender = RecordingSender()
    worker = DeliveryWorker(any_db, [sender])
    task = asyncio.create_task(worker.run(poll=3600))
    await asyncio.wait_for(worker.idle.wait(), 5)  # the first claim: caught up
    engine = Engine(any_db, handoff=worker)  # no on_output: nothing wakes a claim
    try:
        await engine.handle(Inbound("console", "ani", "h1", text="halo"))
        await _until(lambda: sender.sent)
        assert "SIJAKON" in sender.sent[0][1]
        assert sender.rows[0].window_open and sender.rows[0].locale == "id"
        await _until(lambda: worker.idle.is_set())  # recorded
        async with any_db.read() as s:
            row = (await s.execute(select(Outbox.status, Outbox.attempts, Outbox.provider_id)
                                   )).one()
        assert tuple(row) == ("sent", 1, f"id-{sender.rows[0].id}")
    finally:
        await engine.stop()
        worker.stop()
        await task


@dataclass
class LostHandover:
    """A worker that dies between the engine's commit and the handover."""

    lease: timedelta = timedelta(minutes=2)
    owner: int | None = None

    def accepts(self, channel: str, n: int) -> bool:
        return True

    def take(self, rows: list[object]) -> None:
        raise RuntimeError("process killed")


async def test_a_reply_lost_before_the_handover_is_claimed_when_its_lease_ends(
        db: Database) -> None:
    from flows.engine import Engine

    engine = Engine(db, handoff=LostHandover())
    await engine.handle(Inbound("console", "ani", "l1", text="halo"))
    await engine.stop()
    sender = RecordingSender()
    now = utcnow()
    await DeliveryWorker(db, [sender], clock=lambda: now).drain()
    assert sender.sent == []  # leased to the lost worker
    later = now + timedelta(minutes=2, seconds=1)
    await DeliveryWorker(db, [sender], clock=lambda: later).drain()
    assert len(sender.sent) == 1 and "SIJAKON" in sender.sent[0][1]


async def test_the_worker_takes_replies_only_when_nothing_older_is_due(db: Database) -> None:
    """Handing a reply over while older rows wait in the database could send it first: the
    worker refuses until a claim has found everything due, and while its window is full."""
    worker = DeliveryWorker(db, [RecordingSender()], window_seconds=0.01)  # 10 rows
    assert not worker.accepts("console", 1)  # not running
    worker._running, worker.owner, worker.leading = True, 1, {"console"}  # the sender, alone
    assert not worker.accepts("console", 1)  # nothing claimed yet since the start
    await enqueue(db, [("a", "older", 0)])
    await worker._fill("console")
    assert worker.accepts("console", 1)  # the claim found less than it asked for
    assert not worker.accepts("console", 10)  # no room for ten more
    assert not worker.accepts("console", 1)  # and now rows are queued behind the refusal
    assert not worker.accepts("telegram", 1)  # no such channel here
    worker._running = False


@dataclass
class StuckSender(RecordingSender):
    """A sender whose first send never returns (a process frozen, then killed)."""

    stuck: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, row: OutRow) -> str | None:
        if not self.stuck.is_set():
            self.stuck.set()
            await asyncio.Event().wait()
        return await super().send(row)


async def _row_status(db: Database) -> list[tuple[str, int | None]]:
    async with db.read() as s:
        rows = await s.execute(select(Outbox.status, Outbox.claimed_by).order_by(Outbox.id))
        return [(r.status, r.claimed_by) for r in rows]


async def test_a_restarted_worker_sends_what_its_previous_life_held_at_once(
        any_db: Database) -> None:
    """Killed while a reply was claimed: the next life of the same worker (same name) sends it
    as soon as it starts, not when the lease runs out."""
    await enqueue(any_db, [("a", "held", 0)])
    stuck = StuckSender()
    first = DeliveryWorker(any_db, [stuck], name="bot-1")
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(stuck.stuck.wait(), 5)
    task.cancel()  # kill -9: no clean stop, the row stays "sending", held by the first life
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await _row_status(any_db) == [("sending", first.owner)]
    sender = RecordingSender()
    second = DeliveryWorker(any_db, [sender], name="bot-1")  # lease 30 s: not waited for
    task = asyncio.create_task(second.run())
    try:
        await _until(lambda: sender.sent, 3)
        assert sender.sent == [("a", "held")]
    finally:
        second.stop()
        await task


async def test_a_new_sender_sends_what_the_previous_one_held_at_once(db: Database) -> None:
    """The channel's sender died holding a row: the process that takes the sender lease next
    sends it at once (the lease went with the dead one), without waiting for its beat to go
    stale."""
    await enqueue(db, [("a", "orphan", 0)])
    now = [utcnow()]
    gone = DeliveryWorker(db, [RecordingSender()], name="bot-a", clock=lambda: now[0])
    gone.owner, _ = await start_worker(db, "bot-a", now[0])
    assert await gone._fill("console") == 1  # claimed; then the process dies
    for t in gone.pumps["console"].tasks.values():
        t.cancel()
    sender = RecordingSender()
    live = DeliveryWorker(db, [sender], name="bot-b", clock=lambda: now[0])
    task = asyncio.create_task(live.run())
    try:
        await _until(lambda: sender.sent, 3)
        assert sender.sent == [("a", "orphan")]
    finally:
        live.stop()
        await task


async def test_a_worker_without_a_beat_loses_its_rows_to_the_sender(db: Database) -> None:
    """A worker that is not the sender holds rows (it lost its lease) and stopped beating:
    after `stale_after`, the sender's beat gives them back and they go out."""
    now = [utcnow()]
    sender = RecordingSender()
    live = DeliveryWorker(db, [sender], name="bot-b", clock=lambda: now[0],
                          stale_after=timedelta(seconds=10))
    task = asyncio.create_task(live.run(poll=3600))
    try:
        await asyncio.wait_for(live.idle.wait(), 5)  # its first claim found nothing
        await enqueue(db, [("a", "orphan", 0)])  # nobody wakes the sender: no claim yet
        now[0] = utcnow()
        gone = DeliveryWorker(db, [RecordingSender()], name="bot-a", clock=lambda: now[0])
        gone.owner, _ = await start_worker(db, "bot-a", now[0])
        assert await gone._fill("console") == 1  # claimed; then the process dies
        for t in gone.pumps["console"].tasks.values():
            t.cancel()
        await asyncio.sleep(1.5)  # a beat of the sender: a-'s beat is fresh, its row stays
        assert sender.sent == []
        now[0] += timedelta(seconds=11)
        await _until(lambda: sender.sent, 5)
        assert sender.sent == [("a", "orphan")]
    finally:
        live.stop()
        await task


async def test_a_clean_stop_gives_back_what_waits_in_memory(db: Database) -> None:
    """SIGTERM: what was sent is recorded, what still waits for its turn goes back to the
    queue at once (no lease to wait out), within `stop_wait`."""
    await enqueue(db, [("a", f"m{i}", 0) for i in range(5)])
    slow = RecordingSender(rate=2.0)  # one message every half second
    worker = DeliveryWorker(db, [slow], name="bot-1", stop_wait=0.2)
    task = asyncio.create_task(worker.run())
    await _until(lambda: slow.sent, 5)
    before = len(slow.sent)
    worker.stop()
    await asyncio.wait_for(task, 2)
    statuses = await _row_status(db)
    sent = sum(1 for st, _ in statuses if st == "sent")
    assert sent == len(slow.sent) and sent < 5
    assert len(slow.sent) <= before + 1  # at most the send under way; nothing taken after
    assert all(row == ("queued", None) for row in statuses if row[0] != "sent")
    async with db.read() as s:
        assert (await s.execute(select(Worker.stopped_at))).scalar_one() is not None
