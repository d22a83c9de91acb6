"""Actions that cannot be undone ask once more: declining an offer, a warga cancelling while
choosing a tukang, a tukang cancelling a taken job. "No" changes nothing."""

from __future__ import annotations

from tests.factories import book, job_of, make_tukang, offers_of
from tests.harness import Harness


async def test_tolak_asks_first_and_tidak_keeps_the_offer(any_channel: Harness) -> None:
    """Tolak on the work screen asks "Tolak tawaran J-…?"; "Tidak" returns to the offer,
    still pending, with Terima still there; the warga is told nothing."""
    h = any_channel
    await make_tukang(h, "andi", "Andi")
    await book(h, "budi")
    await h.press("budi", "Andi")
    h.replies("budi")
    await h.send("andi", "menu")
    await h.press("andi", "Pekerjaan saya")
    await h.send("andi", "1")
    await h.press("andi", "Tolak")
    ask = h.last("andi")
    assert "Tolak tawaran J-2611-0001?" in ask.text
    assert ask.labels == ["Ya, tolak", "Tidak"]
    await h.press("andi", "Tidak")
    await h.assert_step("andi", "jobs.work_detail")
    assert "Terima" in h.last("andi").labels
    job = await job_of(h.db)
    assert [o.status for o in await offers_of(h.db, job.id or 0)] == ["pending"]
    assert h.replies("budi") == []


async def test_batalkan_pesanan_asks_first_and_tidak_keeps_the_list(t: Harness) -> None:
    """"Batalkan pesanan" on the list of tukang asks once more; "Tidak, lanjutkan" shows the
    same list again and the job stays open."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Batalkan pesanan")
    await t.press("budi", "Tidak, lanjutkan")
    await t.assert_step("budi", "booking.pick")
    assert t.last("budi").labels == ["Andi", "Lihat profil tukang", "Batalkan pesanan"]
    assert (await job_of(t.db)).status == "open"


async def test_a_tukang_cancelling_can_still_keep_the_job(t: Harness) -> None:
    """After the reason, "Tidak, lanjutkan" keeps the job taken: no cancellation counted,
    the warga is told nothing."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.press("andi", "Terima")
    t.replies("budi")
    await t.send("andi", "menu")
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Batalkan")
    await t.send("andi", "Saya sedang sakit")
    await t.press("andi", "Tidak, lanjutkan")
    await t.assert_step("andi", "jobs.work_detail")
    assert (await job_of(t.db)).status == "accepted"
    assert t.replies("budi") == []
