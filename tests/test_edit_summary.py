"""Edit before sending: a booking's or a complaint's summary offers "Ubah", one part is
changed, and the summary comes back with every other answer as it was."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Complaint, Job
from tests import media_samples as samples
from tests.factories import job_of, make_job, make_person, make_tukang
from tests.harness import Harness, register_warga


async def _to_summary(h: Harness, who: str) -> None:
    await register_warga(h, who)
    await h.press(who, "Pesan tukang")
    await h.press(who, "Pengecatan")
    await h.send(who, "Cat ulang dinding ruang tamu yang mengelupas")
    await h.press(who, "Lewati")
    await h.send(who, "1")
    await h.send(who, "Jl. Sudirman No. 12, RT 03/RW 05")
    await h.press(who, "Besok")


async def test_ubah_one_booking_field_returns_to_the_summary(any_channel: Harness) -> None:
    """Kirim / Ubah / Jangan kirim; Ubah lists the parts; a new address goes straight back to
    the summary (no time question again), and Kirim sends the changed booking."""
    h = any_channel
    await make_tukang(h, "andi", "Andi")
    await _to_summary(h, "budi")
    assert h.last("budi").labels == ["Kirim", "Ubah", "Jangan kirim"]
    await h.press("budi", "Ubah")
    parts = h.last("budi")
    assert parts.labels == ["Jenis pekerjaan", "Keterangan", "Foto", "Kecamatan", "Alamat",
                            "Waktu", "Kembali ke ringkasan"]
    await h.press("budi", "Alamat")
    assert "alamat lengkapnya" in h.last("budi").text
    await h.send("budi", "Jl. Ahmad Yani No. 7, RT 01/RW 02")
    summary = h.last("budi")
    assert "Ringkasan pesanan" in summary.text
    assert "Jl. Ahmad Yani No. 7" in summary.text and "24-11-2026" in summary.text
    assert "Cat ulang dinding" in summary.text
    await h.assert_step("budi", "booking.confirm")
    await h.press("budi", "Kirim")
    job = await job_of(h.db)
    assert (job.address, job.preferred_time, job.status) == (
        "Jl. Ahmad Yani No. 7, RT 01/RW 02", "24-11-2026", "open")


async def test_ubah_category_and_photos_keep_the_rest(any_channel: Harness) -> None:
    """Changing the kind of job keeps the description; adding a photo from the summary keeps
    what was there; "Kembali ke ringkasan" changes nothing."""
    h = any_channel
    await _to_summary(h, "budi")
    await h.press("budi", "Ubah")
    await h.press("budi", "Jenis pekerjaan")
    await h.press("budi", "Pasang plafon")
    summary = h.last("budi")
    assert "Pasang plafon" in summary.text and "Cat ulang dinding" in summary.text
    await h.press("budi", "Ubah")
    await h.press("budi", "Foto")
    await h.photo("budi", samples.JPEG)
    await h.press("budi", "Selesai")
    assert "Foto: 1" in h.last("budi").text
    await h.press("budi", "Ubah")
    await h.press("budi", "Kembali ke ringkasan")
    assert "Foto: 1" in h.last("budi").text and "Pasang plafon" in h.last("budi").text
    await h.assert_step("budi", "booking.confirm")


async def test_kembali_while_changing_a_field_returns_to_the_parts(t: Harness) -> None:
    """Typed "ubah" works like the button; "kembali" at the changed question goes back to the
    list of parts, not to the question before it; the answers are untouched."""
    await _to_summary(t, "budi")
    await t.send("budi", "ubah")
    await t.send("budi", "2")  # Keterangan
    await t.assert_step("budi", "booking.description")
    await t.send("budi", "kembali")
    await t.assert_step("budi", "booking.edit")
    await t.send("budi", "7")  # Kembali ke ringkasan
    assert "Cat ulang dinding" in t.last("budi").text
    async with t.db.read() as s:
        assert (await s.execute(select(Job))).first() is None


async def test_ubah_on_a_complaint_changes_the_text_and_keeps_the_evidence(t: Harness) -> None:
    """The complaint summary offers Ubah; a new text comes back to the summary with the
    evidence still attached, and the complaint is filed with the new text."""
    warga = await make_person(t, "budi")
    tukang = await make_tukang(t, "andi", "Andi")
    await make_job(t, warga, tukang_id=tukang, status="done")
    await t.send("budi", "menu")
    await t.press("budi", "Pengaduan")
    await t.assert_step("budi", "complaint.pick")  # no complaints yet: straight to the job
    await t.send("budi", "1")
    await t.send("budi", "Tukang meminta bayaran dua kali lipat dari kesepakatan")
    await t.photo("budi", samples.JPEG)
    await t.press("budi", "Selesai")
    assert t.last("budi").labels == ["Kirim", "Ubah", "Tidak"]
    await t.press("budi", "Ubah")
    assert t.last("budi").labels == ["Isi pengaduan", "Bukti", "Kembali ke ringkasan"]
    await t.press("budi", "Isi pengaduan")
    await t.send("budi", "Tukang meminta bayaran tiga kali lipat dan pergi sebelum selesai")
    summary = t.last("budi")
    assert "tiga kali lipat" in summary.text and "Bukti: 1 file" in summary.text
    await t.press("budi", "Kirim")
    async with t.db.read() as s:
        filed = (await s.execute(select(Complaint))).scalar_one()
    assert filed.text.startswith("Tukang meminta bayaran tiga kali") and len(filed.evidence) == 1
