"""A whole booking over Telegram: a warga books with a photo, a tukang accepts by button."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.db import Database
from tests.factories import job_of, make_tukang, offers_of
from tests.telegram.helpers import telegram_bot
from tests.telegram.standin import Person

JPEG = b"\xff\xd8\xff\xe0" + b"dinding" * 300 + b"\xff\xd9"


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_booking_and_tukang_accepting_over_telegram(db: Database, tmp_path: Path,
                                                          mode: str) -> None:
    """Register, book Pengecatan with a photo, pick Andi; Andi gets the offer as a photo with
    Terima/Tolak, presses Terima; both get each other's contact; the job is accepted."""
    andi_id = await make_tukang(db, "5201", "Andi", channel="telegram", phone="+6281299990001")
    async with telegram_bot(db, tmp_path, mode=mode) as h:
        budi = Person(h.server, 5101, "Budi")
        andi = Person(h.server, 5201, "Andi")
        await h.act(budi.text("/start"))
        await h.act(budi.press("Setuju"))
        await h.act(budi.text("Budi Santoso"))
        await h.act(budi.contact("6281234567890"))
        await h.act(budi.press("Batam Kota"))

        await h.act(budi.press("Pesan tukang"))
        await h.act(budi.press("Pengecatan"))
        got = await h.act(budi.text("Cat ulang dinding ruang tamu yang mengelupas"))
        assert "foto" in got[-1].text.lower()
        got = await h.act(budi.photo(JPEG))
        assert "Foto diterima" in got[-1].text
        await h.act(budi.press("Selesai"))
        await h.act(budi.text("1"))  # own kecamatan comes first; typing works like a button
        await h.act(budi.text("Jl. Sudirman No. 12"))
        await h.act(budi.press("Besok"))
        got = await h.act(budi.press("Kirim"))
        assert "Andi" in got[-1].labels
        got = await h.act(budi.press("Andi"))
        assert any("sudah dikirim" in c.text for c in got)

        offer = h.new(5201)
        assert len(offer) == 1 and offer[0].method == "sendPhoto"
        assert offer[0].files and next(iter(offer[0].files.values())) == JPEG
        assert "J-2611-0001" in offer[0].text and "Sudirman" not in offer[0].text
        assert offer[0].labels == ["Terima", "Tolak"]

        got = await h.act(andi.press("Terima"))
        assert any("Anda menerima" in c.text and "+6281234567890" in c.text for c in got)
        told = h.new(5101)
        assert any("menerima pesanan" in c.text and "+6281299990001" in c.text for c in told)
        job = await job_of(db)
        assert (job.status, job.tukang_id) == ("accepted", andi_id)
        assert [o.status for o in await offers_of(db, job.id or 0)] == ["accepted"]

        # pressing Terima again on the same (now marked) message does nothing twice
        edits = h.server.requests("editMessageReplyMarkup", chat_id=5201)
        assert edits[-1].params["reply_markup"]["inline_keyboard"] == [
            [{"text": "✅ Terima", "callback_data": "~"}]]
