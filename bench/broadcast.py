"""Broadcast bench: enqueueing 100,000 recipients, and delivering at the platforms' limits.

    .venv/bin/python bench/broadcast.py
    .venv/bin/python bench/broadcast.py --recipients 100000 --telegram 3000 --whatsapp 3000
    .venv/bin/python bench/broadcast.py --skip-delivery --json

1. Enqueue: N recipients (half on Telegram, half on WhatsApp, a tenth of those outside the
   24-hour window, a tenth in English; plus 2% more people who opted out) on a SQLite file
   and, when one answers at 127.0.0.1:5432, on PostgreSQL; `flows.broadcast.enqueue_all`
   writes one outbox row per recipient (target: < 5 s, and the process's memory flat: the
   rows go `INSERT ... SELECT`, none through Python). The enqueue runs in a fresh process
   (the seeding does not count): its resident set before, and its peak during the enqueue
   alone (Linux: the high-water mark is reset first). The anchor: the same rows copied again
   by one bare `INSERT ... SELECT` (rolled back), the database's own cost.
2. Delivery: one broadcast to T Telegram chats and W WhatsApp numbers through the real senders
   and delivery worker, against the Telegram stand-in Bot API and the Twilio stand-in, each in
   its own process and each enforcing its limit with 429s the way the platform does (Telegram
   30/s overall; WhatsApp at most WHATSAPP_RATE_PER_SECOND in any one second). Target: >= 95%
   of each limit, zero 429s. (`bench/delivery.py` measures the pacing alone, in more detail.)

`--json` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

from flows import broadcast as bc
from storage.clock import utcnow
from storage.db import Database
from storage.models import ChannelAccount, Outbox, User

# the delivery part's imports (python-telegram-bot, twilio...) are made there: the enqueue runs
# in a fresh process that loads only what `sijakon-admin broadcast send` does

PG = ("127.0.0.1", 5432, "postgres")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "bench-auth-token"
FROM = "whatsapp:+14155238886"
TEXT = ("Pelatihan dan uji sertifikasi SKK gratis untuk tukang bangunan, Sabtu 6 Desember "
        "pukul 09.00 di kantor Dinas Cipta Karya dan Tata Ruang Kota Batam. Bawa KTP.")


@dataclass
class Row:
    part: str
    where: str
    count: int
    seconds: float
    rate: float
    target: str
    ok: bool
    note: str = ""
    rss_before_mb: float | None = None  # enqueue: the process's resident set before it
    peak_rss_mb: float | None = None  # enqueue: the highest resident set during it


def _status_mb(field: str) -> float | None:
    """VmRSS / VmHWM of this process in MB (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Start a new high-water mark of the resident set (Linux: /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb(since_reset: bool) -> float:
    """The highest resident set since the reset, or since the start of the process."""
    hwm = _status_mb("VmHWM") if since_reset else None
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- 1. enqueue -----------------------------------------------------------------------------


async def seed(db: Database, n: int, *, opted_out: int = 0, telegram_from: int = 0,
               wa_fresh: bool = False) -> None:
    """n people, half on Telegram and half on WhatsApp, then `opted_out` more who sent STOP,
    inserted in bulk."""
    now = utcnow()
    old = now - timedelta(days=3)
    t_user, t_acc = User.__table__, ChannelAccount.__table__
    step = 20_000
    total = n + opted_out
    for start in range(0, total, step):
        part = range(start, min(total, start + step))
        async with db.transaction() as s:
            conn = await s.connection()
            first = (await conn.execute(select(t_user.c.id).order_by(t_user.c.id.desc())
                                        .limit(1))).scalar() or 0
            await conn.execute(insert(t_user), [
                {"name": f"Warga {i}", "role": "tukang" if i % 7 == 0 else "warga",
                 "locale": "en" if i % 10 == 3 else "id", "kecamatan_code": "217110",
                 "status": "active", "broadcast_opt_out": i >= n, "topics": [],
                 "is_demo": False, "phone_verified": True, "created_at": now,
                 "updated_at": now} for i in part])
            ids = list((await conn.execute(select(t_user.c.id).where(t_user.c.id > first)
                                           .order_by(t_user.c.id))).scalars())
            await conn.execute(insert(t_acc), [
                {"user_id": uid, "channel": "telegram" if i % 2 == 0 else "whatsapp",
                 "address": str(telegram_from + i) if i % 2 == 0 else f"whatsapp:+6281{i:09d}",
                 "reachable": True, "last_seen_at": now,
                 "last_inbound_at": old if (i % 20 == 1 and not wa_fresh) else now,
                 "created_at": now} for uid, i in zip(ids, part, strict=True)])


async def enqueue_bench(url: str, where: str, n: int) -> Row:
    """Seed n people here, then enqueue the broadcast in a fresh process (its memory is the
    enqueue's: imports and one database connection, as the admin CLI's)."""
    db = Database(url)
    try:
        await db.migrate()
        await seed(db, n, opted_out=n // 50)
        if not db.is_sqlite:  # as autovacuum would have by then on a database of n people
            async with db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("ANALYZE")
        async with db.transaction() as s:
            b = await bc.create(s, text=TEXT, created_by="bench", now=utcnow())
            broadcast_id = b.id
            assert broadcast_id is not None
            await bc.start(s, broadcast_id, utcnow())
    finally:
        await db.close()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=enqueue_in_process, args=(child, url, broadcast_id))
    proc.start()
    child.close()  # so that recv() ends (EOFError) if the enqueue process dies
    written, seconds, rss_before, peak, bare, note = parent.recv()
    proc.join(30)
    return Row("enqueue", where, written, seconds, written / seconds, "< 5 s", seconds < 5.0,
               f"{note}; anchor: the same rows copied by one bare INSERT ... SELECT {bare:.2f} s",
               None if rss_before is None else round(rss_before, 1), round(peak, 1))


def enqueue_in_process(conn: Any, url: str, broadcast_id: int) -> None:
    """The enqueue alone, timed and its peak memory taken; then the anchor: the rows it wrote
    copied again by one plain `INSERT ... SELECT` (same table and indexes; rolled back), the
    database's own cost of writing that many outbox rows."""

    async def run() -> tuple[int, float, float | None, float, float, str]:
        db = Database(url)
        try:
            rss_before = _status_mb("VmRSS")
            reset = reset_peak_rss()
            started = time.perf_counter()
            written = await bc.enqueue_all(db, broadcast_id, clock=utcnow)
            seconds = time.perf_counter() - started
            peak = peak_rss_mb(reset)
            async with db.read() as s:
                done = await s.get(bc.Broadcast, broadcast_id)
                assert done is not None
                note = f"{done.queued} queued, {done.skipped} skipped (WhatsApp window)"
            o = Outbox.__table__
            names = [c.name for c in o.columns if c.name != "id"]
            async with db.engine.connect() as c:
                started = time.perf_counter()
                await c.execute(insert(o).from_select(
                    names, select(*[o.c[name] for name in names])
                    .where(o.c.broadcast_id == broadcast_id)))
                bare = time.perf_counter() - started
                await c.rollback()
        finally:
            await db.close()
        return written, seconds, rss_before, peak, bare, note

    conn.send(asyncio.run(run()))


def pg_answers() -> bool:
    try:
        with socket.create_connection(PG[:2], timeout=0.5):
            return True
    except OSError:
        return False


async def pg_database(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG[0], port=PG[1], user=PG[2], database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# --- 2. delivery ----------------------------------------------------------------------------


async def delivery_bench(tg_count: int, wa_count: int, tg_rate: float,
                         wa_rate: float) -> list[Row]:
    from standins import twilio as twilio_standin
    from standins.telegram import serve_in_process

    tg_parent, tg_child = multiprocessing.Pipe()
    wa_parent, wa_child = multiprocessing.Pipe()
    procs = [
        multiprocessing.Process(target=serve_in_process, args=(tg_child,), kwargs={
            "rate": tg_rate, "burst": max(1.0, tg_rate / 10), "chat_rate": 1.0,
            "chat_burst": 3}, daemon=True),
        # at most wa_rate messages in any one-second window, else 429 (standins/twilio.py)
        multiprocessing.Process(target=twilio_standin.serve_in_process,
                                args=(wa_child, ACCOUNT_SID, AUTH_TOKEN),
                                kwargs={"rate": wa_rate}, daemon=True),
    ]
    for p in procs:
        p.start()
    tg_url, wa_url = tg_parent.recv(), wa_parent.recv()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'delivery.db'}")
            await db.migrate()
            try:
                return await _deliver(db, Path(tmp), tg_url, wa_url, tg_count, wa_count,
                                      tg_rate, wa_rate)
            finally:
                await db.close()
    finally:
        tg_parent.send("stop")
        wa_parent.send("stop")
        for p in procs:
            p.join(10)


async def _deliver(db: Database, tmp: Path, tg_url: str, wa_url: str, tg_count: int,
                   wa_count: int, tg_rate: float, wa_rate: float) -> list[Row]:
    import httpx

    from bot.delivery import DeliveryWorker
    from bot.settings import load_settings
    from bot.telegram import TelegramSender
    from bot.whatsapp import WhatsAppSender
    from standins.telegram import TOKEN

    # people: Telegram chats first, then WhatsApp numbers (all inside the window)
    await seed_channels(db, tg_count, wa_count)
    async with db.transaction() as s:
        b = await bc.create(s, text=TEXT, created_by="bench", now=utcnow())
        assert b.id is not None
        broadcast_id = b.id
        await bc.start(s, broadcast_id, utcnow())
    await bc.enqueue_all(db, broadcast_id, clock=utcnow)
    settings = load_settings(
        _env_file=None, telegram_bot_token=TOKEN, telegram_base_url=tg_url,
        sijakon_data_dir=tmp, telegram_rate_per_second=tg_rate,
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=FROM, twilio_api_base_url=wa_url,
        whatsapp_rate_per_second=wa_rate)  # the senders pace themselves under the limits
    tg = TelegramSender(settings)
    await tg.start()
    wa = WhatsAppSender(settings, clock=utcnow)
    assert wa.client.messages is not None  # twilio imports its API modules on first use
    worker = DeliveryWorker(db, [tg, wa])
    async with httpx.AsyncClient() as client:

        async def stats() -> tuple[tuple[int, float | None, int], tuple[int, float | None, int]]:
            t = (await client.get(tg_url + "/_standin/stats")).json()
            w = (await client.get(wa_url + "/_standin/stats")).json()
            return _counted(t), _counted(w)

        started = time.monotonic()  # CLOCK_MONOTONIC: the same clock in the stand-ins
        task = asyncio.create_task(worker.run(poll=0.05))
        deadline = started + 3 * max(tg_count / tg_rate, wa_count / wa_rate) + 30
        tg_stats, wa_stats = await stats()
        while (tg_stats[0] < tg_count or wa_stats[0] < wa_count) and \
                time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            tg_stats, wa_stats = await stats()
        worker.stop()
        await task
    await tg.close()
    rows = []
    for where, (sent, last, throttled), count, rate in (
            ("Telegram", tg_stats, tg_count, tg_rate), ("WhatsApp", wa_stats, wa_count, wa_rate)):
        seconds = max(1e-9, (last or started) - started)
        achieved = sent / seconds
        pct = 100 * achieved / rate
        rows.append(Row("delivery", where, sent, seconds, achieved,
                        f">= 95% of {rate:g}/s, 0 x 429",
                        pct >= 95 and throttled == 0 and sent == count,
                        f"{pct:.1f}% of the limit, {throttled} x 429, {count - sent} unsent"))
    return rows


def _counted(stats: dict[str, Any]) -> tuple[int, float | None, int]:
    """(messages that went out, when the last arrived, 429s) from a stand-in's stats."""
    return int(stats["sent"]), stats.get("last_at"), int(stats["throttled"])


async def seed_channels(db: Database, tg_count: int, wa_count: int) -> None:
    now = utcnow()
    async with db.transaction() as s:
        conn = await s.connection()
        total = tg_count + wa_count
        await conn.execute(insert(User.__table__), [
            {"name": f"P{i}", "role": "warga", "locale": "id", "status": "active",
             "broadcast_opt_out": False, "topics": [], "is_demo": False,
             "phone_verified": True, "created_at": now, "updated_at": now}
            for i in range(total)])
        ids = list((await conn.execute(select(User.id).order_by(User.id))).scalars())
        await conn.execute(insert(ChannelAccount.__table__), [
            {"user_id": uid, "channel": "telegram" if i < tg_count else "whatsapp",
             "address": str(200_000 + i) if i < tg_count else f"whatsapp:+6282{i:09d}",
             "reachable": True, "last_seen_at": now, "last_inbound_at": now, "created_at": now}
            for i, uid in enumerate(ids)])


# --- report ---------------------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    out = ["| part | where | messages | seconds | per second | target | result | RSS before MB "
           "| peak RSS MB | note |",
           "|---|---|---:|---:|---:|---|---|---:|---:|---|"]
    for r in rows:
        before = "-" if r.rss_before_mb is None else f"{r.rss_before_mb:.0f}"
        peak = "-" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.0f}"
        out.append(f"| {r.part} | {r.where} | {r.count:,} | {r.seconds:.2f} | {r.rate:,.1f} | "
                   f"{r.target} | {'PASS' if r.ok else 'FAIL'} | {before} | {peak} | {r.note} |")
    return "\n".join(out)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--telegram", type=int, default=3000, help="chats in the delivery part")
    ap.add_argument("--whatsapp", type=int, default=3000, help="numbers in the delivery part")
    ap.add_argument("--telegram-rate", type=float, default=30.0)
    ap.add_argument("--whatsapp-rate", type=float, default=80.0,
                    help="WHATSAPP_RATE_PER_SECOND (an 80 MPS sender), and the stand-in's limit")
    ap.add_argument("--skip-delivery", action="store_true")
    ap.add_argument("--skip-enqueue", action="store_true")
    ap.add_argument("--json", action="store_true", help="also print one JSON object, last")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows: list[Row] = []
    if not args.skip_enqueue:
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(await enqueue_bench(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
                                            "SQLite", args.recipients))
        if pg_answers():
            name = f"sijakon_bench_{uuid.uuid4().hex[:8]}"
            await pg_database(f'CREATE DATABASE "{name}"')
            try:
                rows.append(await enqueue_bench(
                    f"postgresql+asyncpg://{PG[2]}@{PG[0]}:{PG[1]}/{name}", "PostgreSQL",
                    args.recipients))
            finally:
                await pg_database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print("PostgreSQL: nothing answers at 127.0.0.1:5432, skipped")
    if not args.skip_delivery:
        rows += await delivery_bench(args.telegram, args.whatsapp, args.telegram_rate,
                                     args.whatsapp_rate)
    print(f"Broadcast bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print(table(rows))
    ok = all(r.ok for r in rows)
    print("\nresult:", "PASS" if ok else "FAIL")
    if args.json:
        enqueue = [r for r in rows if r.part == "enqueue"]
        print(json.dumps({
            "recipients": args.recipients,
            "enqueue_s": enqueue[0].seconds if enqueue else None,  # the first: SQLite
            "peak_rss_mb": max((r.peak_rss_mb or 0.0 for r in enqueue), default=None),
            "rows": [asdict(r) for r in rows], "load_average": os.getloadavg()[0],
            "pass": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
