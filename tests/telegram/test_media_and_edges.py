"""Photos, documents, locations and the odd updates (edits, groups, channels) on Telegram."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from flows.context import Context
from flows.registry import HOME, Registry, load_flows
from flows.steps import Next, Photos
from storage.db import Database
from storage.models import Conversation, Outbox, ProcessedUpdate
from tests.telegram.helpers import TgHarness, telegram_bot
from tests.telegram.standin import Person, channel_post, group_message

MODES = ["polling", "webhook"]
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"


def photo_registry(received: list[list[str]]) -> Registry:
    """The real flows plus a test-only Photos step (the booking flows have their own)."""

    async def then(ctx: Context, paths: list[str]) -> Next:
        received.append(paths)
        ctx.say("choice.done")
        return HOME

    return load_flows().extended(
        Photos(name="test.photos", key="help.photos", then=then, maximum=3))


async def register(h: TgHarness, person: Person) -> None:
    await h.act(person.text("/start"))
    await h.act(person.press("Setuju"))
    await h.act(person.text("Budi Santoso"))
    await h.act(person.contact("6281234567890"))
    await h.act(person.press("Batam Kota"))


async def put_at(db: Database, address: str, step: str) -> None:
    async with db.transaction() as s:
        await s.execute(update(Conversation).where(Conversation.address == address)
                        .values(step=step))


async def step_of(db: Database, address: str) -> str:
    async with db.read() as s:
        return (await s.execute(select(Conversation.step)
                                .where(Conversation.address == address))).scalar_one()


async def notices(db: Database) -> list[tuple[str, str, int, str]]:
    """The outbox rows of the adapter notices: (address, key, priority, status)."""
    async with db.read() as s:
        rows = await s.execute(select(Outbox.address, Outbox.key, Outbox.priority, Outbox.status)
                               .where(Outbox.key.like("telegram.%")).order_by(Outbox.id))
        return [(r.address, r.key, r.priority, r.status) for r in rows]


@pytest.mark.parametrize("mode", MODES)
async def test_photo_reaches_the_flow_as_media(db: Database, tmp_path: Path, mode: str) -> None:
    """The largest size is downloaded into the data dir and reaches a Photos step as Media;
    other files get a polite answer and change nothing."""
    received: list[list[str]] = []
    async with telegram_bot(db, tmp_path, mode=mode, registry=photo_registry(received)) as h:
        budi = Person(h.server, 6001, "Budi")
        await register(h, budi)
        await put_at(db, "6001", "test.photos")

        got = await h.act(budi.photo(JPEG, caption="atap bocor"))
        assert got[-1].text.startswith("Foto diterima (1/3)")
        downloads = h.server.requests("download")
        assert downloads and downloads[-1].params["file_path"].startswith("photos/file_")

        got = await h.act(budi.document(b"%PDF-1.4 fake", "surat.pdf", "application/pdf"))
        assert "bukan foto" in got[0].text
        got = await h.act(budi.document(b"hello", "catatan.txt", "text/plain"))
        assert "bukan foto" in got[0].text
        got = await h.act(budi.document(JPEG, "rumah.png", "image/png"))
        assert got[-1].text.startswith("Foto diterima (2/3)")

        await h.act(budi.press("Selesai"))
        assert len(received) == 1 and len(received[0]) == 2
        first, second = (Path(p) for p in received[0])
        assert first.read_bytes() == JPEG and first.suffix == ".jpg"
        assert second.suffix == ".png"
        assert (tmp_path / "media") in first.parents


@pytest.mark.parametrize("mode", MODES)
async def test_too_large_photo_is_refused_politely(db: Database, tmp_path: Path,
                                                   mode: str) -> None:
    """A photo over SIJAKON_MAX_MEDIA_BYTES is not downloaded; the person is told the limit
    (an outbox reply) and is still at the photo step."""
    received: list[list[str]] = []
    async with telegram_bot(db, tmp_path, mode=mode, registry=photo_registry(received),
                            sijakon_max_media_bytes=1024 * 1024) as h:
        budi = Person(h.server, 6002, "Budi")
        await register(h, budi)
        await put_at(db, "6002", "test.photos")
        got = await h.act(budi.photo(b"\xff\xd8" + b"x" * (2 * 1024 * 1024)))
        assert [c.text for c in got] == [
            "Maaf, file itu terlalu besar (maksimal 1 MB). Kirim foto yang lebih kecil."]
        assert not h.server.requests("download")
        assert not list((tmp_path / "media").rglob("*.jpg"))
        assert await notices(db) == [("6002", "telegram.file_too_large", 0, "sent")]
        assert await step_of(db, "6002") == "test.photos"


@pytest.mark.parametrize("mode", MODES)
async def test_file_telegram_will_not_give_is_asked_again(db: Database, tmp_path: Path,
                                                          mode: str) -> None:
    """getFile failing: the person is asked to send the file again (retried like any reply
    when Telegram refuses it at first) and stays at the photo step."""
    async with telegram_bot(db, tmp_path, mode=mode, registry=photo_registry([])) as h:
        budi = Person(h.server, 6005, "Budi")
        await register(h, budi)
        await put_at(db, "6005", "test.photos")
        h.server.fail("getFile", 400, "Bad Request: file is temporarily unavailable")
        h.server.fail("sendMessage", 429, chat_id=6005, retry_after=1)
        assert await h.act(budi.photo(JPEG)) == []  # refused with 429: the row waits
        assert await notices(db) == [("6005", "telegram.file_failed", 0, "queued")]
        h.clock.advance(seconds=1)
        await h.drain()
        assert [c.text for c in h.new(6005)] == [
            "Maaf, file Anda tidak bisa kami ambil. Silakan kirim sekali lagi."]
        assert await notices(db) == [("6005", "telegram.file_failed", 0, "sent")]
        assert await step_of(db, "6005") == "test.photos"


@pytest.mark.parametrize("mode", MODES)
async def test_edits_groups_channels_and_stickers_never_crash(db: Database, tmp_path: Path,
                                                              mode: str) -> None:
    """Edited messages get a short note and group commands point to a private chat, both as
    outbox replies that start no conversation; channel posts and service messages are
    ignored; a location, a sticker or an edit mid-flow leaves the question where it was."""
    async with telegram_bot(db, tmp_path, mode=mode) as h:
        sari = Person(h.server, 6003, "Sari", language_code="en")
        got = await h.act(sari.edited("halo"))
        assert [c.text for c in got] == [
            "We do not read edited messages. Please send a new message."]

        assert await h.deliver(group_message(h.server, "/start@SijakonTestBot")) == 200
        assert await h.deliver(group_message(h.server, "obrolan biasa")) == 200
        assert await h.deliver(channel_post(h.server, "pengumuman")) == 200
        await h.drain()
        group = h.server.sent(-100200300)
        assert len(group) == 1 and "chat pribadi" in group[0].text
        assert not h.server.sent(-100999)
        assert await notices(db) == [("6003", "telegram.edited", 0, "sent"),
                                     ("-100200300", "telegram.private_only", 0, "sent")]
        async with db.read() as s:
            assert (await s.execute(select(func.count()).select_from(Conversation))).scalar() == 0

        timer = sari.text("x")
        del timer["message"]["text"]
        timer["message"]["message_auto_delete_timer_changed"] = {
            "message_auto_delete_time": 86400}
        assert await h.act(timer) == []  # a service message: nobody said anything

        await h.act(sari.text("halo"))  # her Telegram is in English: so is the conversation
        await h.act(sari.press("I agree"))
        got = await h.act(sari.location(1.13, 104.05))
        assert "What is your name?" in got[-1].text
        sticker = sari.update(message={**sari.text("x")["message"], "text": None,
                                       "sticker": {"file_id": "st", "file_unique_id": "st",
                                                   "width": 512, "height": 512,
                                                   "is_animated": False, "is_video": False,
                                                   "type": "regular"}})
        del sticker["message"]["text"]
        got = await h.act(sticker)
        assert "What is your name?" in got[-1].text
        got = await h.act(sari.edited("Sari"))
        assert [c.text for c in got] == [
            "We do not read edited messages. Please send a new message."]
        assert await step_of(db, "6003") == "start.name"


@pytest.mark.parametrize("language", ["en", "en-GB", "id", "de", None])
async def test_first_contact_speaks_the_language_of_the_persons_telegram(
        db: Database, tmp_path: Path, language: str | None) -> None:
    """Telegram in English: welcomed in English; Indonesian, another language or none: in
    Indonesian (the default). The conversation keeps that language."""
    async with telegram_bot(db, tmp_path) as h:
        person = Person(h.server, 6010, "Rina")
        if language is None:
            del person.user["language_code"]
        else:
            person.user["language_code"] = language
        [welcome] = await h.act(person.text("/start"))
        english = language is not None and language.startswith("en")
        assert welcome.labels[0] == ("I agree" if english else "Setuju")
        got = await h.act(person.press(welcome.labels[0]))
        assert got[-1].text == ("What is your name?" if english else "Siapa nama Anda?")
        got = await h.act(person.text("Rina Wati"))  # the share-number button's label too
        share = got[-1].markup["keyboard"][0][0]["text"]
        assert share == ("📱 Share my number" if english else "📱 Bagikan nomor saya")


@pytest.mark.parametrize("mode", MODES)
async def test_repeated_update_id_is_handled_once(db: Database, tmp_path: Path,
                                                  mode: str) -> None:
    """Telegram redelivering an update (same update_id) changes nothing and sends nothing."""
    async with telegram_bot(db, tmp_path, mode=mode) as h:
        budi = Person(h.server, 6004, "Budi")
        first = budi.text("/start")
        assert len(await h.act(first)) == 1
        again = dict(first)
        if mode == "polling":
            again["update_id"] = first["update_id"]
            h.server.confirmed = 0  # as if Telegram lost our confirmation
        assert await h.deliver(again) == 200
        await h.drain()
        assert h.new(6004) == []
        async with db.read() as s:
            n = (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar()
        assert n == 1
