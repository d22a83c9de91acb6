"""Broadcasts: audiences and opt-out, the rendered text, the WhatsApp window, priority, cancel,
resuming an interrupted enqueue, the admin commands, and topic subscriptions in the bot."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from admin_cli.app import app
from bot.delivery import DeliveryWorker, OutRow
from bot.scheduler import Scheduler
from flows import broadcast as bc
from flows.context import FlowConfig
from flows.outbox import PRIORITY_BROADCAST, PRIORITY_REPLY, Outgoing
from flows.types import Reply
from storage.db import Database
from storage.models import (
    AuditLog,
    Broadcast,
    ChannelAccount,
    InfoArticle,
    Outbox,
    User,
)
from tests.factories import (
    BATAM_KOTA,
    ELECTRICIAN,
    NOW,
    PAINTER,
    SEKUPANG,
    get,
    make_crowd,
    make_officer,
    make_person,
    make_tukang,
)
from tests.harness import Harness, register_warga

TEMPLATE = "HX" + "b2" * 16
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


async def make(db: Database, *, text: str = "Pelatihan K3 gratis, Sabtu 09.00 di Dinas.",
               audience: bc.Audience | None = None, template_sid: str | None = None,
               article_id: int | None = None, image: str | None = None) -> int:
    async with db.transaction() as s:
        b = await bc.create(s, text=text, audience=audience, template_sid=template_sid,
                            article_id=article_id, image=image, created_by="test", now=NOW)
        assert b.id is not None
        return b.id


async def send_now(db: Database, broadcast_id: int, now: datetime = NOW, **kw: Any) -> int:
    async with db.transaction() as s:
        assert await bc.start(s, broadcast_id, now)
    return await bc.enqueue_all(db, broadcast_id, clock=lambda: now, **kw)


async def rows_of(db: Database, broadcast_id: int) -> list[Outbox]:
    async with db.read() as s:
        return list((await s.execute(select(Outbox).where(Outbox.broadcast_id == broadcast_id)
                                     .order_by(Outbox.id))).scalars())


# --- audiences ----------------------------------------------------------------------------


async def test_audiences_and_exclusions(any_db: Database) -> None:
    """Each audience reaches exactly its people; opted-out, erased and unreachable never."""
    db = any_db
    ani = await make_person(db, "ani")
    await make_person(db, "berhenti", broadcast_opt_out=True)
    await make_person(db, "dihapus", status="erased")
    await make_person(db, "blokir", accounts=[{"channel": "telegram", "address": "555",
                                          "reachable": False}])
    sekupang = await make_person(db, "sekupang", kecamatan=SEKUPANG)
    painter = await make_tukang(db, "tukangcat", skills=(PAINTER,))
    sparky = await make_tukang(db, "tukanglistrik", areas=(SEKUPANG,),
                          skills=(ELECTRICIAN,))
    fan = await make_person(db, "pembaca", topics=["keselamatan", "perizinan"])

    async def who(aud: bc.Audience) -> set[int]:
        b = await make(db, audience=aud)
        await send_now(db, b)
        return {r.user_id for r in await rows_of(db, b)}

    assert await who(bc.Audience()) == {ani, sekupang, painter, sparky, fan}
    assert await who(bc.Audience("warga")) == {ani, sekupang, fan}
    assert await who(bc.Audience("tukang")) == {painter, sparky}
    assert await who(bc.Audience(kecamatan=(SEKUPANG,))) == {sekupang, sparky}
    assert await who(bc.Audience(skills=(ELECTRICIAN, "SI999"))) == {sparky}
    assert await who(bc.Audience(topics=("keselamatan",))) == {fan}
    assert await who(bc.Audience("tukang", kecamatan=(BATAM_KOTA,))) == {painter}

    b = await make(db)
    async with db.read() as s:
        p = await bc.preview(s, await s.get(Broadcast, b), NOW)
    assert (p.recipients, p.by_channel, p.opted_out, p.unreachable) == (5, {"console": 5}, 1, 1)


async def test_one_row_per_person_on_their_best_account(db: Database) -> None:
    """Someone on two channels gets one message, on the reachable account seen last."""
    both = await make_person(db, "dua", accounts=[
        {"channel": "telegram", "address": "777", "last_seen_at": NOW - timedelta(days=3)},
        {"channel": "whatsapp", "address": "whatsapp:+6281200000001"}])
    fallback = await make_person(db, "cadangan", accounts=[
        {"channel": "whatsapp", "address": "whatsapp:+6281200000002", "reachable": False},
        {"channel": "telegram", "address": "778", "last_seen_at": NOW - timedelta(days=9)}])
    b = await make(db)
    await send_now(db, b)
    got = {r.user_id: (r.channel, r.address) for r in await rows_of(db, b)}
    assert got == {both: ("whatsapp", "whatsapp:+6281200000001"), fallback: ("telegram", "778")}


async def test_text_in_each_language_ends_with_how_to_stop(db: Database) -> None:
    """The recipient reads it in their language, with the line on STOP and MULAI, at the
    lowest priority; an article broadcast carries its title and body, an image its file."""
    await make_person(db, "ina")
    await make_person(db, "eng", locale="en")
    b = await make(db, text="Pelatihan <K3> & sertifikasi", image="/data/media/poster.jpg")
    await send_now(db, b)
    texts = {r.address: r.payload["text"] for r in await rows_of(db, b)}
    assert texts["ina"].endswith("<i>Ketik STOP untuk berhenti menerima siaran; MULAI untuk "
                                 "berlangganan lagi.</i>")
    assert "Pelatihan &lt;K3&gt; &amp; sertifikasi" in texts["ina"]
    assert texts["eng"].endswith("<i>Type STOP to stop receiving broadcasts; MULAI to "
                                 "subscribe again.</i>")
    rows = await rows_of(db, b)
    assert {r.priority for r in rows} == {PRIORITY_BROADCAST}
    assert all(r.payload["media"] == ["/data/media/poster.jpg"] for r in rows)

    async with db.transaction() as s:
        a = InfoArticle(title="Helm wajib", topic="keselamatan", body="Pakai helm.",
                        published=True, published_at=NOW, created_at=NOW, updated_at=NOW)
        s.add(a)
        draft = InfoArticle(title="Draf", topic="x", body="-", created_at=NOW, updated_at=NOW)
        s.add(draft)
        await s.flush()
        with pytest.raises(bc.BroadcastError):
            await bc.create(s, article_id=draft.id, now=NOW)
        article_id = a.id
    b2 = await make(db, text="", article_id=article_id)
    await send_now(db, b2)
    first = (await rows_of(db, b2))[0].payload["text"]
    assert "<b>Helm wajib</b>" in first and "Pakai helm." in first


async def test_whatsapp_outside_the_window_needs_a_template(any_db: Database) -> None:
    """Outside 24 hours a WhatsApp person is skipped with the reason, unless the broadcast has
    an approved template; inside the window the text goes as it is."""
    db = any_db
    old = NOW - timedelta(hours=30)
    fresh = await make_person(db, "segar", accounts=[
        {"channel": "whatsapp", "address": "whatsapp:+6281200000011",
         "last_inbound_at": NOW - timedelta(hours=2)}])
    stale = await make_person(db, "lama", accounts=[
        {"channel": "whatsapp", "address": "whatsapp:+6281200000012", "last_inbound_at": old}])
    await make_person(db, "tg", accounts=[{"channel": "telegram", "address": "901",
                                      "last_inbound_at": old}])
    b = await make(db)
    async with db.read() as s:
        p = await bc.preview(s, await s.get(Broadcast, b), NOW)
    assert (p.by_channel, p.skipped_whatsapp) == ({"telegram": 1, "whatsapp": 1}, 1)
    await send_now(db, b)
    rows = {r.user_id: r for r in await rows_of(db, b)}
    assert rows[fresh].status == "queued" and rows[stale].status == "skipped"
    assert "24-hour window" in (rows[stale].last_error or "")
    done = await get(db, Broadcast, b)
    assert (done.status, done.total, done.queued, done.skipped) == ("sent", 3, 2, 1)

    b2 = await make(db, template_sid=TEMPLATE)
    await send_now(db, b2)
    rows = {r.user_id: r for r in await rows_of(db, b2)}
    assert rows[stale].status == "queued"
    template = rows[stale].payload["template"]
    assert template["content_sid"] == TEMPLATE
    assert template["vars"]["summary"].startswith("Pelatihan K3 gratis")


# --- opt-out in the bot -------------------------------------------------------------------


async def test_stop_and_settings_turn_broadcasts_off_mulai_back_on(t: Harness) -> None:
    """STOP, BERHENTI and the Pengaturan switch take a person out of broadcasts; their
    transactional messages still arrive; MULAI brings them back."""
    await register_warga(t, "budi")
    await register_warga(t, "sari", name="Sari Dewi", phone="081234567891")
    await register_warga(t, "rudi", name="Rudi Hartono", phone="081234567892")
    await t.send("budi", "STOP")
    assert "tidak akan menerima siaran" in t.texts("budi")[0]
    await t.send("sari", "berhenti")
    await t.press("rudi", "Pengaturan")
    await t.press("rudi", "Matikan siaran informasi")

    b = await make(t.db)
    await send_now(t.db, b, now=t.clock())
    assert await rows_of(t.db, b) == []

    # a notification about their own business still goes to someone who opted out
    async with t.db.transaction() as s:
        budi = (await s.execute(select(ChannelAccount.user_id).where(
            ChannelAccount.address == "budi"))).scalar_one()
        out = Outgoing()
        assert await out.notify(s, budi, "mulai.done")
        await out.write(s, t.clock())
    await t.refresh()
    assert t.replies("budi")

    await t.send("budi", "MULAI")
    assert "aktif kembali" in t.texts("budi")[0]
    b2 = await make(t.db)
    await send_now(t.db, b2, now=t.clock())
    assert [r.address for r in await rows_of(t.db, b2)] == ["budi"]
    await t.refresh()
    assert "Pelatihan K3" in t.texts("budi")[-1]


# --- delivery: priority and cancel --------------------------------------------------------


@dataclass
class RecordingSender:
    """Records what it sends; `during` runs once, after the `at`-th message went out."""

    channel: str = "console"
    rate: float = 1000.0
    chat_rate: float | None = None
    chat_burst: int = 1
    sent: list[tuple[str, int, str]] = field(default_factory=list)
    at: int = -1
    during: Any = None

    async def send(self, row: OutRow) -> str | None:
        self.sent.append((row.address, row.priority, row.reply.text))
        if len(self.sent) == self.at and self.during is not None:
            await self.during()
        return f"id-{row.id}"


async def many(db: Database, n: int) -> None:
    """n people reachable on the console."""
    await make_crowd(db, [("console", f"p{i}", NOW, "id") for i in range(n)])


async def test_a_reply_overtakes_a_large_broadcast(t: Harness) -> None:
    """Someone who writes while 600 broadcast rows wait gets their reply within the worker's
    small in-flight window, not after the broadcast."""
    await register_warga(t, "budi")
    await many(t.db, 600)
    b = await make(t.db)
    await send_now(t.db, b, now=t.clock())

    async def budi_writes() -> None:
        await t.send("budi", "menu")

    sender = RecordingSender(at=50, during=budi_writes)
    worker = DeliveryWorker(t.db, [sender], clock=t.clock, window_seconds=0.02)
    window = worker.window["console"]
    await worker.drain()
    position = next(i for i, (addr, prio, _) in enumerate(sender.sent)
                    if addr == "budi" and prio == PRIORITY_REPLY)
    broadcast_after = sum(1 for addr, prio, _ in sender.sent[position:]
                          if prio == PRIORITY_BROADCAST)
    assert position <= 50 + window, f"reply went out {position}th of {len(sender.sent)}"
    assert broadcast_after >= 600 - 50 - window - 1  # the rest of the broadcast came after
    assert sum(1 for _, prio, _ in sender.sent if prio == PRIORITY_BROADCAST) == 601


async def test_cancel_stops_what_has_not_gone(any_db: Database) -> None:
    """After cancel nothing more of the broadcast goes out; other messages still do."""
    db = any_db
    await many(db, 40)
    b = await make(db)
    await send_now(db, b)
    sender = RecordingSender()
    worker = DeliveryWorker(db, [sender], window_seconds=0.01)  # 10 rows at a time
    await worker._fill("console")
    running = [task for p in worker.pumps.values() for task in p.tasks.values()]
    await asyncio.wait(running)
    await worker._record()
    assert len(sender.sent) == 10
    async with db.transaction() as s:
        assert await bc.cancel(s, b, NOW) == 30
        out = Outgoing()
        out.add("console", "p1", None, "test", Reply(text="Balasan"), PRIORITY_REPLY)
        await out.write(s, NOW)
    await worker.drain()
    assert [text for _, _, text in sender.sent[10:]] == ["Balasan"]
    done = await get(db, Broadcast, b)
    assert done.status == "cancelled"
    statuses = [r.status for r in await rows_of(db, b)]
    assert statuses.count("sent") == 10 and statuses.count("cancelled") == 30
    async with db.transaction() as s:
        assert await bc.cancel(s, b, NOW) == -1  # once only


# --- resuming -----------------------------------------------------------------------------


async def test_interrupted_enqueue_is_continued_by_the_scheduler(any_db: Database) -> None:
    """A `send` stopped after its first batch is finished by the bot's scheduler: everyone
    once, nobody twice, and two enqueuers at once never write a batch twice."""
    db = any_db
    await many(db, 250)
    b = await make(db)
    async with db.transaction() as s:
        await bc.start(s, b, NOW)
    assert await bc.enqueue_all(db, b, clock=lambda: NOW, batch=100, max_batches=1) == 100
    half = await get(db, Broadcast, b)
    assert (half.status, half.queued) == ("sending", 100)

    scheduler = Scheduler(db, FlowConfig(), clock=lambda: NOW)
    done = await scheduler.tick()
    assert done["broadcast_enqueue"] == 150
    rows = await rows_of(db, b)
    assert len(rows) == len({r.user_id for r in rows}) == 250
    assert (await get(db, Broadcast, b)).status == "sent"
    assert (await scheduler.tick())["broadcast_enqueue"] == 0

    b2 = await make(db)
    async with db.transaction() as s:
        await bc.start(s, b2, NOW)
    await asyncio.gather(*(bc.enqueue_all(db, b2, clock=lambda: NOW, batch=30)
                           for _ in range(3)))
    rows = await rows_of(db, b2)
    assert len(rows) == len({r.user_id for r in rows}) == 250


# --- the admin commands -------------------------------------------------------------------


@pytest.fixture
def cli(db: Database, tmp_path: Path) -> Any:
    """`sijakon-admin` as siti, a registered admin (`as_=None`: no officer named)."""
    runner = CliRunner(env={"SIJAKON_DATABASE_URL": db.url,
                            "SIJAKON_DATA_DIR": str(tmp_path / "data"), "SIJAKON_ADMIN": None})

    async def call(*args: str, input: str | None = None, as_: str | None = "siti") -> Any:
        await make_officer(db, "siti")
        return await asyncio.to_thread(runner.invoke, app, list(args), input=input,
                                       env={"SIJAKON_ADMIN": as_}, catch_exceptions=False)

    return call


async def test_admin_create_preview_send_status_cancel_list(db: Database, cli: Any,
                                                            tmp_path: Path) -> None:
    """The officer's whole path, each change named and audited."""
    for i in range(3):
        await make_person(db, f"w{i}")
    await make_tukang(db, "eng", locale="en", skills=(PAINTER,))
    await make_person(db, "wa", accounts=[{"channel": "whatsapp", "address": "whatsapp:+628111",
                                      "last_inbound_at": NOW - timedelta(days=3)}])
    poster = tmp_path / "poster.png"
    poster.write_bytes(PNG)

    r = await cli("broadcast", "create", "--text", "Pelatihan K3", as_=None)
    assert r.exit_code == 2 and "--as" in r.output  # no officer named
    r = await cli("broadcast", "create", "--text", "x", "--kecamatan", "999999", "--as", "siti")
    assert r.exit_code == 1 and "999999" in r.output
    r = await cli("broadcast", "create", "--text", "x", "--template-sid", "HX12", "--as", "siti")
    assert r.exit_code == 2
    r = await cli("broadcast", "create", "--text", "Pelatihan K3 hari Sabtu", "--image",
                  str(poster), "--as", "siti")
    assert r.exit_code == 0, r.output
    assert "#1" in r.output

    r = await cli("broadcast", "preview", "1", "--json")
    p = json.loads(r.stdout)
    assert p["by_channel"] == {"console": 4} and p["whatsapp_skipped"] == 1
    assert p["text"]["en"].endswith("Type STOP to stop receiving broadcasts; MULAI to "
                                    "subscribe again.")
    r = await cli("broadcast", "preview", "1")
    assert "Pelatihan K3 hari Sabtu" in r.stdout and "Ketik STOP" in r.stdout

    r = await cli("broadcast", "send", "1", "--as", "siti", input="n\n")
    assert r.exit_code == 1 and (await rows_of(db, 1)) == []
    r = await cli("broadcast", "send", "1", "--as", "siti", input="y\n")
    assert r.exit_code == 0, r.output
    assert "5 baris" in r.stdout
    r = await cli("broadcast", "send", "1", "--as", "siti", "--yes")
    assert r.exit_code == 1  # not a draft any more
    rows = await rows_of(db, 1)
    copied = await asyncio.to_thread(Path(rows[0].payload["media"][0]).read_bytes)
    assert copied == PNG  # copied into the data directory, where the senders read it

    st = json.loads((await cli("broadcast", "status", "1", "--json")).stdout)
    assert (st["status"], st["total"], st["queued"], st["skipped"]) == ("sent", 5, 4, 1)
    await DeliveryWorker(db, [RecordingSender()]).drain()
    st = json.loads((await cli("broadcast", "status", "1", "--json")).stdout)
    assert (st["sent"], st["queued"], st["done"]) == (4, 0, 5)
    r = await cli("broadcast", "status", "1", "--watch", "--interval", "0.1")
    assert r.exit_code == 0 and "dikirim 4" in r.stdout

    await cli("broadcast", "create", "--text", "Untuk siapa?", "--kecamatan", SEKUPANG,
              "--as", "siti")
    r = await cli("broadcast", "send", "2", "--as", "siti", "--yes")
    assert r.exit_code == 1 and "tidak punya penerima" in r.output  # nobody in Sekupang
    await cli("broadcast", "cancel", "2", "--as", "siti", "--yes")

    await cli("broadcast", "create", "--text", "Dibatalkan", "--audience", "tukang",
              "--as", "siti")
    assert (await cli("broadcast", "send", "3", "--as", "siti", "--yes")).exit_code == 0
    r = await cli("broadcast", "cancel", "3", "--as", "siti", "--yes")
    assert r.exit_code == 0 and "1 pesan" in r.stdout
    listed = json.loads((await cli("broadcast", "list", "--json")).stdout)
    assert [(x["id"], x["status"], x["penerima"]) for x in listed] == [
        (3, "cancelled", 1), (2, "cancelled", 0), (1, "sent", 5)]
    async with db.read() as s:
        actions = list((await s.execute(select(AuditLog.action, AuditLog.actor).where(
            AuditLog.action.like("broadcast.%")).order_by(AuditLog.id))).all())
    siti = "admin:siti"
    assert actions == [("broadcast.create", siti), ("broadcast.send", siti),
                       ("broadcast.create", siti), ("broadcast.cancel", siti),
                       ("broadcast.create", siti), ("broadcast.send", siti),
                       ("broadcast.cancel", siti)]


# --- subscriptions in the bot -------------------------------------------------------------


async def test_subscribe_to_topics_and_get_only_those(t: Harness) -> None:
    """Langganan info lists the published topics; a topic broadcast reaches its subscribers."""
    async with t.db.transaction() as s:
        for title, topic in (("PBG", "perizinan"), ("Helm", "keselamatan"),
                             ("Jadwal", "pelatihan")):
            s.add(InfoArticle(title=title, topic=topic, body="-", published=True,
                              published_at=NOW, created_at=NOW, updated_at=NOW))
    await register_warga(t, "budi")
    await register_warga(t, "sari", name="Sari Dewi", phone="081234567891")
    await t.press("budi", "Langganan info")
    ask = t.last("budi")
    # topics by their titles, not their slugs
    assert ask.labels == ["Keselamatan kerja", "Pelatihan", "Perizinan bangunan", "Selesai"]
    await t.press("budi", "Keselamatan kerja")
    await t.send("budi", "2")  # typing the number works too
    assert t.last("budi").labels[:2] == ["✅ Keselamatan kerja", "✅ Pelatihan"]
    await t.press("budi", "Selesai")
    assert "Keselamatan kerja, Pelatihan" in t.got("budi", "Langganan disimpan").text
    await t.assert_step("budi", "menu.home")
    async with t.db.read() as s:
        topics = (await s.execute(select(User.topics).where(User.name == "Budi Santoso"))
                  ).scalar_one()
    assert topics == ["keselamatan", "pelatihan"]

    await t.press("budi", "Langganan info")  # ticked as saved; untick one
    assert t.last("budi").labels[:2] == ["✅ Keselamatan kerja", "✅ Pelatihan"]
    await t.press("budi", "✅ Pelatihan")
    await t.press("budi", "Selesai")

    b = await make(t.db, audience=bc.Audience(topics=("Keselamatan",)))
    await send_now(t.db, b, now=t.clock())
    assert [r.address for r in await rows_of(t.db, b)] == ["budi"]
    b = await make(t.db, audience=bc.Audience(topics=("pelatihan",)))
    await send_now(t.db, b, now=t.clock())
    assert await rows_of(t.db, b) == []


async def test_subscriptions_when_there_is_nothing_yet(t: Harness) -> None:
    """Without published topics the person is told so and returns to the menu."""
    await register_warga(t, "budi")
    await t.press("budi", "Langganan info")
    assert "Belum ada topik" in t.texts("budi")[0]
    await t.assert_step("budi", "menu.home")


async def test_counts_over_statuses(db: Database) -> None:
    """Status counts group the broadcast's rows and give a rate over the last minute."""
    await many(db, 5)
    b = await make(db)
    await send_now(db, b)
    async with db.transaction() as s:
        await s.execute(update(Outbox).where(Outbox.broadcast_id == b, Outbox.id <= 3)
                        .values(status="sent", sent_at=NOW))
    async with db.read() as s:
        c = await bc.counts(s, b, NOW + timedelta(seconds=2))
        n = (await s.execute(select(func.count()).select_from(Outbox))).scalar_one()
    assert c["by_status"] == {"sent": 3, "queued": 2} and n == 5
    assert c["rate_per_second"] == 1.5
