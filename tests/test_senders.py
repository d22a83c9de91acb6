"""Several bot processes on one database (Step 4, docs/scale.md): one sender per channel.

Each "process" here is its own `Database` (its own connections) and `DeliveryWorker` on the
same database, as two `sijakon-bot run` would be; tests/test_two_processes.py runs the real
thing. What is shown: only the lease holder sends, in order per person; rows written by the
others reach it (PostgreSQL wakes it with NOTIFY); a standby takes over within a beat of the
sender's end and sends what it held at once; replies are handed straight over only by a
sender alone on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.delivery import DeliveryWorker
from storage.db import Database
from tests.test_delivery import RecordingSender, StuckSender, _until, enqueue


@pytest.fixture
async def other(any_db: Database) -> AsyncIterator[Database]:
    """A second process's view of the same database."""
    second = Database(any_db.url)
    yield second
    await second.close()


async def _running(worker: DeliveryWorker, poll: float = 0.25) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.run(poll=poll))
    await asyncio.wait_for(worker.ready.wait(), 10)
    return task


async def _stop(*pairs: tuple[DeliveryWorker, asyncio.Task[None]]) -> None:
    for worker, task in pairs:
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def test_only_the_lease_holder_sends_in_order(any_db: Database, other: Database) -> None:
    """Two processes' workers: the first takes the channel, the second sends nothing; every
    row goes out once, each person's in the order written."""
    first_sender, second_sender = RecordingSender(), RecordingSender()
    first = DeliveryWorker(any_db, [first_sender], name="bot-1", beat_every=0.2)
    a = await _running(first)
    second = DeliveryWorker(other, [second_sender], name="bot-2", beat_every=0.2)
    b = await _running(second)
    try:
        assert first.leading == {"console"} and second.leading == set()
        rows = [(f"p{i % 4}", f"m{i:02d}", 0) for i in range(24)]
        await enqueue(other, rows[:12])
        second.wake()  # the second process wrote them: it wakes the sender
        await enqueue(any_db, rows[12:])
        first.wake()
        await _until(lambda: len(first_sender.sent) == 24, 10)
        assert second_sender.sent == []
        for person in ("p0", "p1", "p2", "p3"):
            mine = [t for a_, t in first_sender.sent if a_ == person]
            assert mine == sorted(mine) and len(mine) == 6
    finally:
        await _stop((second, b), (first, a))


async def test_rows_another_process_wrote_wake_the_sender(any_db: Database,
                                                          other: Database) -> None:
    """The sender polls once an hour here: a row the other process wrote still leaves at once,
    woken by the other process (PostgreSQL NOTIFY; SQLite has no such signal and polls)."""
    if any_db.is_sqlite:
        pytest.skip("SQLite has no NOTIFY: a sender on SQLite finds others' rows by polling")
    sender = RecordingSender()
    first = DeliveryWorker(any_db, [sender], name="bot-1")
    a = await _running(first, poll=3600)
    second = DeliveryWorker(other, [RecordingSender()], name="bot-2")
    b = await _running(second, poll=3600)
    try:
        await asyncio.wait_for(first.idle.wait(), 5)
        await enqueue(other, [("p", "from the other process", 0)])
        started = time.monotonic()
        second.wake()
        await _until(lambda: sender.sent, 3)
        assert sender.sent == [("p", "from the other process")]
        assert time.monotonic() - started < 1.0
    finally:
        await _stop((second, b), (first, a))


async def test_a_standby_takes_over_and_sends_what_the_sender_held(
        any_db: Database, other: Database) -> None:
    """The sender dies holding a row (its send hangs; the process goes): the standby takes
    the channel within a beat and sends the row at once, not after the 30-second lease."""
    await enqueue(any_db, [("p", "held", 0)])
    stuck = StuckSender()
    first = DeliveryWorker(any_db, [stuck], name="bot-1", beat_every=0.2)
    a = await _running(first)
    await asyncio.wait_for(stuck.stuck.wait(), 5)
    sender = RecordingSender()
    second = DeliveryWorker(other, [sender], name="bot-2", beat_every=0.2)
    b = await _running(second)
    assert second.leading == set()
    a.cancel()  # the first process dies: its lease goes with it
    with contextlib.suppress(asyncio.CancelledError):
        await a
    started = time.monotonic()
    try:
        await _until(lambda: sender.sent, 5)
        assert sender.sent == [("p", "held")] and stuck.sent == []
        assert time.monotonic() - started < 2.0
        assert second.leading == {"console"}
    finally:
        await _stop((second, b))


async def test_replies_are_handed_over_only_by_a_sender_alone(any_db: Database,
                                                              other: Database) -> None:
    """Alone, the sender takes the engine's replies straight over; once another process is
    on the database it refuses them (they are queued and claimed, in order with the rows the
    other process queued), and the other process, not sending, refuses them too."""
    first = DeliveryWorker(any_db, [RecordingSender()], name="bot-1", beat_every=0.2)
    a = await _running(first)
    try:
        await asyncio.wait_for(first.idle.wait(), 5)
        assert first.accepts("console", 1)
        second = DeliveryWorker(other, [RecordingSender()], name="bot-2", beat_every=0.2)
        b = await _running(second)
        try:
            assert not first.accepts("console", 1)  # it learnt of the second at its beat
            assert not second.accepts("console", 1)
        finally:
            await _stop((second, b))
        await _until(lambda: first.alone, 5)  # the second stopped cleanly
    finally:
        await _stop((first, a))


def _pg_only(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's leases: the SQLite file lock dies only with the process")


async def test_a_sender_that_loses_its_connection_stops_sending(any_db: Database,
                                                                other: Database) -> None:
    """The server drops the lease's connection (a restart, a failover, a network cut): the
    sender sees it at its next beat and stops sending on it; whichever process takes the
    lease next (the standby, or the first one again on a new connection) sends. Never two."""
    _pg_only(any_db)
    first_sender, second_sender = RecordingSender(), RecordingSender()
    first = DeliveryWorker(any_db, [first_sender], name="bot-1", beat_every=0.2)
    a = await _running(first)
    second = DeliveryWorker(other, [second_sender], name="bot-2", beat_every=0.2)
    b = await _running(second)
    try:
        old = first.leases._conn
        async with other.write() as conn:
            await conn.exec_driver_sql(
                f"SELECT pg_terminate_backend({int(old.get_server_pid())})")
        # the first has noticed (its beat found the connection gone) and one of them sends
        await _until(lambda: first.leases._conn is not old
                     and len(first.leading) + len(second.leading) == 1, 5)
        sender, idle = ((first_sender, second_sender) if first.leading
                        else (second_sender, first_sender))
        await enqueue(other, [("p", "after the cut", 0)])
        second.wake()
        first.wake()
        await _until(lambda: sender.sent, 5)
        await asyncio.sleep(0.5)
        assert sender.sent == [("p", "after the cut")] and idle.sent == []
    finally:
        await _stop((second, b), (first, a))


@dataclass
class Other(RecordingSender):
    channel: str = "other"


async def test_processes_sending_one_channel_each_do_not_wake_each_other_forever(
        any_db: Database, other: Database) -> None:
    """One process sends each channel: a wake-up goes to the other once, and ends there
    (it used to bounce between them thousands of times a second)."""
    _pg_only(any_db)
    from storage.leader import Leases

    held = Leases(other.url)
    assert await held.take("sender:other")  # the second process will send "other"
    first = DeliveryWorker(any_db, [RecordingSender(), Other()], name="bot-1")
    a = await _running(first)
    second = DeliveryWorker(other, [RecordingSender(), Other()], name="bot-2", leases=held)
    b = await _running(second)
    heard: list[str] = []
    ear = Leases(any_db.url)
    await ear.listen(heard.append)
    try:
        assert first.leading == {"console"} and second.leading == {"other"}
        await asyncio.sleep(0.3)
        heard.clear()
        first.wake()
        await asyncio.sleep(1.0)
        assert heard == ["other"]
    finally:
        await ear.close()
        await _stop((second, b), (first, a))


async def test_a_lease_taken_before_listening_still_hears(any_db: Database) -> None:
    """A poller's lease opens the connection first; listening on it afterwards still works."""
    _pg_only(any_db)
    from storage.leader import Leases

    mine, theirs = Leases(any_db.url), Leases(any_db.url)
    heard: list[str] = []
    try:
        assert await mine.take("poller:telegram")
        await mine.listen(heard.append)
        await theirs.notify("telegram")
        await _until(lambda: heard, 3)
        assert heard == ["telegram"]
    finally:
        await mine.close()
        await theirs.close()
