"""A bounded outbox: rows older than the retention are pruned a chunk per scheduler tick, never
a queued or sending one; the quarterly report's broadcast figures and the Pasal 9 delivery
check read the same after pruning; SIJAKON_OUTBOX_RETENTION_DAYS is checked and wired in.

History of months is written straight to the tables (a clock-driven test cannot replay it),
dated on a Batam clock; the pruner, the report and the admin CLI run as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from admin_cli.app import app
from admin_cli.report_quarterly import build_tables
from bot.delivery import DeliveryWorker
from bot.runtime import flow_config
from bot.scheduler import Scheduler
from bot.settings import SettingsError, load_settings
from flows import broadcast as bc
from flows.context import FlowConfig
from flows.timers import OUTBOX_FINAL, PRUNE_CHUNK, oldest_prunable
from storage.clock import WIB
from storage.db import Database
from storage.models import Broadcast, Complaint, Outbox
from storage.reports import Quarter, quarterly_report
from storage.sql import table
from tests.admin.conftest import Admin, make_complaint, make_job, make_tukang
from tests.factories import NOW, make_crowd
from tests.harness import Harness, StepClock, register_warga
from tests.test_broadcast import RecordingSender

KEEP = timedelta(days=120)
CONFIG = FlowConfig(outbox_keep=KEEP)
Q3 = Quarter(2026, 3)


def wib(month: int, day: int, year: int = 2026) -> datetime:
    """10:00 on a Batam clock, as aware UTC."""
    return datetime(year, month, day, 10, 0, tzinfo=WIB).astimezone(UTC)


async def add_rows(db: Database, rows: list[tuple[str, str, datetime]], *,
                   key: str = "test.note") -> None:
    """Outbox rows (address, status, created at) to console addresses, as sent messages."""
    async with db.transaction() as s:
        await s.execute(insert(table(Outbox)), [
            {"channel": "console", "address": address, "key": key, "payload": {"text": "x"},
             "priority": 1, "status": status, "attempts": 1, "next_attempt_at": at,
             "created_at": at} for address, status, at in rows])


async def left(db: Database) -> list[tuple[str, str]]:
    """(address, status) of every outbox row, by address."""
    async with db.read() as s:
        return sorted((r.address, r.status) for r in (await s.execute(
            select(Outbox.address, Outbox.status))).all())


async def prune(db: Database, at: datetime, config: FlowConfig = CONFIG) -> int:
    """One scheduler tick at `at`: how many outbox rows it pruned."""
    return (await Scheduler(db, config, clock=lambda: at).tick())["prune_outbox"]


# --- what goes and what stays ---------------------------------------------------------------


async def test_only_old_rows_in_a_final_status_go(any_db: Database) -> None:
    """Rows older than the retention go when nothing will move them any more (sent... and a
    "waiting" row whose person never wrote back); queued and sending rows stay however old,
    and so does everything younger than the retention."""
    db = any_db
    old, young = NOW - KEEP - timedelta(days=1), NOW - KEEP + timedelta(hours=1)
    statuses = (*OUTBOX_FINAL, "queued", "sending")
    await add_rows(db, [(f"{st}-old", st, old) for st in statuses]
                   + [(f"{st}-young", st, young) for st in statuses]
                   + [("sent-at-the-edge", "sent", NOW - KEEP)])
    assert await prune(db, NOW) == len(OUTBOX_FINAL)
    assert await left(db) == sorted(
        [(f"{st}-young", st) for st in statuses]
        + [("queued-old", "queued"), ("sending-old", "sending"), ("sent-at-the-edge", "sent")])
    assert await prune(db, NOW) == 0


async def test_a_long_history_goes_a_chunk_per_tick(any_db: Database) -> None:
    """12,000 old rows go in ticks of at most 5,000, oldest first; then nothing more."""
    db = any_db
    start = NOW - KEEP - timedelta(days=30)
    await add_rows(db, [(f"p{i:05d}", "sent", start + timedelta(minutes=i))
                        for i in range(12_000)])
    assert PRUNE_CHUNK == 5000
    assert await prune(db, NOW) == 5000
    rest = await left(db)
    assert len(rest) == 7000 and rest[0] == ("p05000", "sent")  # the oldest went first
    assert [await prune(db, NOW) for _ in range(3)] == [5000, 2000, 0]
    assert await left(db) == []


async def test_the_pruner_reads_the_created_at_index(db: Database) -> None:
    """SQLite finds the oldest prunable rows through ix_outbox_created (no scan of the table,
    no sort), so each tick stays short however long the history."""
    stmt = oldest_prunable(NOW, KEEP)
    async with db.read() as s:
        conn = await s.connection()
        compiled = stmt.compile(dialect=conn.dialect,
                                compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[k] for k in compiled.positiontup or ())
        plan = " ".join(str(r[-1]) for r in (await conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {compiled}", params)).all())
    assert "USING INDEX ix_outbox_created" in plan and "TEMP B-TREE" not in plan, plan


# --- the quarterly report after pruning -----------------------------------------------------


async def broadcast_to(db: Database, batches: list[tuple[datetime, int]], text: str) -> int:
    """A broadcast to everyone, created at the first time of `batches` and enqueued in
    batches of (time, people), like an interrupted `send` the scheduler carried on."""
    first = batches[0][0]
    async with db.transaction() as s:
        b = await bc.create(s, text=text, audience=None, template_sid=None, article_id=None,
                            image=None, created_by="siti", now=first)
        assert b.id is not None and await bc.start(s, b.id, first)
        broadcast_id = b.id
    for at, people in batches:
        async with db.transaction() as s:
            await bc.enqueue_batch(s, broadcast_id, at, limit=people)
    return broadcast_id


async def mark(db: Database, broadcast_id: int, statuses: dict[str, str]) -> None:
    """What became of each person's message (address -> status), as the worker and the
    receipts leave it."""
    async with db.transaction() as s:
        for address, status in statuses.items():
            await s.execute(update(Outbox).where(Outbox.broadcast_id == broadcast_id,
                                                 Outbox.address == address)
                            .values(status=status))


async def report_tables(db: Database, quarter: Quarter) -> tuple[dict[str, Any], dict[str, str]]:
    """The broadcast figures of the quarterly report and its two broadcast tables (CSV), as
    the officer gets them from `report quarterly`."""
    async with db.read() as s:
        report = await quarterly_report(s, quarter)
    tables = build_tables(report, quarter)
    return report, {name: tables[name].csv() for name in ("siaran", "siaran_status")}


async def test_quarter_figures_are_the_same_after_pruning(any_db: Database,
                                                          tmp_path: Path) -> None:
    """A quarter's broadcasts read the same in the report after their rows are pruned, wholly
    (July) or in part (a broadcast enqueued on 20 August and carried on 20 September);
    `db stats` shows what was pruned."""
    db = any_db
    await make_crowd(db, [("console", f"p{i}", NOW, "id") for i in range(6)])
    july = await broadcast_to(db, [(wib(7, 10), 6)], "Pelatihan K3 gratis.")
    august = await broadcast_to(db, [(wib(8, 20), 3), (wib(9, 20), 3)], "Jadwal sertifikasi.")
    await mark(db, july, {"p0": "sent", "p1": "delivered", "p2": "read", "p3": "failed",
                          "p4": "undelivered", "p5": "waiting"})
    await mark(db, august, {"p0": "failed", "p1": "cancelled", "p2": "failed",
                            "p3": "delivered", "p4": "read"})  # p5's still queued
    await add_rows(db, [("p0", "sent", wib(7, 15)), ("p1", "read", wib(8, 1))],
                   key="offer.new")  # not broadcasts: pruned, counted nowhere
    before, tables_before = await report_tables(db, Q3)
    figures = before["current"]["broadcasts"]
    assert figures == {
        "broadcasts": 2, "audience": 12, "queued": 12, "skipped": 0, "messages": 12,
        "messages_by_status": {"cancelled": 1, "delivered": 2, "failed": 3, "queued": 1,
                               "read": 2, "sent": 1, "undelivered": 1, "waiting": 1},
        "delivered": 5, "failed": 4, "people_reached": 5,
        "delivery_rate": pytest.approx(5 / 12)}

    # 120 days after 17 September: July and the 20 August batch go, the 20 September stays
    at = wib(9, 17) + KEEP + timedelta(hours=1)
    assert await prune(db, at) == 6 + 3 + 2
    assert await prune(db, at) == 0
    assert await left(db) == [("p3", "delivered"), ("p4", "read"), ("p5", "queued")]
    async with db.read() as s:
        tallies = {b.id: (b.pruned, b.pruned_reached) for b in (await s.execute(
            select(Broadcast))).scalars()}
    assert tallies == {
        july: ({"sent": 1, "delivered": 1, "read": 1, "failed": 1, "undelivered": 1,
                "waiting": 1}, 3),
        august: ({"failed": 2, "cancelled": 1}, 0)}
    after, tables_after = await report_tables(db, Q3)
    assert after == before and tables_after == tables_before
    status = await Admin.on(db, tmp_path / "data", StepClock(at)).json(
        "broadcast", "status", str(july))
    assert status["by_status"] == {"sent": 1, "delivered": 1, "read": 1, "failed": 1,
                                   "undelivered": 1, "waiting": 1}  # the whole, not what is left
    stats = await Admin.on(db, tmp_path / "data", StepClock(at)).json("db", "stats")
    assert stats["outbox_retention_days"] == 120
    assert stats["broadcast_pruned"] == [
        {"status": st, "jumlah": n} for st, n in (
            ("cancelled", 1), ("delivered", 1), ("failed", 3), ("read", 1), ("sent", 1),
            ("undelivered", 1), ("waiting", 1))]

    # everything once the retention has passed for September too; still the same report
    assert await prune(db, at + timedelta(days=30)) == 2
    assert await left(db) == [("p5", "queued")]
    assert await report_tables(db, Q3) == (before, tables_before)


async def test_after_pruning_a_person_counts_once_per_broadcast(any_db: Database) -> None:
    """Someone reached by two broadcasts of a quarter counts once while the rows are there,
    and once per broadcast after pruning (an upper bound, docs/report.md); the message counts
    do not change."""
    db = any_db
    await make_crowd(db, [("console", "p0", NOW, "id")])
    for month in (7, 8):
        await mark(db, await broadcast_to(db, [(wib(month, 1), 1)], "Info"), {"p0": "sent"})
    async with db.read() as s:
        before = (await quarterly_report(s, Q3))["current"]["broadcasts"]
    assert (before["messages"], before["delivered"], before["people_reached"]) == (2, 2, 1)
    assert await prune(db, wib(12, 31)) == 2
    async with db.read() as s:
        after = (await quarterly_report(s, Q3))["current"]["broadcasts"]
    assert after == before | {"people_reached": 2}


# --- Pasal 9: the statement request stays while the complaint is open -----------------------


async def test_statement_requests_of_open_complaints_stay(db: Database, tmp_path: Path) -> None:
    """Months later the Dinas can still uphold a complaint whose statement request reached the
    tukang, and is still refused for one whose request never did: those rows stay until the
    complaint is decided; everything else of that time is pruned."""
    clock = StepClock()
    t = Harness.console(db, clock=clock)
    admin = Admin.on(db, tmp_path / "data", clock)
    await register_warga(t, "budi")
    dodi = await make_tukang(db, "dodi", "Dodi Tukang", status="active")
    eko = await make_tukang(db, "eko", "Eko Tukang", phone="+6281299990002", status="active")
    fajar = await make_tukang(db, "fajar", "Fajar Tukang", phone="+6281299990003",
                              status="active")
    codes = {}
    for who, tukang in (("dodi", dodi), ("eko", eko), ("fajar", fajar)):
        job_id, _ = await make_job(db, 1, tukang)
        _, codes[who] = await make_complaint(db, job_id)
        r = await admin("complaints", "request-statement", codes[who], "--yes", "--as", "siti")
        assert r.exit_code == 0, r.output
    await DeliveryWorker(db, [RecordingSender()], clock=clock).drain()
    async with db.transaction() as s:  # Fajar is on WhatsApp, his window closed: it waits
        await s.execute(update(Outbox).where(Outbox.user_id == fajar).values(status="waiting"))
    r = await admin("complaints", "decide", codes["eko"], "dismissed", "--note",
                    "Bukti tidak cukup.", "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    await DeliveryWorker(db, [RecordingSender()], clock=clock).drain()
    t.replies("budi")

    clock.advance(days=200)
    assert await prune(db, clock()) > 0
    async with db.read() as s:  # of the rows written that day (the tick invited tukang since)
        kept = sorted((r.user_id, r.key, r.status) for r in (await s.execute(
            select(Outbox.user_id, Outbox.key, Outbox.status).where(
                Outbox.created_at <= NOW))).all())
    assert kept == [(dodi, "admin.statement_requested", "sent"),
                    (fajar, "admin.statement_requested", "waiting")]

    upheld = ("upheld", "--note", "Tidak hadir tanpa kabar.", "--yes", "--as", "siti")
    refused = await admin("complaints", "decide", codes["fajar"], *upheld)
    assert refused.exit_code == 1 and "belum sampai ke tukang" in refused.stderr
    assert "status pesan: waiting" in refused.stderr
    r = await admin("complaints", "decide", codes["dodi"], *upheld)
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        c = (await s.execute(select(Complaint).where(Complaint.code == codes["dodi"]))
             ).scalar_one()
    assert c.status == "upheld"

    # decided: Dodi's request goes with the rest at the next tick after the retention
    await DeliveryWorker(db, [RecordingSender()], clock=clock).drain()
    clock.advance(days=121)
    await prune(db, clock())
    async with db.read() as s:
        keys = (await s.execute(select(Outbox.user_id, Outbox.key).where(
            Outbox.created_at <= NOW))).all()
    assert [tuple(k) for k in keys] == [(fajar, "admin.statement_requested")]
    await t.close()


# --- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["3", "0", "4000", "ninety"])
def test_a_bad_retention_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           value: str) -> None:
    """SIJAKON_OUTBOX_RETENTION_DAYS outside 7..3650 days, or not a number, stops start-up
    with one line naming the setting; `sijakon-admin` exits 2 with it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIJAKON_OUTBOX_RETENTION_DAYS", value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    line = str(err.value)
    assert "SIJAKON_OUTBOX_RETENTION_DAYS" in line and "\n" not in line
    if value.isdigit():
        assert "from 7 to 3650" in line
    r = CliRunner(env={"SIJAKON_OUTBOX_RETENTION_DAYS": value,
                       "SIJAKON_DATA_DIR": str(tmp_path)}).invoke(app, ["db", "stats"])
    assert r.exit_code == 2 and "SIJAKON_OUTBOX_RETENTION_DAYS" in r.stderr


async def test_the_setting_reaches_the_scheduler(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, db: Database) -> None:
    """120 days unless set; with 30 the bot's scheduler prunes a 31-day-old message and keeps
    a 29-day-old one."""
    monkeypatch.chdir(tmp_path)
    assert flow_config(load_settings()).outbox_keep == timedelta(days=120)
    monkeypatch.setenv("SIJAKON_OUTBOX_RETENTION_DAYS", "30")
    config = flow_config(load_settings())
    assert config.outbox_keep == timedelta(days=30)
    await add_rows(db, [("old", "delivered", NOW - timedelta(days=31)),
                        ("recent", "delivered", NOW - timedelta(days=29))])
    scheduler = Scheduler(db, config, clock=lambda: NOW)
    assert "prune_outbox" in scheduler.timers
    assert (await scheduler.tick())["prune_outbox"] == 1
    assert await left(db) == [("recent", "delivered")]
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Outbox))).scalar_one() == 1
