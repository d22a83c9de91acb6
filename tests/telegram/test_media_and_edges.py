"""Photos, documents, locations and the odd updates (edits, groups, channels) on Telegram."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from standins.telegram import channel_post, group_message
from storage.db import Database
from storage.models import Conversation, Outbox, ProcessedUpdate
from tests import media_samples as samples
from tests.channels import photo_registry, telegram

MODES = ["polling", "webhook"]
JPEG = samples.JPEG  # a real one: files are judged by their bytes (bot/media.py)


async def notices(db: Database) -> list[tuple[str, str, int, str]]:
    """The outbox rows of the adapter notices: (address, key, priority, status)."""
    async with db.read() as s:
        rows = await s.execute(select(Outbox.address, Outbox.key, Outbox.priority, Outbox.status)
                               .where(Outbox.key.like("notice.%")).order_by(Outbox.id))
        return [(r.address, r.key, r.priority, r.status) for r in rows]


@pytest.mark.parametrize("mode", MODES)
async def test_photo_reaches_the_flow_as_media(db: Database, tmp_path: Path, mode: str) -> None:
    """The largest size is downloaded into the data dir and reaches a Photos step as Media;
    other files get a polite answer and change nothing."""
    received: list[list[str]] = []
    async with telegram(db, tmp_path, mode=mode, registry=photo_registry(received)) as h:
        await h.setup_state("6001", step="test.photos", user=True)
        await h.photo("6001", JPEG, caption="atap bocor")
        assert h.last("6001").text.startswith("Foto diterima (1/3)")
        downloads = h.driver.server.requests("download")
        assert downloads and downloads[-1].params["file_path"].startswith("photos/file_")

        budi = h.driver.person("6001")
        h.replies("6001")
        await h.deliver(budi.document(b"%PDF-1.4 fake", "surat.pdf", "application/pdf"))
        assert "bukan foto" in h.replies("6001")[0].text
        await h.deliver(budi.document(b"hello", "catatan.txt", "text/plain"))
        assert "JPG/PNG atau PDF" in h.replies("6001")[0].text
        await h.deliver(budi.document(samples.PNG, "rumah.png", "image/png"))
        assert h.last("6001").text.startswith("Foto diterima (2/3)")

        await h.press("6001", "Selesai")
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
    async with telegram(db, tmp_path, mode=mode, registry=photo_registry(received),
                        sijakon_max_media_bytes=1024 * 1024) as h:
        await h.setup_state("6002", step="test.photos", user=True)
        h.replies("6002")
        await h.photo("6002", b"\xff\xd8" + b"x" * (2 * 1024 * 1024))
        assert h.texts("6002") == [
            "Maaf, file itu terlalu besar (maksimal 1 MB). Kirim foto yang lebih kecil."]
        assert not h.driver.server.requests("download")
        assert not list((tmp_path / "media").rglob("*.jpg"))
        assert await notices(db) == [("6002", "notice.file_too_large", 0, "sent")]
        await h.assert_step("6002", "test.photos")


@pytest.mark.parametrize("mode", MODES)
async def test_file_telegram_will_not_give_is_asked_again(db: Database, tmp_path: Path,
                                                          mode: str) -> None:
    """getFile failing: the person is asked to send the file again (retried like any reply
    when Telegram refuses it at first) and stays at the photo step."""
    async with telegram(db, tmp_path, mode=mode, registry=photo_registry([])) as h:
        await h.setup_state("6005", step="test.photos", user=True)
        h.replies("6005")
        h.driver.server.fail("getFile", 400, "Bad Request: file is temporarily unavailable")
        h.driver.server.fail("sendMessage", 429, chat_id=6005, retry_after=1)
        await h.photo("6005", JPEG)
        assert h.replies("6005") == []  # refused with 429: the row waits
        assert await notices(db) == [("6005", "notice.file_failed", 0, "queued")]
        h.clock.advance(seconds=1)
        await h.refresh()
        assert h.texts("6005") == [
            "Maaf, file Anda tidak bisa kami ambil. Silakan kirim sekali lagi."]
        assert await notices(db) == [("6005", "notice.file_failed", 0, "sent")]
        await h.assert_step("6005", "test.photos")


@pytest.mark.parametrize("mode", MODES)
async def test_edits_groups_channels_and_stickers_never_crash(db: Database, tmp_path: Path,
                                                              mode: str) -> None:
    """Edited messages get a short note and group commands point to a private chat, both as
    outbox replies that start no conversation; channel posts and service messages are
    ignored; a location, a sticker or an edit mid-flow leaves the question where it was."""
    async with telegram(db, tmp_path, mode=mode) as h:
        server = h.driver.server
        sari = h.driver.person("6003", "Sari", language_code="en")
        await h.deliver(sari.edited("halo"))
        assert h.texts("6003") == ["We do not read edited messages. Please send a new message."]

        assert await h.deliver(group_message(server, "/start@SijakonTestBot")) == 200
        assert await h.deliver(group_message(server, "obrolan biasa")) == 200
        assert await h.deliver(channel_post(server, "pengumuman")) == 200
        group = h.all("-100200300")
        assert len(group) == 1 and "chat pribadi" in group[0].text
        assert h.all("-100999") == []
        assert await notices(db) == [("6003", "notice.edited", 0, "sent"),
                                     ("-100200300", "notice.private_only", 0, "sent")]
        async with db.read() as s:
            assert (await s.execute(select(func.count()).select_from(Conversation))).scalar() == 0

        timer = sari.text("x")
        del timer["message"]["text"]
        timer["message"]["message_auto_delete_timer_changed"] = {
            "message_auto_delete_time": 86400}
        await h.deliver(timer)
        assert h.replies("6003") == []  # a service message: nobody said anything

        await h.send("6003", "halo")  # her Telegram is in English: so is the conversation
        await h.press("6003", "I agree")
        await h.deliver(sari.location(1.13, 104.05))
        assert "What is your name?" in h.last("6003").text
        sticker = sari.update(message={**sari.text("x")["message"], "text": None,
                                       "sticker": {"file_id": "st", "file_unique_id": "st",
                                                   "width": 512, "height": 512,
                                                   "is_animated": False, "is_video": False,
                                                   "type": "regular"}})
        del sticker["message"]["text"]
        await h.deliver(sticker)
        assert "What is your name?" in h.last("6003").text
        h.replies("6003")
        await h.deliver(sari.edited("Sari"))
        assert h.texts("6003") == ["We do not read edited messages. Please send a new message."]
        await h.assert_step("6003", "start.name")


@pytest.mark.parametrize("language", ["en", "en-GB", "id", "de", None])
async def test_first_contact_speaks_the_language_of_the_persons_telegram(
        db: Database, tmp_path: Path, language: str | None) -> None:
    """Telegram in English: welcomed in English; Indonesian, another language or none: in
    Indonesian (the default). The conversation keeps that language."""
    async with telegram(db, tmp_path) as h:
        h.driver.person("rina", "Rina", language_code=language)
        await h.send("rina", "/start")
        [welcome] = h.replies("rina")
        english = language is not None and language.startswith("en")
        assert welcome.labels[0] == ("I agree" if english else "Setuju")
        await h.press("rina", welcome.labels[0])
        assert h.last("rina").text == ("What is your name?" if english else "Siapa nama Anda?")
        await h.send("rina", "Rina Wati")  # the share-number button's label too
        share = h.last("rina").raw.markup["keyboard"][0][0]["text"]
        assert share == ("📱 Share my number" if english else "📱 Bagikan nomor saya")


@pytest.mark.parametrize("mode", MODES)
async def test_repeated_update_id_is_handled_once(db: Database, tmp_path: Path,
                                                  mode: str) -> None:
    """Telegram redelivering an update (same update_id) changes nothing and sends nothing."""
    async with telegram(db, tmp_path, mode=mode) as h:
        first = h.driver.person("6004", "Budi").text("/start")
        await h.deliver(first)
        assert len(h.replies("6004")) == 1
        again = dict(first)
        if mode == "polling":
            again["update_id"] = first["update_id"]
            h.driver.server.confirmed = 0  # as if Telegram lost our confirmation
        assert await h.deliver(again) == 200
        assert h.replies("6004") == []
        async with db.read() as s:
            n = (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar()
        assert n == 1
