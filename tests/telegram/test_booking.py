"""A whole booking over Telegram: a warga books with a photo, a tukang accepts by button."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.db import Database
from tests import media_samples as samples
from tests.channels import telegram
from tests.factories import book, job_of, make_tukang, offers_of

JPEG = samples.JPEG  # a real one: files are judged by their bytes (bot/media.py)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_booking_and_tukang_accepting_over_telegram(db: Database, tmp_path: Path,
                                                          mode: str) -> None:
    """Register, book Pengecatan with a photo, pick Andi; Andi gets the offer as a photo with
    Terima/Tolak, presses Terima; both get each other's contact; the job is accepted."""
    async with telegram(db, tmp_path, mode=mode) as h:
        andi_id = await make_tukang(h, "andi", "Andi", phone="+6281299990001", at_menu=False)
        await h.send("budi", "/start")
        await h.press("budi", "Setuju")
        await h.send("budi", "Budi Santoso")
        await h.deliver(h.driver.person("budi").contact("6281234567890"))
        await h.press("budi", "Batam Kota")

        await book(h, "budi", register=False, photo=JPEG, address="Jl. Sudirman No. 12")
        assert h.got("budi", "Kirim foto bagian").labels == ["Lewati"]  # asked for photos
        assert h.got("budi", "Foto diterima").labels == ["Selesai"]
        assert "Andi" in h.last("budi").labels
        h.replies("budi")
        await h.press("budi", "Andi")
        assert any("sudah dikirim" in m.text for m in h.replies("budi"))

        offer = h.replies("andi")
        assert len(offer) == 1 and offer[0].raw.method == "sendPhoto"
        assert offer[0].raw.files and next(iter(offer[0].raw.files.values())) == JPEG
        assert "J-2611-0001" in offer[0].text and "Sudirman" not in offer[0].text
        assert offer[0].labels == ["Terima", "Tolak"]

        h.replies("budi")
        await h.press("andi", "Terima")
        assert any("Anda menerima" in m.text and "+6281234567890" in m.text
                   for m in h.replies("andi"))
        assert any("menerima pesanan" in m.text and "+6281299990001" in m.text
                   for m in h.replies("budi"))
        job = await job_of(db)
        assert (job.status, job.tukang_id) == ("accepted", andi_id)
        assert [o.status for o in await offers_of(db, job.id or 0)] == ["accepted"]

        # pressing Terima again on the same (now marked) message does nothing twice
        _, andi_chat = h.account("andi")
        edits = h.driver.server.requests("editMessageReplyMarkup", chat_id=int(andi_chat))
        assert edits[-1].params["reply_markup"]["inline_keyboard"] == [
            [{"text": "✅ Terima", "callback_data": "~"}]]
