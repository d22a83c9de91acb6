"""The same conversations, word for word, on the console, on Telegram and on WhatsApp: one
test body each, run through each channel's real way in and out (tests/harness.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from storage.models import ChannelAccount, User
from tests import media_samples as samples
from tests.factories import BATAM_KOTA, book, category_id, job_of, make_tukang
from tests.harness import Harness

JPEG = samples.JPEG  # a real one: files are judged by their bytes (bot/media.py)


async def test_a_new_warga_registers_and_reaches_the_menu(any_channel: Harness) -> None:
    """Welcome with the consent buttons, name, phone (asked unless WhatsApp vouches for the
    number), kecamatan: a registered warga at the main menu, reachable on that channel."""
    h = any_channel
    await h.send("budi", "halo")
    welcome = h.last("budi")
    assert "SIJAKON" in welcome.text
    assert welcome.labels == ["Setuju", "Tidak setuju", "Baca kebijakan data"]
    await h.press("budi", "Setuju")
    await h.assert_step("budi", "start.name")
    await h.send("budi", "Budi Santoso")
    asked_phone = await h.step("budi") == "start.phone"
    assert asked_phone == (h.channel != "whatsapp")
    if asked_phone:
        await h.send("budi", "0812-3456-7890")
    assert "Batam Kota" in h.last("budi").labels
    await h.press("budi", "Batam Kota")
    await h.assert_step("budi", "menu.home")
    assert "Pendaftaran selesai" in h.got("budi", "Terima kasih, Budi Santoso").text
    assert "Pesan tukang" in h.last("budi").labels
    async with h.db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
        account = (await s.execute(select(ChannelAccount))).scalar_one()
    assert (user.name, user.role, user.kecamatan_code) == ("Budi Santoso", "warga", BATAM_KOTA)
    assert user.phone_verified == (h.channel == "whatsapp")
    assert (account.channel, account.address, account.user_id) == (*h.account("budi"), user.id)


async def test_a_warga_books_a_tukang_who_accepts(any_channel: Harness) -> None:
    """A warga books Pengecatan with a photo and picks Andi; Andi gets the offer with the
    photo and Terima/Tolak (never the address), accepts, and each gets the other's contact."""
    h = any_channel
    andi = await make_tukang(h, "andi", "Andi", phone="+6281299990001")
    await h.send("andi", "menu")  # Andi has the chat open (on WhatsApp: the window is too)
    await book(h, "budi", photo=JPEG, address="Jl. Sudirman No. 12")
    assert h.got("budi", "Foto diterima").text.startswith("Foto diterima (1/5)")
    assert "Foto: 1" in h.got("budi", "Ringkasan pesanan").text
    assert h.last("budi").labels[0] == "Andi"
    await h.press("budi", "Andi")
    assert "Andi" in h.got("budi", "sudah dikirim ke").text

    offer = h.got("andi", "J-2611-0001")
    assert offer.labels == ["Terima", "Tolak"] and len(offer.media) == 1
    assert "Pengecatan" in offer.text and "Sudirman" not in offer.text
    await h.press("andi", "Terima")
    mine = h.got("andi", "Anda menerima").text
    assert "Budi Santoso" in mine and "Jl. Sudirman No. 12" in mine
    assert "+6281299990001" in h.got("budi", "menerima pesanan").text
    job = await job_of(h.db)
    assert (job.status, job.tukang_id, len(job.photos)) == ("accepted", andi, 1)


@pytest.mark.parametrize("step", ["booking.description", "booking.time"])
async def test_a_conversation_can_start_at_any_step(any_channel: Harness, step: str) -> None:
    """setup_state puts a registered warga mid-booking with the question on their screen;
    what they answer there is handled like at the end of a walk-through."""
    h = any_channel
    pengecatan = await category_id(h.db, "Pengecatan")
    await h.setup_state("budi", step=step, data={"category_id": pengecatan}, user={"name": "Budi"})
    await h.assert_step("budi", step)
    question = h.last("budi").text
    h.replies("budi")
    await h.send("budi", "🤷")
    texts = h.texts("budi")
    assert len(texts) >= 2 and texts[-1] == question  # help, then the same question
    await h.send("budi", "menu")
    await h.assert_step("budi", "menu.home")


async def test_a_failure_shows_the_transcript(any_channel: Harness) -> None:
    """A wrong step, a button that is not there or a message never received fails saying
    where the person is, with the conversation so far."""
    h = any_channel
    await h.send("budi", "halo")
    with pytest.raises(AssertionError) as wrong:
        await h.assert_step("budi", "menu.home")
    told = str(wrong.value)
    assert "budi is at step 'start.welcome', not 'menu.home'" in told
    assert f"Transcript ({h.channel}):" in told and "budi > halo" in told
    assert "'Setuju', 'Tidak setuju'" in told  # what budi was shown
    with pytest.raises(AssertionError, match="budi has no button 'Pesan tukang'"):
        await h.press("budi", "Pesan tukang")
    with pytest.raises(AssertionError, match="budi never got 'Menu utama'"):
        h.got("budi", "Menu utama")
