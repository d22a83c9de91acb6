"""A warga on Telegram, through the real adapter (PTB's Bot), in polling and in webhook mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import ChannelAccount, User
from tests.telegram.helpers import SECRET, WEBHOOK_URL, telegram_bot
from tests.telegram.standin import Person

MODES = ["polling", "webhook"]


@pytest.mark.parametrize("mode", MODES)
async def test_warga_registers_with_buttons_and_contact(db: Database, tmp_path: Path,
                                                        mode: str) -> None:
    """Start, consent button, name, shared own contact, kecamatan button: registered with a
    verified phone; buttons, HTML escaping and the share-number keyboard as Telegram shows them."""
    async with telegram_bot(db, tmp_path, mode=mode) as h:
        budi = Person(h.server, 5001, "Budi & Sari")
        got = await h.act(budi.text("/start"))
        assert len(got) == 1
        welcome = got[0]
        assert welcome.params["parse_mode"] == "HTML"
        assert "SIJAKON" in welcome.text
        assert welcome.labels == ["Setuju", "Tidak setuju", "Baca kebijakan data"]
        assert welcome.rows == [["Setuju", "Tidak setuju"], ["Baca kebijakan data"]]

        got = await h.act(budi.press("Setuju"))
        assert [c.text for c in got] == ["Siapa nama Anda?"]
        # the name suggestion is a plain-text button: no HTML entities on a button
        assert got[0].labels == ["Pakai nama Budi & Sari"]
        answered = h.server.requests("answerCallbackQuery")
        assert len(answered) == 1
        edits = h.server.requests("editMessageReplyMarkup", chat_id=5001)
        assert [b["text"] for b in edits[-1].params["reply_markup"]["inline_keyboard"][0]] == \
            ["✅ Setuju"]

        got = await h.act(budi.text("Budi & Sari"))
        ask_phone = got[-1]
        assert "nomor HP" in ask_phone.text
        keyboard = ask_phone.markup["keyboard"]
        assert keyboard[0][0] == {"text": "📱 Bagikan nomor saya", "request_contact": True}
        assert ask_phone.markup["one_time_keyboard"] is True

        got = await h.act(budi.contact("6281234567890"))
        assert "kecamatan" in got[-1].text.lower()
        assert "Batam Kota" in got[-1].labels and len(got[-1].labels) == 12
        assert max(len(r) for r in got[-1].rows) <= 8

        got = await h.act(budi.press("Batam Kota"))
        thanks = next(c for c in got if "Terima kasih" in c.text)
        assert "Budi &amp; Sari" in thanks.text  # the variable is escaped in the HTML text
        assert any(c.markup.get("remove_keyboard") for c in got)  # the share keyboard goes
        menu = got[-1]
        assert "Menu utama" in menu.text and menu.labels

        async with db.read() as s:
            user = (await s.execute(select(User))).scalar_one()
            account = (await s.execute(select(ChannelAccount))).scalar_one()
        assert (user.name, user.phone, user.phone_verified) == ("Budi & Sari", "+6281234567890",
                                                                True)
        assert (account.channel, account.address) == ("telegram", "5001")

        got = await h.act(budi.press("Bantuan"))
        assert any("Menu utama" in c.text for c in got), [c.text for c in got]
        got = await h.act(budi.text("/menu@SijakonTestBot"))
        assert "Menu utama" in got[-1].text

        # an old keyboard cannot be used twice: its line now just says what was chosen
        first = h.server.requests("editMessageReplyMarkup", chat_id=5001)[0]
        assert first.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "~"

        if mode == "webhook":
            assert h.server.webhook == {"url": WEBHOOK_URL, "secret_token": SECRET,
                                        "allowed_updates": ["message", "edited_message",
                                                            "callback_query"]}
        else:
            assert h.server.requests("deleteWebhook")
        assert [c["command"] for c in h.server.commands[None]] == [
            "start", "menu", "batal", "bantuan", "stop"]
        assert h.server.commands["en"][1]["description"] == "Main menu"


@pytest.mark.parametrize("mode", MODES)
async def test_someone_elses_contact_is_not_a_verified_phone(db: Database, tmp_path: Path,
                                                             mode: str) -> None:
    """A contact card of another person is read as a typed number: kept, but not verified."""
    async with telegram_bot(db, tmp_path, mode=mode) as h:
        ani = Person(h.server, 5002, "Ani")
        await h.act(ani.text("halo"))
        await h.act(ani.press("Setuju"))
        await h.act(ani.text("Ani Lestari"))
        got = await h.act(ani.contact("6281234567891", own=False))
        assert "kecamatan" in got[-1].text.lower()
        await h.act(ani.press("Sekupang"))
        async with db.read() as s:
            user = (await s.execute(select(User))).scalar_one()
        assert (user.phone, user.phone_verified) == ("+6281234567891", False)
