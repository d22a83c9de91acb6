"""Own jobs (Pesanan saya, Pekerjaan saya) and the rating after a finished job."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.scheduler import Scheduler
from storage.models import AuditLog, Rating
from tests.factories import book, job_of, make_tukang, offers_of, profile_of
from tests.harness import Harness, register_warga


async def _accepted(t: Harness, warga: str = "budi", **kw: object) -> int:
    """A job of `warga` accepted by Andi; returns Andi's user id."""
    andi = await make_tukang(t, "andi", "Andi", phone="+6281299990001")
    await book(t, warga, **kw)  # type: ignore[arg-type]
    await t.press(warga, "Andi")
    await t.press("andi", "Terima")
    return andi


async def test_pesanan_saya_lists_codes_and_statuses(t: Harness) -> None:
    """Each job shows with its code and status; details show the tukang and contact."""
    await _accepted(t)
    await t.press("budi", "Pesanan saya")
    assert t.last("budi").labels == ["J-2611-0001 · Diterima tukang", "Menu utama"]
    await t.press("budi", "J-2611-0001 · Diterima tukang")
    detail = t.last("budi")
    for part in ("J-2611-0001 — Diterima tukang", "Pengecatan", "Jl. Sudirman No. 12",
                 "Tukang: Andi, HP +6281299990001"):
        assert part in detail.text, part
    assert detail.labels == ["Tandai selesai", "Batalkan", "Kembali"]
    await t.press("budi", "Kembali")
    await t.assert_step("budi", "jobs.mine")
    await t.press("budi", "Menu utama")
    await t.assert_step("budi", "menu.home")


async def test_no_jobs_yet(t: Harness) -> None:
    """An empty list says how to start and stays at the menu."""
    await register_warga(t, "budi")
    await t.press("budi", "Pesanan saya")
    assert "belum punya pesanan" in t.all("budi")[-2].text
    await t.assert_step("budi", "menu.home")


async def test_warga_marks_done_and_rates(t: Harness) -> None:
    """Tandai selesai, confirm, 1-5 and a comment: the tukang's record is updated."""
    andi = await _accepted(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Tandai selesai")
    await t.press("budi", "Ya")
    ask = t.last("budi")
    assert "Andi" in ask.text and ask.labels[0].startswith("1") and "Nanti saja" in ask.labels
    assert "Belum selesai" not in ask.labels
    assert "menandai pekerjaan J-2611-0001 selesai" in t.got("andi", "menandai").text
    await t.send("budi", "4")
    await t.send("budi", "Rapi dan tepat waktu")
    assert "Penilaian 4 untuk J-2611-0001" in t.got("budi", "Terima kasih!").text
    assert "penilaian 4" in t.got("andi", "mendapat penilaian").text
    p = await profile_of(t.db, andi)
    assert (p.rating_sum, p.rating_count, p.jobs_done) == (4, 1, 1)
    async with t.db.read() as s:
        r = (await s.execute(select(Rating))).scalar_one()
    assert (r.score, r.comment, r.tukang_id) == (4, "Rapi dan tepat waktu", andi)
    job = await job_of(t.db)
    assert (job.status, job.rating_reminder_at) == ("done", None)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    assert t.last("budi").labels == ["Pesan lagi tukang ini", "Kembali"]  # rated: book again


async def test_tukang_starts_and_finishes_then_warga_rates(t: Harness) -> None:
    """Pekerjaan saya: Mulai kerja, Selesai; the warga gets a Beri penilaian button."""
    andi = await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    assert t.last("andi").labels == ["J-2611-0001 · Diterima tukang", "Menu utama"]
    await t.send("andi", "1")
    detail = t.last("andi")
    assert "Warga: Budi Santoso, HP +6281234567890" in detail.text
    # fixed order by kind: Tandai selesai stays 1 and Batalkan 2 once the work starts
    assert detail.labels == ["Tandai selesai", "Batalkan", "Mulai kerja", "Kembali"]
    await t.press("andi", "Mulai kerja")
    assert "Andi mulai mengerjakan J-2611-0001" in t.got("budi", "mulai").text
    assert t.last("andi").labels == ["Tandai selesai", "Batalkan", "Kembali"]
    await t.press("andi", "Tandai selesai")
    await t.press("andi", "Ya")
    assert "Kami tanyakan ke warga" in t.last("andi").text or \
        "Kami tanyakan ke warga" in t.got("andi", "tanyakan").text
    job = await job_of(t.db)
    assert job.status == "in_progress"  # not done before the warga says so
    ask = t.got("budi", "menandai pekerjaan")
    assert "Sudah selesai?" in ask.text and ask.labels == ["Ya, sudah selesai", "Belum selesai"]
    await t.press("budi", "Ya, sudah selesai")
    assert "Belum selesai" not in t.last("budi").labels  # confirmed: only the rating now
    await t.send("budi", "5")
    await t.press("budi", "Lewati")
    p = await profile_of(t.db, andi)
    assert (p.rating_sum, p.rating_count, p.jobs_done) == (5, 1, 1)
    job = await job_of(t.db)
    assert (job.status, job.done_by) == ("done", "warga")
    t.replies("budi")
    await t.press("budi", "Ya, sudah selesai")  # the old button again
    assert "J-2611-0001" in t.replies("budi")[0].text


async def test_warga_says_not_finished(t: Harness) -> None:
    """"Belum selesai" to the tukang's Selesai asks what is missing and tells the tukang; the
    job stays in progress, and the tukang's next Selesai asks again."""
    andi = await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Tandai selesai")
    await t.press("andi", "Ya")
    await t.press("budi", "Belum selesai")
    assert "Apa yang belum selesai" in t.last("budi").text
    await t.send("budi", "Cat dinding belakang belum")
    assert "Kami sampaikan ke Andi" in t.got("budi", "Terima kasih").text
    told = t.got("andi", "belum selesai")
    assert "Cat dinding belakang belum" in told.text
    job = await job_of(t.db)
    assert (job.status, job.finish_asked_at) == ("accepted", None)
    assert (await profile_of(t.db, andi)).jobs_done == 0
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Tandai selesai")
    await t.press("andi", "Ya")
    assert t.got("budi", "menandai pekerjaan").labels == ["Ya, sudah selesai", "Belum selesai"]


async def test_an_unanswered_selesai_closes_after_three_days(t: Harness) -> None:
    """The warga does not answer the tukang's Selesai: three days later the job is done,
    recorded as done by the tukang; both are told, and the warga may still rate it or say it
    is not done."""
    andi = await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Tandai selesai")
    await t.press("andi", "Ya")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.advance(days=2, hours=23)
    assert (await scheduler.tick())["jobs_finish_auto"] == 0
    t.clock.advance(hours=2)
    assert (await scheduler.tick())["jobs_finish_auto"] == 1
    await t.refresh()
    job = await job_of(t.db)
    assert (job.status, job.done_by) == ("done", "tukang")
    assert (await profile_of(t.db, andi)).jobs_done == 1
    note = t.got("budi", "kami catat")
    assert "3 hari" in note.text and note.labels == ["Beri penilaian"]
    assert "warga tidak menjawab" in t.got("andi", "kami catat selesai").text
    await t.press("budi", "Beri penilaian")
    assert "Belum selesai" in t.last("budi").labels


async def test_rating_later_and_reminder(t: Harness) -> None:
    """"Nanti saja", then a day later the scheduler reminds the warga once."""
    await _accepted(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Tandai selesai")
    await t.press("budi", "Ya")
    await t.press("budi", "Nanti saja")
    await t.assert_step("budi", "menu.home")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    assert (await scheduler.tick())["rating_reminders"] == 0
    t.clock.advance(hours=25)
    assert (await scheduler.tick())["rating_reminders"] == 1
    await t.refresh()
    reminder = t.last("budi")
    assert "Mohon beri penilaian" in reminder.text and reminder.labels == ["Beri penilaian"]
    assert (await scheduler.tick())["rating_reminders"] == 0
    await t.press("budi", "Beri penilaian")
    await t.send("budi", "5")
    await t.send("budi", "mantap sekali")
    assert "Penilaian 5" in t.got("budi", "Terima kasih!").text


async def test_rating_steps_answer_unknown_input(t: Harness) -> None:
    """A word at the score step gets help; an overlong comment is cut with a notice."""
    await _accepted(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Tandai selesai")
    await t.press("budi", "Ya")
    t.replies("budi")
    await t.send("budi", "bagus")
    texts = t.texts("budi")
    assert "angka 1 sampai 5" in texts[0] and "Bagaimana hasil kerja" in texts[1]
    await t.send("budi", "9")
    assert "angka 1 sampai 5" in t.texts("budi")[0]
    await t.send("budi", "3")
    t.replies("budi")
    await t.send("budi", "x" * 700)
    assert "dipotong menjadi 500" in t.texts("budi")[0]


@pytest.mark.parametrize("step", ["rating.score", "rating.comment", "jobs.detail",
                                  "jobs.done_confirm", "jobs.cancel_confirm"])
@pytest.mark.parametrize("command", ["menu", "batal"])
async def test_menu_and_batal_in_warga_job_steps(t: Harness, step: str, command: str) -> None:
    """Every warga job step gives way to menu and batal."""
    await _accepted(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    if step == "jobs.cancel_confirm":
        await t.press("budi", "Batalkan")
    elif step != "jobs.detail":
        await t.press("budi", "Tandai selesai")
        if step != "jobs.done_confirm":
            await t.press("budi", "Ya")
            if step == "rating.comment":
                await t.send("budi", "5")
    await t.assert_step("budi", step)
    await t.send("budi", command)
    await t.assert_step("budi", "menu.home")


@pytest.mark.parametrize("step", ["jobs.work", "jobs.work_detail", "jobs.work_done_confirm",
                                  "jobs.work_cancel_reason"])
@pytest.mark.parametrize("command", ["menu", "batal"])
async def test_menu_and_batal_in_tukang_job_steps(t: Harness, step: str,
                                                  command: str) -> None:
    """Every tukang job step gives way to menu and batal; the job is untouched."""
    await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    if step != "jobs.work":
        await t.send("andi", "1")
        if step == "jobs.work_done_confirm":
            await t.press("andi", "Tandai selesai")
        elif step == "jobs.work_cancel_reason":
            await t.press("andi", "Batalkan")
    await t.assert_step("andi", step)
    await t.send("andi", command)
    await t.assert_step("andi", "menu.home")
    assert (await job_of(t.db)).status == "accepted"


async def test_job_steps_answer_unknown_input(t: Harness) -> None:
    """Lists, details and confirmations answer stray text with help and the question."""
    await _accepted(t)
    for who, entry in (("budi", "Pesanan saya"), ("andi", "Pekerjaan saya")):
        await t.press(who, entry)
        for _ in range(2):
            t.replies(who)
            await t.send(who, "entahlah")
            texts = t.texts(who)
            assert texts[0].startswith("Pilih salah satu"), texts
            await t.send(who, "1")
        await t.press(who, "Tandai selesai")
        t.replies(who)
        await t.send(who, "entahlah")
        assert "Jawab Ya atau Tidak" in t.texts(who)[0]
        await t.send(who, "tidak")
        await t.assert_step(who, "jobs.detail" if who == "budi" else "jobs.work_detail")
        await t.send(who, "menu")


async def test_tukang_cancels_after_accepting(t: Harness) -> None:
    """A reason is required; the cancellation counts against the tukang; the warga can find
    another tukang at once, without the one who cancelled."""
    andi = await _accepted(t)
    await make_tukang(t, "citra", "Citra", phone="+6281299990002")
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Batalkan")
    assert "dicatat" in t.last("andi").text
    t.replies("andi")
    await t.send("andi", "sakit")
    assert "terlalu singkat" in t.texts("andi")[0]
    await t.send("andi", "Saya sedang sakit")
    assert "tidak bisa dibatalkan" in t.last("andi").text  # asked once more
    assert (await job_of(t.db)).status == "accepted"
    await t.press("andi", "Ya, batalkan")
    assert "warga sudah diberi tahu" in t.got("andi", "diberi tahu").text
    assert (await profile_of(t.db, andi)).cancellations == 1
    job = await job_of(t.db)
    assert (job.status, job.cancelled_by, job.cancel_reason, job.tukang_id) == (
        "cancelled", "tukang", "Saya sedang sakit", andi)
    async with t.db.read() as s:
        audit = (await s.execute(select(AuditLog).where(AuditLog.action == "job.cancel"))
                 ).scalar_one()
    assert audit.detail == {"by": "tukang", "reason": "Saya sedang sakit"}
    note = t.got("budi", "membatalkan pekerjaan")
    assert "Saya sedang sakit" in note.text and note.labels == ["Cari tukang lain"]
    await t.press("budi", "Cari tukang lain")
    assert "pesanan baru J-2611-0002" in t.got("budi", "pesanan baru").text
    assert t.last("budi").labels == ["Citra", "Lihat profil tukang", "Batalkan pesanan"]
    await t.press("budi", "Cari tukang lain")  # the old button once more
    assert "sudah dibuat ulang sebagai J-2611-0002" in t.got("budi", "dibuat ulang").text


async def test_warga_cancels_an_accepted_job(t: Harness) -> None:
    """Cancelling after acceptance tells the tukang."""
    await _accepted(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Batalkan")
    await t.press("budi", "Ya")
    assert "Anda tidak perlu datang" in t.last("andi").text
    assert (await job_of(t.db)).status == "cancelled"


async def test_done_after_the_other_side_cancelled(t: Harness) -> None:
    """A tukang confirming Selesai on a job the warga just cancelled is told it changed."""
    await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Tandai selesai")
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Batalkan")
    await t.press("budi", "Ya")
    await t.press("andi", "Ya")
    assert "sekarang: Dibatalkan" in t.got("andi", "sekarang").text
    assert (await job_of(t.db)).status == "cancelled"


async def test_tukang_sees_pending_offers_in_pekerjaan_saya(t: Harness) -> None:
    """A pending offer is listed; Terima there works like the notification's button."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.send("andi", "menu")
    await t.press("andi", "Pekerjaan saya")
    assert t.last("andi").labels == ["J-2611-0001 · Tawaran baru", "Menu utama"]
    await t.send("andi", "1")
    detail = t.last("andi")
    assert "berlaku sampai 23-11-2026 12:00 WIB" in detail.text
    assert "Sudirman" not in detail.text
    assert detail.labels == ["Terima", "Tolak", "Kembali"]
    await t.press("andi", "Terima")
    assert "Anda menerima" in t.got("andi", "Anda menerima").text
    assert (await job_of(t.db)).status == "accepted"
    assert [o.status for o in await offers_of(t.db, (await job_of(t.db)).id or 0)] == [
        "accepted"]


async def test_tukang_declines_from_pekerjaan_saya(t: Harness) -> None:
    """Tolak from the list asks once more (it cannot be undone), then the reason."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.send("andi", "menu")
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Tolak")
    assert "tidak bisa diambil lagi" in t.last("andi").text
    await t.press("andi", "Ya, tolak")
    await t.assert_step("andi", "offer.decline_reason")
    assert "tidak bisa mengambil" in t.got("budi", "tidak bisa").text


async def test_tukang_without_work(t: Harness) -> None:
    """Nothing taken and no pending offer: the tukang is told so and stays at the menu."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.press("andi", "Tolak")
    await t.press("andi", "Ya, tolak")
    await t.press("andi", "Lewati")
    await t.press("andi", "Pekerjaan saya")
    assert "Belum ada tawaran" in t.all("andi")[-2].text
    await t.assert_step("andi", "menu.home")


async def test_cancel_reason_needs_text(t: Harness) -> None:
    """A photo at the cancel-reason step gets help; the job stays taken."""
    from flows.types import Media

    await _accepted(t)
    await t.press("andi", "Pekerjaan saya")
    await t.send("andi", "1")
    await t.press("andi", "Batalkan")
    question = t.last("andi").text
    t.replies("andi")
    await t.send("andi", media=(Media("p.jpg", "image/jpeg"),))
    texts = t.texts("andi")
    assert "berupa teks" in texts[0] and texts[-1] == question
    assert (await job_of(t.db)).status == "accepted"
