"""Pengaduan by the warga, and the tukang's statement when the Dinas asks for one."""

from __future__ import annotations

from sqlalchemy import func, select

from flows.types import Media
from storage.models import Complaint
from tests.factories import (
    ask_statement,
    get,
    make_complaint,
    make_job,
    make_tukang,
    user_id,
)
from tests.harness import Harness, register_warga

PHOTO = Media("/tmp/sijakon-test/bocor.jpg", "image/jpeg", 90_000)
PDF = Media("/tmp/sijakon-test/kuitansi.pdf", "application/pdf", 40_000)
VIDEO = Media("/tmp/sijakon-test/bocor.mp4", "video/mp4", 900_000)
WHAT = "Tukang tidak datang di hari yang disepakati dan tidak bisa dihubungi."


async def warga_with_job(t: Harness, *, tukang: bool = True,
                         code: str = "J-2611-0042") -> tuple[int, int | None, int]:
    """Budi (warga) with one finished job, done by Andi (tukang) unless `tukang` is False."""
    await register_warga(t, "budi")
    warga = await user_id(t.db, "budi")
    tk = await make_tukang(t, "andi", name="Andi Wijaya") if tukang else None
    job = await make_job(t, warga, tukang_id=tk, code=code,
                         status="done" if tukang else "expired")
    return warga, tk, job


async def test_warga_files_a_complaint_with_evidence(t: Harness) -> None:
    """Job -> what happened -> photos -> confirm with the disclaimer -> a P- code."""
    warga, tk, job = await warga_with_job(t)
    await t.press("budi", "Pengaduan")
    assert t.last("budi").labels == ["J-2611-0042 · Andi Wijaya", "Kembali ke menu"]
    await t.press("budi", "J-2611-0042 · Andi Wijaya")
    assert "J-2611-0042" in t.last("budi").text
    await t.send("budi", WHAT)
    await t.assert_step("budi", "complaint.evidence")
    t.replies("budi")
    await t.send("budi", media=(VIDEO,))
    assert "foto (JPG/PNG) atau file PDF" in t.texts("budi")[0]
    await t.send("budi", media=(PHOTO,))
    await t.press("budi", "Selesai")
    summary = t.last("budi").text
    assert WHAT in summary and "Bukti: 1 file" in summary
    assert "tidak menjadi pihak" in summary and "Pasal 9" in summary
    await t.press("budi", "Kirim")
    done = t.got("budi", "diterima dengan kode").text
    assert "P-2611-0001" in done and "3 hari kerja" in done
    await t.assert_step("budi", "menu.home")
    async with t.db.read() as s:
        c = (await s.execute(select(Complaint))).scalar_one()
    assert (c.code, c.status, c.job_id, c.warga_id, c.tukang_id) == (
        "P-2611-0001", "submitted", job, warga, tk)
    assert c.text == WHAT and c.evidence == [PHOTO.path] and c.created_at == t.clock()
    # "Pengaduan" now lists it with the next step; a second one on the same job is refused
    await t.press("budi", "Pengaduan")
    mine = t.last("budi")
    assert "Pengaduan saya" in mine.text and "P-2611-0001" in mine.text
    assert "26-11-2026 09:00 WIB" in mine.text  # 3 working days after Monday 09:00
    assert mine.labels == ["P-2611-0001 · diterima, menunggu verifikasi Dinas",
                           "Buat pengaduan baru", "Kembali ke menu"]
    await t.send("budi", "1")
    detail = t.got("budi", "Status:").text
    assert "Dinas memverifikasi pengaduan ini paling lambat 26-11-2026 09:00 WIB" in detail
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Pengaduan")
    await t.press("budi", "Buat pengaduan baru")
    await t.press("budi", "J-2611-0042 · Andi Wijaya")
    assert "sudah punya pengaduan P-2611-0001" in t.got("budi", "sudah punya").text
    # the code typed at the menu shows it too; someone else's code shows nothing
    await t.send("budi", "p-2611-0001")
    assert "Berikutnya: Dinas memverifikasi" in t.last("budi", ).text or \
        "Berikutnya: Dinas memverifikasi" in t.got("budi", "Berikutnya").text
    await t.send("budi", "P-2611-0099")
    assert "tidak kami temukan" in t.got("budi", "P-2611-0099").text


async def test_complaint_without_evidence_is_refused_politely(t: Harness) -> None:
    """Unknown input gets the step's help; "Selesai" without evidence is refused (Pasal 9)."""
    await warga_with_job(t)
    await t.press("budi", "Pengaduan")
    t.replies("budi")
    await t.send("budi", "🙄")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    await t.send("budi", "1")
    t.replies("budi")
    await t.send("budi", "jelek")
    texts = t.texts("budi")
    assert "sedikit lebih lengkap" in texts[0] and "J-2611-0042" in texts[1]
    await t.send("budi", "x" * 3000 + " tukang kabur")
    assert "2000 karakter pertama" in t.got("budi", "terlalu panjang").text
    assert "paling sedikit 1" in t.last("budi").text.casefold()
    assert t.last("budi").labels == []  # no "Lewati": evidence is required
    t.replies("budi")
    await t.send("budi", "hmm")
    assert "foto atau file PDF" in t.texts("budi")[0]
    await t.send("budi", "selesai")
    assert "paling sedikit satu bukti" in t.texts("budi")[0]
    await t.assert_step("budi", "complaint.evidence")
    await t.send("budi", media=(PDF,))
    await t.press("budi", "Selesai")
    await t.assert_step("budi", "complaint.confirm")
    assert "Bukti: 1 file" in t.last("budi").text
    t.replies("budi")
    await t.send("budi", "entahlah")
    assert "Ubah untuk mengganti isi atau bukti" in t.texts("budi")[0]
    await t.press("budi", "Tidak")
    assert "tidak dikirim" in t.got("budi", "tidak dikirim").text
    async with t.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Complaint))).scalar() == 0


async def test_complaint_refused_on_a_job_without_tukang(t: Harness) -> None:
    """A job no tukang ever took cannot be complained about."""
    _, _, job = await warga_with_job(t, tukang=False)
    await t.press("budi", "Pengaduan")
    assert "hanya bisa untuk pesanan" in t.got("budi", "Pengaduan hanya").text
    await t.assert_step("budi", "menu.home")
    # also through the job's own button (another flow's "Adukan")
    await t.send("budi", choice=f"!complaint.new:{job}")
    assert "belum pernah dikerjakan tukang" in t.got("budi", "belum pernah").text
    await t.assert_step("budi", "menu.home")
    async with t.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Complaint))).scalar() == 0


async def test_complaint_on_someone_elses_job_is_refused(t: Harness) -> None:
    """The complaint button with another warga's job id finds nothing."""
    _, _, job = await warga_with_job(t)
    await register_warga(t, "sari", name="Sari Dewi", phone="081298765432")
    await t.send("sari", choice=f"!complaint.new:{job}")
    assert "tidak kami temukan" in t.got("sari", "tidak kami temukan").text


async def test_menu_and_batal_mid_complaint(t: Harness) -> None:
    """menu and batal leave the complaint unsent at the text and photo steps."""
    await warga_with_job(t)
    await t.press("budi", "Pengaduan")
    await t.send("budi", "1")
    await t.send("budi", "batal")
    await t.assert_step("budi", "menu.home")
    assert "Dibatalkan" in t.got("budi", "Dibatalkan").text
    await t.press("budi", "Pengaduan")
    await t.send("budi", "1")
    await t.send("budi", WHAT)
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    async with t.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Complaint))).scalar() == 0


async def test_stale_button_in_complaint(t: Harness) -> None:
    """The job list's button pressed again at the text step is refused politely."""
    await warga_with_job(t)
    await t.press("budi", "Pengaduan")
    await t.press("budi", "J-2611-0042 · Andi Wijaya")
    t.replies("budi")
    await t.press("budi", "Kembali ke menu")
    texts = t.texts("budi")
    assert texts[0].startswith("Pilihan itu sudah tidak berlaku")
    await t.assert_step("budi", "complaint.text")


async def test_tukang_gives_a_statement(t: Harness) -> None:
    """The Dinas's button opens the statement; text, photo, confirm; the warga is told."""
    _, _, job = await warga_with_job(t)
    cid = await make_complaint(t, job)
    t.replies("andi")
    await ask_statement(t, cid)
    note = t.last("andi")
    assert note.labels == ["Tulis pernyataan"]
    await t.press("andi", "Tulis pernyataan")
    prompt = t.last("andi").text
    assert "Tukang tidak datang" in prompt and "Batas waktu" in prompt
    await t.assert_step("andi", "complaint.statement_text")
    t.replies("andi")
    await t.send("andi", "ok")
    assert "sedikit lebih lengkap" in t.texts("andi")[0]
    await t.send("andi", "Saya sakit hari itu dan sudah mengirim pesan ke warga lewat SMS.")
    await t.send("andi", media=(PHOTO,))
    await t.press("andi", "Selesai")
    assert "Saya sakit" in t.last("andi").text
    t.replies("budi")
    await t.press("andi", "Kirim")
    assert "sudah kami terima" in t.got("andi", "sudah kami terima").text
    await t.assert_step("andi", "menu.home")
    c = await get(t.db, Complaint, cid)
    assert c.status == "under_review" and c.statement.startswith("Saya sakit")
    assert c.statement_media == [PHOTO.path] and c.statement_at == t.clock()
    warga_texts = t.texts("budi")
    assert any("sudah memberikan pernyataan" in x and c.code in x for x in warga_texts)
    # pressing the button again: the complaint no longer waits for a statement
    await t.press("andi", "Tulis pernyataan")
    assert "tidak sedang menunggu pernyataan" in t.got("andi", "tidak sedang").text
    await t.assert_step("andi", "menu.home")


async def test_statement_by_the_wrong_tukang_or_when_not_awaited(t: Harness) -> None:
    """Another tukang cannot answer; a complaint not awaiting a statement takes none."""
    _, _, job = await warga_with_job(t)
    other = await make_tukang(t, "cici", name="Cici")
    assert other
    cid = await make_complaint(t, job, status="awaiting_statement")
    await t.send("cici", "menu")
    await t.send("cici", choice=f"!complaint.statement:{cid}")
    assert "tidak sedang menunggu pernyataan" in t.got("cici", "tidak sedang").text
    await t.assert_step("cici", "menu.home")
    submitted = await make_complaint(t, await make_job(t, await user_id(t.db, "budi"),
                                                       tukang_id=await user_id(t.db, "andi")))
    await t.send("andi", "menu")
    await t.send("andi", choice=f"!complaint.statement:{submitted}")
    assert "tidak sedang menunggu" in t.got("andi", "tidak sedang").text
    await t.send("andi", choice="!complaint.statement:abc")
    assert len([s for s in t.all("andi") if "tidak sedang" in s.text]) == 2
    # the right tukang, mid-way through something else, is taken to the statement
    await t.press("andi", "Status & ketersediaan")
    await t.send("andi", choice=f"!complaint.statement:{cid}")
    await t.assert_step("andi", "complaint.statement_text")


async def test_statement_after_the_dinas_decided_is_refused(t: Harness) -> None:
    """If the Dinas decides while the tukang is writing, the late statement is not stored."""
    _, _, job = await warga_with_job(t)
    cid = await make_complaint(t, job)
    await ask_statement(t, cid)
    await t.press("andi", "Tulis pernyataan")
    await t.send("andi", "Saya sudah datang tetapi rumahnya kosong waktu itu.")
    await t.press("andi", "Lewati")
    async with t.db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.status = "dismissed"
    await t.press("andi", "Kirim")
    assert "tidak sedang menunggu" in t.got("andi", "tidak sedang").text
    c = await get(t.db, Complaint, cid)
    assert c.statement is None and c.status == "dismissed"


async def test_statement_can_be_dropped_and_restarted(t: Harness) -> None:
    """"Tidak" at the statement summary sends nothing; the button works again later."""
    _, _, job = await warga_with_job(t)
    cid = await make_complaint(t, job)
    await ask_statement(t, cid)
    await t.press("andi", "Tulis pernyataan")
    await t.send("andi", "batal")
    await t.assert_step("andi", "menu.home")
    await t.press("andi", "Tulis pernyataan")
    await t.send("andi", "Saya sudah datang tetapi rumahnya kosong waktu itu.")
    await t.press("andi", "Lewati")
    await t.press("andi", "Tidak")
    assert "belum dikirim" in t.got("andi", "belum dikirim").text
    c = await get(t.db, Complaint, cid)
    assert c.status == "awaiting_statement"


async def test_complaint_statement_and_erasure_on_both_databases(any_db) -> None:  # type: ignore[no-untyped-def]
    """Complaint, statement, Data saya and a refused then allowed erasure on SQLite and PG."""
    t = Harness.console(any_db)
    await warga_with_job(t)
    await t.press("budi", "Pengaduan")
    await t.send("budi", "1")
    await t.send("budi", WHAT)
    await t.send("budi", media=(PDF,))
    await t.press("budi", "Selesai")
    await t.press("budi", "Kirim")
    async with any_db.read() as s:
        cid = (await s.execute(select(Complaint.id))).scalar_one()
    await ask_statement(t, cid)
    await t.press("andi", "Tulis pernyataan")
    await t.send("andi", "Saya sakit hari itu dan sudah memberi kabar lewat SMS.")
    await t.press("andi", "Lewati")
    await t.press("andi", "Kirim")
    assert (await get(any_db, Complaint, cid)).status == "under_review"
    await t.press("budi", "Pengaturan")
    await t.press("budi", "Data saya")
    assert "P-2611-0001" in "".join(t.texts("budi"))
    await t.press("budi", "Hapus data saya")
    await t.press("budi", "Ya, hapus")
    assert "P-2611-0001" in t.got("budi", "belum bisa dihapus").text
    async with any_db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.status = "dismissed"
    await t.press("budi", "Hapus data saya")
    await t.press("budi", "Ya, hapus")
    assert "sudah dihapus" in t.last("budi").text
    assert (await get(any_db, Complaint, cid)).text != WHAT
    assert t.engine is not None
    await t.engine.stop()


async def test_statement_steps_answer_unknown_input_with_help(t: Harness) -> None:
    """At the statement's photo and confirm steps, nonsense gets help and the question."""
    _, _, job = await warga_with_job(t)
    cid = await make_complaint(t, job)
    await ask_statement(t, cid)
    await t.press("andi", "Tulis pernyataan")
    await t.send("andi", "Saya sudah datang tetapi rumahnya kosong waktu itu.")
    t.replies("andi")
    await t.send("andi", "🤷")
    texts = t.texts("andi")
    assert "Kirim foto" in texts[0] and "dokumen (PDF) pendukung" in texts[1]
    await t.send("andi", media=(VIDEO,))
    assert "atau file PDF" in t.texts("andi")[0]
    await t.press("andi", "Lewati")
    t.replies("andi")
    await t.send("andi", "terserah")
    assert "Jawab Ya atau Tidak" in t.texts("andi")[0]
    await t.send("andi", "menu")
    await t.assert_step("andi", "menu.home")
    assert (await get(t.db, Complaint, cid)).status == "awaiting_statement"


async def test_a_complaint_code_typed_at_any_step_shows_it(t: Harness) -> None:
    """Half-way through a booking (a question asking for text) and at a choice step, the
    warga's own complaint code shows the complaint; someone else's code shows nothing."""
    _, _, job = await warga_with_job(t)
    cid = await make_complaint(t, job)
    async with t.db.read() as s:
        code = (await s.execute(select(Complaint.code).where(Complaint.id == cid))).scalar_one()
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.assert_step("budi", "booking.description")
    t.replies("budi")
    await t.send("budi", code.lower())  # typed as people type, at a question asking for text
    shown = t.got("budi", code)
    assert "Pengaduan" in shown.text and "diterima, menunggu verifikasi Dinas" in shown.text
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Pesan tukang")  # at a choice step too
    await t.send("budi", code)
    assert code in t.got("budi", code).text
    await t.send("budi", "P-2611-0999")  # not theirs: nothing about anyone else
    assert "tidak kami temukan" in t.got("budi", "P-2611-0999").text
