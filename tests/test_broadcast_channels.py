"""Broadcasts through the real senders: the Telegram stand-in Bot API and the Twilio stand-in,
and a delivery process killed mid-broadcast and started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.delivery import DeliveryWorker
from bot.settings import Settings, load_settings
from bot.telegram import TelegramSender
from bot.whatsapp import WhatsAppSender
from flows import broadcast as bc
from standins.telegram import TOKEN, StandIn
from standins.twilio import TwilioStandIn
from storage.clock import utcnow
from storage.db import Database
from storage.models import Broadcast, Outbox
from tests.channels import ACCOUNT_SID, AUTH_TOKEN, FROM, twilio_standin
from tests.factories import make_crowd

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "HX" + "c3" * 16


async def people(db: Database, accounts: list[tuple[str, str, datetime | None, str]]) -> None:
    """One person per (channel, address, last inbound, locale)."""
    await make_crowd(db, accounts, at=datetime(2026, 11, 1, tzinfo=UTC))


async def broadcast(db: Database, text: str, template_sid: str | None = None) -> int:
    async with db.transaction() as s:
        b = await bc.create(s, text=text, template_sid=template_sid, created_by="test",
                            now=utcnow())
        assert b.id is not None
        await bc.start(s, b.id, utcnow())
        return b.id


def wa_settings(standin: TwilioStandIn, data_dir: Path) -> Settings:
    return Settings(_env_file=None, twilio_account_sid=ACCOUNT_SID,  # type: ignore[call-arg]
                    twilio_auth_token=AUTH_TOKEN, twilio_whatsapp_from=FROM,
                    twilio_api_base_url=standin.url, sijakon_data_dir=data_dir)


async def test_one_broadcast_on_telegram_and_whatsapp(db: Database, tmp_path: Path) -> None:
    """Telegram chats get the HTML text; WhatsApp people inside the window get it as text,
    those outside get the broadcast's approved template with the text as its variable."""
    now = utcnow()
    recent, old = now - timedelta(hours=1), now - timedelta(days=2)
    await people(db, [("telegram", "1001", recent, "id"), ("telegram", "1002", old, "en"),
                      ("telegram", "1003", None, "id"),
                      ("whatsapp", "whatsapp:+6281200000001", recent, "id"),
                      ("whatsapp", "whatsapp:+6281200000002", recent, "en"),
                      ("whatsapp", "whatsapp:+6281200000003", old, "id")])
    b = await broadcast(db, "Pelatihan K3 & sertifikasi SKK, Sabtu 09.00.", TEMPLATE)
    assert await bc.enqueue_all(db, b, clock=utcnow) == 6

    tg_server, twilio = StandIn().start(), twilio_standin()
    tg = TelegramSender(load_settings(_env_file=None, telegram_bot_token=TOKEN,
                                      telegram_base_url=tg_server.base_url,
                                      sijakon_data_dir=tmp_path))
    wa = WhatsAppSender(wa_settings(twilio, tmp_path), clock=utcnow)
    try:
        await tg.start()
        sent = await DeliveryWorker(db, [tg, wa]).drain()
    finally:
        await tg.close()
        tg_server.stop()
        twilio.stop()
    assert sent == 6
    by_chat = {c.chat_id: c for c in tg_server.sent()}
    assert sorted(by_chat) == [1001, 1002, 1003]
    assert by_chat[1001].params.get("parse_mode") == "HTML"
    assert "Pelatihan K3 &amp; sertifikasi SKK" in by_chat[1001].text
    assert by_chat[1001].text.endswith("MULAI untuk berlangganan lagi.</i>")
    assert by_chat[1002].text.endswith("MULAI to subscribe again.</i>")

    to = {m.to: m for m in twilio.sent}
    assert "*Info SIJAKON*" in to["whatsapp:+6281200000001"].body
    assert to["whatsapp:+6281200000001"].body.endswith(
        "_Ketik STOP untuk berhenti menerima siaran; MULAI untuk berlangganan lagi._")
    assert "Type STOP" in to["whatsapp:+6281200000002"].body
    outside = to["whatsapp:+6281200000003"]
    assert outside.get("ContentSid") == TEMPLATE and not outside.body
    assert outside.content_variables == {"1": "Pelatihan K3 & sertifikasi SKK, Sabtu 09.00."}
    async with db.read() as s:
        statuses = Counter((await s.execute(select(Outbox.status).where(
            Outbox.broadcast_id == b))).scalars())
    assert statuses == {"sent": 6}


async def test_whatsapp_without_template_skips_outside_the_window(db: Database,
                                                                  tmp_path: Path) -> None:
    """Without a template nothing is sent to a closed window: the row is skipped, with why."""
    now = utcnow()
    await people(db, [("whatsapp", "whatsapp:+6281200000001", now - timedelta(hours=3), "id"),
                      ("whatsapp", "whatsapp:+6281200000002", now - timedelta(days=5), "id")])
    b = await broadcast(db, "Jadwal uji SKK bulan Desember.")
    await bc.enqueue_all(db, b, clock=utcnow)
    twilio = twilio_standin()
    try:
        await DeliveryWorker(db, [WhatsAppSender(wa_settings(twilio, tmp_path),
                                                 clock=utcnow)]).drain()
    finally:
        twilio.stop()
    assert [m.to for m in twilio.sent] == ["whatsapp:+6281200000001"]
    async with db.read() as s:
        row = (await s.execute(select(Outbox).where(
            Outbox.address == "whatsapp:+6281200000002"))).scalar_one()
        done = await s.get(Broadcast, b)
    assert row.status == "skipped" and "24-hour window" in (row.last_error or "")
    assert (done.queued, done.skipped) == (1, 1)


# --- killed mid-broadcast -----------------------------------------------------------------

WORKER = """
import asyncio, sys
from datetime import timedelta
sys.path.insert(0, {root!r})
from bot.delivery import DeliveryWorker
from bot.scheduler import Scheduler
from bot.settings import load_settings
from bot.telegram import TelegramSender
from flows.context import FlowConfig
from storage.clock import utcnow
from storage.db import Database

async def main() -> None:
    db_url, base_url, data_dir, skew = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    settings = load_settings(_env_file=None, telegram_bot_token={token!r},
                             telegram_base_url=base_url, sijakon_data_dir=data_dir,
                             telegram_rate_per_second={rate})
    db = Database(db_url)
    clock = lambda: utcnow() + timedelta(seconds=skew)  # a later start: old leases ran out
    await Scheduler(db, FlowConfig(), clock=clock).tick()  # enqueues the broadcast
    sender = TelegramSender(settings)
    await sender.start()
    worker = DeliveryWorker(db, [sender], clock=clock)
    print("window", worker.window["telegram"], flush=True)
    await worker.run(poll=0.05)

asyncio.run(main())
"""
RATE = 40.0


async def _wait(until: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if until():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)  # a real process is working: poll it
    return False


async def test_killed_mid_broadcast_loses_nothing(db: Database, tmp_path: Path) -> None:
    """SIGKILL while a 300-chat broadcast is going out; started again, the process sends the
    rest: every chat gets it, and at most the rows in flight at the kill go twice."""
    chats = 300
    await people(db, [("telegram", str(5000 + i), utcnow(), "id") for i in range(chats)])
    b = await broadcast(db, "Sosialisasi Perwako 65/2021 di kantor kecamatan.")  # "sending"
    server = StandIn().start()  # slow enough: the sender paces itself at RATE a second
    script = tmp_path / "deliver.py"
    script.write_text(WORKER.format(root=str(ROOT), token=TOKEN, rate=RATE), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIJAKON_", "TELEGRAM_"))}

    def start(skew: float) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), db.url, server.base_url,
                                 str(tmp_path / "data"), str(skew)], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    try:
        first = start(0)
        assert await _wait(lambda: len(server.sent()) >= 100 or first.poll() is not None, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        out, err = first.communicate()
        assert first.returncode == -signal.SIGKILL, err
        window = int(out.split()[1])
        at_kill = len(server.sent())
        assert 100 <= at_kill < chats

        again = start(180)  # three minutes on: the killed process's 2-minute leases ran out
        try:
            assert await _wait(lambda: len({c.chat_id for c in server.sent()} - {None})
                               >= chats, 60)
            await asyncio.sleep(0.5)  # anything still on its way lands in the count
        finally:
            again.send_signal(signal.SIGTERM)
            again.wait(10)
    finally:
        server.stop()

    # (a request cut off by the kill can reach the stand-in without its chat_id: not a send)
    got = Counter(c.chat_id for c in server.sent() if c.chat_id is not None)
    assert set(got) == {5000 + i for i in range(chats)}  # nobody lost
    twice = sum(n - 1 for n in got.values())
    print(f"killed after {at_kill} of {chats}; {twice} sent twice; in-flight window {window}")
    assert twice <= window, f"{twice} duplicates, in-flight window {window}"
    async with db.read() as s:
        queued = Counter((await s.execute(select(Outbox.status).where(
            Outbox.broadcast_id == b))).scalars())
        done = await s.get(Broadcast, b)
    assert done.status == "sent" and done.queued == chats
    assert queued["sent"] + queued["sending"] == chats
