"""The engine's statements on the raw driver write what SQLAlchemy would, and read by index.

`storage.hotpath` serialises JSON and times itself; if its format ever drifted from
SQLAlchemy's, the ORM and the admin CLI would read other values than the engine wrote. So
each row it writes is compared, column by column as the database holds it, with the same row
written through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from storage.db import Database
from storage.hotpath import BatchWrites, SqliteHotPath, hot_path
from storage.models import AuditLog, Conversation, Outbox
from storage.outbox import mark_unreachable
from storage.sql import table
from tests.harness import Harness, StepClock

LEASE = datetime(2026, 12, 2, 3, 6, 5, 678901, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=UTC)
DATA = {"_tag": 3, "_choices": [["3:a", "Satu"], ["3:b", "Dua \"kutip\""]], "nama": "Budi é"}
PAYLOAD = {"text": "Halo *Budi*", "choices": [["3:a", "Satu"]], "media": ["a.jpg"]}


async def _raw(db: Database, sql: str) -> list[tuple[Any, ...]]:
    """Column values as the database stores them (text, not what the ORM makes of it)."""
    async with db.read() as s:
        return [tuple(r) for r in await s.execute(text(sql))]


async def test_rows_are_byte_identical_to_sqlalchemy(any_db: Database) -> None:
    cast = "" if any_db.is_sqlite else "::text"
    async with any_db.transaction() as s:
        for address in ("orm", "hot"):
            await s.execute(insert(table(Conversation)).values(
                channel="console", address=address, flow="start", step="start.new", data={},
                locale="id", version=0, updated_at=NOW))
    async with any_db.write() as conn:  # through SQLAlchemy Core, as the engine used to
        c = table(Conversation)
        await conn.execute(update(c).where(c.c.address == "orm").values(
            flow="menu", step="menu.home", data=DATA, locale="en", user_id=None,
            version=c.c.version + 1, updated_at=NOW))
        await conn.execute(insert(table(Outbox)).values(
            channel="console", address="orm", user_id=7, key="menu.home", payload=PAYLOAD,
            priority=0, status="queued", attempts=0, next_attempt_at=NOW, created_at=NOW))
        await conn.execute(insert(table(Outbox)).values(  # a reply handed to the worker
            channel="console", address="orm", user_id=7, key="menu.home", payload=PAYLOAD,
            priority=0, status="sending", attempts=1, next_attempt_at=NOW, created_at=NOW,
            claimed_until=LEASE))
        await conn.execute(insert(table(AuditLog)).values(
            actor="user:7", action="message", subject_type="user", subject_id=7,
            detail={"from": "a", "to": "b"}, channel="console", at=NOW))
    async with any_db.write() as conn:  # through the hot path
        sql = await hot_path(conn)
        [hot] = await sql.fetch([("console", "hot")])
        leased = await sql.write(BatchWrites(
            conversations=[(hot.id, "menu", "menu.home", DATA, "en", None)],
            outbox=[("console", "hot", 7, "menu.home", PAYLOAD, 0, None, None),
                    ("console", "hot", 7, "menu.home", PAYLOAD, 0, LEASE, None)],
            audit=[("user:7", "message", "user", 7, {"from": "a", "to": "b"}, "console")],
            touched=[]), NOW)

    conv = await _raw(any_db, f"SELECT flow, step, data{cast}, locale, version, "
                              f"updated_at{cast} FROM conversation ORDER BY address DESC")
    assert conv[0] == conv[1]  # "orm", then "hot"
    out = await _raw(any_db, f"SELECT user_id, key, payload{cast}, priority, status, attempts, "
                             f"next_attempt_at{cast}, created_at{cast}, claimed_until "
                             "FROM outbox ORDER BY id")
    assert len(out) == 4 and out[0] == out[2] and out[1] == out[3]
    ids = await _raw(any_db, "SELECT id, payload FROM outbox ORDER BY id")
    # the leased row's id comes back, with the digest a claim computes from the stored text
    assert [i for i, _ in leased] == [ids[3][0]]
    stored = ids[3][1] if isinstance(ids[3][1], str) else None
    if stored is not None:
        assert leased[0][1] == hash(stored)
    audit = await _raw(any_db, f"SELECT actor, action, subject_type, subject_id, detail{cast}, "
                               f"channel, at{cast} FROM auditlog ORDER BY id")
    assert len(audit) == 2 and audit[0] == audit[1]


async def test_conversations_are_read_through_the_index(db: Database) -> None:
    """SQLite 3.40 scanned the whole table for `(channel, address) IN (VALUES ...)`."""
    async with db.write() as conn:
        keys = [("console", "a"), ("telegram", "b"), ("telegram", "c")]
        query, params = SqliteHotPath.fetch_sql(keys)
        plan = [r[-1] for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}",
                                                          tuple(params))]
        searches = [p for p in plan if p.startswith("SEARCH c ")]
        assert len(searches) == 2, plan  # one per channel, each by (channel, address)
        assert all("(channel=? AND address=?)" in p for p in searches), plan
        assert not any(p.startswith("SCAN") for p in plan), plan
        assert await (await hot_path(conn)).fetch(keys) == []


async def test_a_held_message_goes_when_its_person_writes_again(any_db: Database) -> None:
    """The account touch is skipped for someone seen a moment ago, but never when a message
    waits for them: it is released by their next message, however soon that comes."""
    clock = StepClock(NOW)
    t = Harness.console(any_db, clock=clock)
    await t.setup_state("budi", step="menu.home", user=True)
    await t.send("budi", "menu")
    async with any_db.transaction() as s:  # a notification the platform held back
        await s.execute(insert(table(Outbox)).values(
            channel="console", address="budi", user_id=None, key="test.held",
            payload={"text": "Pesan yang tertahan"}, priority=1, status="waiting",
            attempts=1, next_attempt_at=NOW, created_at=NOW))
    clock.advance(seconds=5)
    await t.send("budi", "menu")
    assert "Pesan yang tertahan" in t.texts("budi")
    await t.engine.stop()


async def test_an_account_seen_long_ago_is_touched(any_db: Database) -> None:
    clock = StepClock(NOW)
    t = Harness.console(any_db, clock=clock)
    await t.setup_state("budi", step="menu.home", user=True)
    await t.send("budi", "menu")
    seen = await _raw(any_db, "SELECT last_seen_at FROM channelaccount")
    clock.advance(seconds=30)
    await t.send("budi", "menu")  # fresh: not written again
    assert await _raw(any_db, "SELECT last_seen_at FROM channelaccount") == seen
    clock.advance(minutes=2)
    await t.send("budi", "menu")
    assert await _raw(any_db, "SELECT last_seen_at FROM channelaccount") != seen
    await t.engine.stop()


async def test_a_refused_account_is_reachable_again_when_its_person_writes(
        any_db: Database) -> None:
    """However soon after their last message: the touch's freshness check is made in the
    UPDATE itself, so a refusal recorded meanwhile is undone."""
    clock = StepClock(NOW)
    t = Harness.console(any_db, clock=clock)
    await t.setup_state("budi", step="menu.home", user=True)
    await t.send("budi", "menu")
    async with any_db.write() as conn:
        await mark_unreachable(conn, {("console", "budi"): "bot blocked"})
    clock.advance(seconds=5)
    await t.send("budi", "menu")
    assert await _raw(any_db, "SELECT reachable, unreachable_reason FROM channelaccount") \
        in ([(True, None)], [(1, None)])
    assert "Menu utama" in t.last("budi").text
    await t.engine.stop()


async def test_the_workers_beat_reads_live_outbox_rows_only(db: Database) -> None:
    """Every second each worker renews its leases and looks for rows of gone workers: through
    the partial index over live rows, never a scan of the whole history."""
    from storage.claims import _GIVE_BACK, _HELD

    statements = [_GIVE_BACK.format(which="beat_at < 0"),
                  f"UPDATE outbox SET claimed_until = :until WHERE {_HELD} AND claimed_by = 1"]
    async with db.write() as conn:
        for sql in statements:
            sql = sql.replace(":now", "0").replace(":until", "0")
            plan = [r[-1] for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            assert "SCAN outbox USING INDEX ix_outbox_claim" in plan, plan
            assert "SCAN outbox" not in plan, plan


def _file(db: Database) -> str:
    return str(make_url(db.url).database)


def _another_writer_is_locked_out(db: Database) -> bool:
    """Whether a second connection (as another process would) cannot start writing now."""
    other = sqlite3.connect(_file(db), timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    finally:
        other.close()


async def test_a_write_transaction_takes_the_write_lock_with_its_first_statement(
        db: Database) -> None:
    """BEGIN IMMEDIATE is sent with the first statement (one hop fewer), and it is still
    IMMEDIATE: from the first read on, on the driver or through a session, nobody else writes."""
    async with db.write() as conn:
        await (await hot_path(conn)).fetch([("console", "nobody")])
        assert _another_writer_is_locked_out(db)
    assert not _another_writer_is_locked_out(db)
    async with db.transaction() as s:
        await s.execute(text("SELECT count(*) FROM conversation"))
        assert _another_writer_is_locked_out(db)
    assert not _another_writer_is_locked_out(db)


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(
        db: Database) -> None:
    """The pool no longer rolls back every connection it takes back: one whose transaction is
    still open is rolled back all the same, and what it wrote is gone."""
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute("INSERT INTO processedupdate (channel, external_id, received_at) "
                             "VALUES ('console', 'left-open', '2026-12-02 03:04:05.000000')")
    assert not _another_writer_is_locked_out(db)
    assert await _raw(db, "SELECT external_id FROM processedupdate") == []


SLOW = ("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 5000000) "
        "SELECT count(*) FROM r")


async def test_a_statement_cut_short_says_so(db: Database) -> None:
    """A read given up after its time (the health check's) raises TimeoutError, and a batch
    cancelled mid-statement (shutdown) raises CancelledError: nothing else in their way."""
    async def read() -> None:
        async with db.read() as s:
            await s.execute(text(SLOW))

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute(text(SLOW))

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read(), 0.05)
    task = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("first", ["sqlalchemy", "driver"])
async def test_a_begin_refused_never_lets_a_statement_run_outside_a_transaction(
        db: Database, first: str) -> None:
    """Another process holds the write lock past the busy timeout: the first statement fails;
    a caller that goes on in the same transaction still writes inside it (rolled back)."""
    async with db.engine.connect() as conn:  # the pooled writer, made patient for 0.1 s only
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute("PRAGMA busy_timeout=100")
    holder = sqlite3.connect(_file(db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(RuntimeError, match="undo"):
        async with db.write() as conn:
            with pytest.raises((OperationalError, sqlite3.OperationalError), match="locked"):
                if first == "sqlalchemy":
                    await conn.execute(text("SELECT 1"))
                else:
                    await (await hot_path(conn)).fetch([("console", "nobody")])
            holder.execute("ROLLBACK")
            await conn.execute(text(
                "INSERT INTO processedupdate (channel, external_id, received_at) "
                "VALUES ('console', 'kept?', '2026-12-02 03:04:05.000000')"))
            raise RuntimeError("undo")
    holder.close()
    assert await _raw(db, "SELECT external_id FROM processedupdate") == []
