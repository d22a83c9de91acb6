"""A warga on Telegram, through the real adapter (PTB's Bot), in polling and in webhook mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import ChannelAccount, User
from tests.channels import TG_SECRET, TG_WEBHOOK_URL, telegram

MODES = ["polling", "webhook"]


@pytest.mark.parametrize("mode", MODES)
async def test_warga_registers_with_buttons_and_contact(db: Database, tmp_path: Path,
                                                        mode: str) -> None:
    """Start, consent button, name, shared own contact, kecamatan button: registered with a
    verified phone; buttons, HTML escaping and the share-number keyboard as Telegram shows them."""
    async with telegram(db, tmp_path, mode=mode) as h:
        budi = h.driver.person("5001", "Budi & Sari")
        await h.send("5001", "/start")
        [welcome] = h.replies("5001")
        assert welcome.raw.params["parse_mode"] == "HTML"
        assert "SIJAKON" in welcome.text
        assert welcome.labels == ["Setuju", "Tidak setuju", "Baca kebijakan data"]
        assert welcome.raw.rows == [["Setuju", "Tidak setuju"], ["Baca kebijakan data"]]

        await h.press("5001", "Setuju")
        got = h.replies("5001")
        assert [m.text for m in got] == ["Siapa nama Anda?"]
        # the name suggestion is a plain-text button: no HTML entities on a button
        assert got[0].labels == ["Pakai nama Budi & Sari"]
        answered = h.driver.server.requests("answerCallbackQuery")
        assert len(answered) == 1
        edits = h.driver.server.requests("editMessageReplyMarkup", chat_id=5001)
        assert [b["text"] for b in edits[-1].params["reply_markup"]["inline_keyboard"][0]] == \
            ["✅ Setuju"]

        await h.send("5001", "Budi & Sari")
        ask_phone = h.last("5001").raw
        assert "nomor HP" in ask_phone.text
        keyboard = ask_phone.markup["keyboard"]
        assert keyboard[0][0] == {"text": "📱 Bagikan nomor saya", "request_contact": True}
        assert ask_phone.markup["one_time_keyboard"] is True

        await h.deliver(budi.contact("6281234567890"))
        assert "kecamatan" in h.last("5001").text.lower()
        assert "Batam Kota" in h.last("5001").labels and len(h.last("5001").labels) == 12
        assert max(len(r) for r in h.last("5001").raw.rows) <= 8

        h.replies("5001")
        await h.press("5001", "Batam Kota")
        got = h.replies("5001")
        thanks = next(m for m in got if "Terima kasih" in m.text)
        assert "Budi &amp; Sari" in thanks.raw.text  # the variable is escaped in the HTML text
        assert any(m.raw.markup.get("remove_keyboard") for m in got)  # the share keyboard goes
        menu = got[-1]
        assert "Menu utama" in menu.text and menu.labels

        async with db.read() as s:
            user = (await s.execute(select(User))).scalar_one()
            account = (await s.execute(select(ChannelAccount))).scalar_one()
        assert (user.name, user.phone, user.phone_verified) == ("Budi & Sari", "+6281234567890",
                                                                True)
        assert (account.channel, account.address) == ("telegram", "5001")

        await h.press("5001", "Bantuan")
        got = h.replies("5001")
        assert any("Menu utama" in m.text for m in got), [m.text for m in got]
        await h.send("5001", "/menu@SijakonTestBot")
        assert "Menu utama" in h.last("5001").text

        # an old keyboard cannot be used twice: its line now just says what was chosen
        first = h.driver.server.requests("editMessageReplyMarkup", chat_id=5001)[0]
        assert first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "~"

        if mode == "webhook":
            assert h.driver.server.webhook == {
                "url": TG_WEBHOOK_URL, "secret_token": TG_SECRET,
                "allowed_updates": ["message", "edited_message", "callback_query"]}
        else:  # polling asked whether a webhook is set, and deleted nothing
            assert h.driver.server.requests("getWebhookInfo")
            assert not h.driver.server.requests("deleteWebhook")
        assert [c["command"] for c in h.driver.server.commands[None]] == [
            "start", "menu", "batal", "bantuan", "stop"]
        assert h.driver.server.commands["en"][1]["description"] == "Main menu"


@pytest.mark.parametrize("mode", MODES)
async def test_someone_elses_contact_is_not_a_verified_phone(db: Database, tmp_path: Path,
                                                             mode: str) -> None:
    """A contact card of another person is read as a typed number: kept, but not verified."""
    async with telegram(db, tmp_path, mode=mode) as h:
        ani = h.driver.person("ani", "Ani")
        await h.send("ani", "halo")
        await h.press("ani", "Setuju")
        await h.send("ani", "Ani Lestari")
        await h.deliver(ani.contact("6281234567891", own=False))
        assert "kecamatan" in h.last("ani").text.lower()
        await h.press("ani", "Sekupang")
        async with db.read() as s:
            user = (await s.execute(select(User))).scalar_one()
        assert (user.phone, user.phone_verified) == ("+6281234567891", False)
