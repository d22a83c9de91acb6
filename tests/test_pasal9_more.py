"""Pasal 9, the rest of issue 15 seen in transcripts: a removed tukang cannot act (stale
buttons, typed labels, an old offer), an objection the Dinas keeps and one filed too late,
and a statement deadline that skips Christmas and its cuti bersama."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from flows.deadlines import Calendar
from storage.models import Complaint, Objection, Offer, TukangProfile
from tests.admin.conftest import Admin
from tests.factories import (
    book,
    get,
    job_of,
    make_complaint,
    make_job,
    make_person,
    make_tukang,
    user_id,
)
from tests.harness import Harness

MENU = "Menu utama"


async def remove(h: Harness, admin: Admin, warga: int, tukang: int) -> str:
    """The Dinas upholds a complaint (statement given) about a finished job: `tukang` is
    removed through the admin CLI, as an officer does it. Returns the complaint code."""
    done = await make_job(h, warga, tukang_id=tukang, code="J-2611-0042")
    cid = await make_complaint(h, done, status="under_review")
    async with h.db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.statement_requested_at = h.clock() - timedelta(days=2)
        c.statement_due_at = h.clock() + timedelta(days=5)
        c.statement, c.statement_at = "Saya sakit.", h.clock() - timedelta(days=1)
        code = c.code
    r = await admin("complaints", "decide", code, "upheld", "--note",
                    "Tidak hadir tanpa kabar.", "--yes")
    assert r.exit_code == 0, r.output
    await h.refresh()
    return code


async def _profile(h: Harness, uid: int) -> TukangProfile:
    async with h.db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == uid))).scalar_one()


async def test_removed_tukang_cannot_act(any_channel: Harness, tmp_path: Path) -> None:
    """Buttons shown before the removal ("Mulai kerja", "Tandai selesai", "Terima") and the
    same labels typed afterwards are refused; no job moves and the warga hears nothing."""
    h = any_channel
    admin = Admin.on(h.db, tmp_path / "cli", h.clock)
    andi = await make_tukang(h, "andi", "Andi")
    await h.send("andi", "halo")  # WhatsApp's 24-hour window is open
    await book(h, "budi")
    await h.press("budi", "Andi")  # an offer with Terima/Tolak reaches Andi
    offer_msg = h.all("andi").index(h.got("andi", "Tawaran pekerjaan"))
    budi = await user_id(h, "budi")
    await make_job(h, budi, tukang_id=andi, status="accepted", code="J-2611-0043")
    await make_job(h, budi, tukang_id=andi, status="in_progress", code="J-2611-0044")
    await h.send("andi", "menu")
    await h.press("andi", "Pekerjaan saya")
    await h.press("andi", "J-2611-0044 · Sedang dikerjakan")
    stale_done = len(h.all("andi")) - 1
    assert "Tandai selesai" in h.last("andi").labels
    await h.send("andi", "menu")
    await h.press("andi", "Pekerjaan saya")
    await h.press("andi", "J-2611-0043 · Diterima tukang")
    assert "Mulai kerja" in h.last("andi").labels
    await remove(h, admin, budi, andi)
    seen = len(h.all("andi"))

    await h.press("andi", "Mulai kerja")
    refused = [x.text for x in h.all("andi")[seen:]]
    assert any("tidak ditemukan" in x or "dihentikan Dinas" in x for x in refused), refused
    if h.channel != "whatsapp":  # WhatsApp has no old buttons: a number answers the menu
        await h.press("andi", "Tandai selesai", in_message=stale_done)
        await h.press("andi", "Terima", in_message=offer_msg)
        assert "tidak aktif" in h.got("andi", "tawaran belum bisa diterima").text
    for typed in ("Mulai kerja", "Tandai selesai", "Terima"):
        await h.send("andi", typed)
    after = " ".join(x.text for x in h.all("andi")[seen:])
    assert "mulai mengerjakan" not in after.casefold() and "Anda menerima" not in after
    for code in ("J-2611-0043", "J-2611-0044", "J-2611-0001"):
        job = await job_of(h.db, code)
        assert job.tukang_id is None and job.status in ("open", "offered"), (code, job.status)
    async with h.db.read() as s:
        offers = (await s.execute(select(Offer.status))).scalars().all()
    assert "accepted" not in offers
    assert not any("mulai mengerjakan" in x.text or "menerima pesanan" in x.text
                   for x in h.all("budi")[-8:] if "J-2611-0043" in x.text)
    assert (await _profile(h, andi)).status == "removed"


async def test_stopped_tukang_with_a_job_still_his_is_told_why(t: Harness) -> None:
    """Where a job is still his (the take-back missed it), the removed tukang's "Mulai kerja"
    and "Tandai selesai" get complaint.tukang_stopped and the job stays as it was."""
    budi = await make_person(t, "budi", name="Budi Santoso")
    andi = await make_tukang(t, "andi", "Andi")
    await make_job(t, budi, tukang_id=andi, status="accepted", code="J-2611-0043")
    await make_job(t, budi, tukang_id=andi, status="in_progress", code="J-2611-0044")
    for code, state, action in (("J-2611-0043", "Diterima tukang", "Mulai kerja"),
                                ("J-2611-0044", "Sedang dikerjakan", "Tandai selesai")):
        async with t.db.transaction() as s:
            await s.execute(update(TukangProfile).values(status="active"))
        await t.send("andi", "menu")
        await t.press("andi", "Pekerjaan saya")
        await t.press("andi", f"{code} · {state}")
        async with t.db.transaction() as s:
            await s.execute(update(TukangProfile).values(status="removed"))
        await t.press("andi", action)
        assert "dihentikan Dinas" in t.got("andi", "tindakan ini tidak tersedia").text
        job = await job_of(t.db, code)
        assert (job.status, job.tukang_id) == (
            "accepted" if code.endswith("43") else "in_progress", andi)
    assert not any("mulai mengerjakan" in x.text for x in t.all("budi"))


async def test_objection_kept_both_told_and_still_removed(t: Harness, tmp_path: Path) -> None:
    """The Dinas keeps the removal: the tukang reads "ditolak", the warga "tetap
    dikeluarkan", with the note; the tukang stays removed and cannot object again."""
    admin = Admin.on(t.db, tmp_path / "cli", t.clock)
    budi = await make_person(t, "budi", name="Budi Santoso")
    andi = await make_tukang(t, "andi", "Andi Wijaya")
    await remove(t, admin, budi, andi)
    await t.press("andi", "Ajukan keberatan")
    await t.send("andi", "Saya sakit dan sudah memberi kabar; mohon ditinjau kembali.")
    await t.press("andi", "Lewati") if "Lewati" in t.last("andi").labels else \
        await t.press("andi", "Selesai")
    await t.press("andi", "Kirim")
    assert "K-2611-0001" in t.got("andi", "Keberatan Anda diterima").text
    r = await admin("complaints", "objection", "K-2611-0001", "keep", "--note",
                    "Bukti sakit tidak cukup.", "--yes")
    assert r.exit_code == 0, r.output
    await t.refresh()
    told = t.got("andi", "K-2611-0001")
    assert "ditolak" in told.text and "tetap berlaku" in told.text
    assert "Bukti sakit tidak cukup" in told.text
    warga = t.got("budi", "keberatan")
    assert "menolak" in warga.text and "tetap dikeluarkan" in warga.text
    assert "Bukti sakit tidak cukup" in warga.text
    assert (await _profile(t, andi)).status == "removed"
    async with t.db.read() as s:
        o = (await s.execute(select(Objection))).scalar_one()
    assert o.status == "kept"
    await t.send("andi", "keberatan")
    assert "satu kali" in t.last("andi").text or "satu kali" in t.all("andi")[-2].text


async def test_objection_after_the_period_is_refused(t: Harness, tmp_path: Path) -> None:
    """Past `objection_days` working days after the removal the "Ajukan keberatan" button
    and the typed word both get a polite refusal naming the end of the period."""
    admin = Admin.on(t.db, tmp_path / "cli", t.clock)
    budi = await make_person(t, "budi", name="Budi Santoso")
    andi = await make_tukang(t, "andi", "Andi Wijaya")
    await remove(t, admin, budi, andi)
    removed_at = t.clock()
    until = Calendar().add(removed_at, t.config.objection_days)
    t.clock.now = until + timedelta(minutes=1)
    await t.press("andi", "Ajukan keberatan")
    refused = t.got("andi", "tidak bisa diajukan")
    assert "batasnya sudah lewat" in refused.text
    local = until.astimezone(UTC) + timedelta(hours=7)
    assert local.strftime("%d-%m-%Y") in refused.text
    await t.send("andi", "keberatan")
    assert "batasnya sudah lewat" in t.got("andi", "tidak bisa diajukan").text
    await t.assert_step("andi", "menu.home")
    async with t.db.read() as s:
        assert (await s.execute(select(Objection))).first() is None


async def test_statement_deadline_skips_christmas(any_channel: Harness,
                                                  tmp_path: Path) -> None:
    """Asked on Tuesday 22 Dec 2026 with 3 working days, the tukang reads 29-12-2026 (the
    24th, cuti bersama, the 25th, Natal, and the weekend skipped), in the request and in
    "Pengaduan tentang saya"."""
    h = any_channel
    start = datetime(2026, 12, 22, 2, 0, tzinfo=UTC)  # 09:00 WIB
    h.clock.now = start
    admin = Admin.on(h.db, tmp_path / "cli", h.clock)
    budi = await make_person(h, "budi", name="Budi Santoso")
    andi = await make_tukang(h, "andi", "Andi Wijaya")
    job = await make_job(h, budi, tukang_id=andi, code="J-2612-0042")
    cid = await make_complaint(h, job)
    await h.send("andi", "halo")  # WhatsApp's 24-hour window is open
    code = (await get(h.db, Complaint, cid)).code
    assert Calendar().add(start, 3) == datetime(2026, 12, 29, 2, 0, tzinfo=UTC)
    r = await admin("complaints", "request-statement", code, "--days", "3", "--yes")
    assert r.exit_code == 0, r.output
    await h.refresh()
    request = h.got("andi", "pernyataan")
    assert "29-12-2026 09:00 WIB" in request.text, request.text
    assert "24-12-2026" not in request.text and "25-12-2026" not in request.text
    await h.send("andi", "menu")
    await h.press("andi", "Pengaduan tentang saya")
    listed = h.last("andi").text
    assert code in listed and "29-12-2026 09:00 WIB" in listed, listed
    c = await get(h.db, Complaint, cid)
    assert c.statement_due_at.replace(tzinfo=UTC) == datetime(2026, 12, 29, 2, 0, tzinfo=UTC)
