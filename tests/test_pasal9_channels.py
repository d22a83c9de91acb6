"""Pasal 9 without dead ends, on the console, Telegram and WhatsApp: the tukang reaches the
statement whatever else was said, the evidence (a PDF too) reaches him, and a removal takes back
his jobs, stops him and leaves him one objection that the Dinas decides."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from flows.broadcast import Audience, create, enqueue_all, start
from storage.models import Complaint, Job, Objection, TukangProfile
from tests.admin.conftest import Admin
from tests.channels import WhatsAppDriver
from tests.factories import ask_statement, get, make_complaint, make_job, make_person, make_tukang
from tests.harness import Harness

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def evidence_files(h: Harness, tmp_path: Path) -> list[str]:
    """A photo and a PDF receipt, stored where the bot keeps what people send."""
    media = tmp_path / "data" / "media" / "2026-11"
    media.mkdir(parents=True, exist_ok=True)
    (media / "bocor.jpg").write_bytes(JPEG)
    (media / "kuitansi.pdf").write_bytes(PDF)
    return [str(media / "bocor.jpg"), str(media / "kuitansi.pdf")]


def got_pdf(h: Harness, who: str) -> bool:
    """Whether `who` received a PDF: a document on Telegram, the path on the console; on
    WhatsApp (one attachment per message) the photo with the text and the PDF as its own
    message right after it, and nothing Twilio would have refused."""
    if h.channel == "whatsapp":
        sent = h.all(who)
        files = [i for i, s in enumerate(sent) if s.media]
        names = [whatsapp_file(h, sent[i].media[0]) for i in files]
        assert all(len(sent[i].media) == 1 for i in files), [sent[i].media for i in files]
        assert isinstance(h.driver, WhatsAppDriver) and not h.driver.standin.refused, \
            "a message with several files"
        return any(n.endswith(".pdf") for n in names) and \
            any(sent[i].media and not sent[i].text.strip() and sent[i - 1].media
                for i in files if i)
    for sent in h.all(who):
        method = getattr(sent.raw, "method", "")
        if method == "sendDocument" or any(m.endswith(".pdf") for m in sent.media):
            return True
    return False


def whatsapp_file(h: Harness, url: str) -> str:
    """The file a signed WhatsApp media link names."""
    assert isinstance(h.driver, WhatsAppDriver)
    path = h.driver.sender.signer.resolve(url.rsplit("/", 1)[-1])
    return path.name if path else ""


async def test_statement_reached_after_other_messages(any_channel: Harness,
                                                      tmp_path: Path) -> None:
    """The request carries the evidence (the PDF as a document); after other messages the
    tukang still reaches the statement from the menu, by typed label, and attaches a PDF."""
    h = any_channel
    warga = await make_person(h, "budi", name="Budi Santoso")
    andi = await make_tukang(h, "andi", name="Andi Wijaya")
    job = await make_job(h, warga, tukang_id=andi, code="J-2611-0042")
    cid = await make_complaint(h, job, evidence=evidence_files(h, tmp_path))
    await h.send("andi", "halo")  # WhatsApp's 24-hour window is open
    await ask_statement(h, cid)
    request = h.got("andi", "Bukti dari warga")
    assert "Tukang tidak datang" in request.text and "2 file" in request.text
    assert got_pdf(h, "andi")
    # stray messages: the notification's buttons are long gone on WhatsApp
    await h.send("andi", "halo")
    await h.press("andi", "Pekerjaan saya")
    await h.send("andi", "menu")
    await h.press("andi", "Pengaduan tentang saya")
    listed = h.last("andi")
    assert "P-2611-" in listed.text and "30-11-2026 09:00 WIB" in listed.text
    assert "Tulis pernyataan" in listed.labels and "Lihat bukti" in listed.labels
    await h.send("andi", "menu")
    await h.send("andi", "Tulis pernyataan")  # the label typed at the menu
    await h.assert_step("andi", "complaint.statement_text")
    await h.send("andi", "Saya sakit hari itu dan sudah mengabari warga lewat SMS.")
    await h.photo("andi", PDF, content_type="application/pdf")
    await h.press("andi", "Selesai")
    assert "Lampiran: 1 file" in h.last("andi").text
    await h.press("andi", "Kirim")
    c = await get(h.db, Complaint, cid)
    assert c.status == "under_review" and c.statement.startswith("Saya sakit")
    assert len(c.statement_media) == 1 and c.statement_media[0].endswith(".pdf")
    assert "sudah memberikan pernyataan" in h.got("budi", "pernyataan").text


async def test_removal_takes_back_jobs_and_an_objection_is_decided(
        any_channel: Harness, tmp_path: Path) -> None:
    """Upheld: the accepted and the in-progress job go back to the warga with "Pilih tukang
    lain"; the removed tukang cannot act, gets no tukang broadcast, sees why in his status, and
    files one objection, which the Dinas decides (reinstate): both are told."""
    h = any_channel
    admin = Admin.on(h.db, tmp_path / "cli", h.clock)
    warga = await make_person(h, "budi", name="Budi Santoso")
    andi = await make_tukang(h, "andi", name="Andi Wijaya")
    await make_tukang(h, "cici", name="Cici Lestari")
    done = await make_job(h, warga, tukang_id=andi, code="J-2611-0042")
    accepted = await make_job(h, warga, tukang_id=andi, status="accepted", code="J-2611-0043")
    working = await make_job(h, warga, tukang_id=andi, status="in_progress",
                             code="J-2611-0044")
    cid = await make_complaint(h, done, status="under_review",
                               evidence=evidence_files(h, tmp_path))
    for who in ("andi", "cici"):  # WhatsApp's 24-hour window is open
        await h.send(who, "halo")
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
    assert "J-2611-0043" in r.stdout and "J-2611-0044" in r.stdout
    await h.refresh()
    for job_id, job_code in ((accepted, "J-2611-0043"), (working, "J-2611-0044")):
        job = await get(h.db, Job, job_id)
        assert (job.status, job.tukang_id) == ("open", None)
        assert "Pilih tukang lain" in h.got("budi", job_code).labels
    assert "sedang berjalan" in h.got("budi", "J-2611-0044").text
    assert "J-2611-0043, J-2611-0044" in h.got("andi", "ditarik kembali").text
    # the warga picks another tukang for the job taken back
    await h.press("budi", "Pilih tukang lain", in_message=h.all("budi").index(
        h.got("budi", "J-2611-0043")))
    await h.assert_step("budi", "booking.pick")
    assert any("Cici Lestari" in label for label in h.last("budi").labels)
    assert not any("Andi" in label for label in h.last("budi").labels)
    # Andi: no work, no tukang broadcast, the reason in his status
    await h.send("andi", "menu")
    await h.press("andi", "Pekerjaan saya")
    assert "J-2611-0043" not in h.last("andi").text + " ".join(h.last("andi").labels)
    async with h.db.transaction() as s:
        b = await create(s, text="Pelatihan K3 untuk tukang", audience=Audience(role="tukang"),
                         now=h.clock())
        await start(s, b.id or 0, h.clock())
    await enqueue_all(h.db, b.id or 0, clock=h.clock)
    await h.refresh()
    assert any("Pelatihan K3" in x.text for x in h.all("cici"))
    assert not any("Pelatihan K3" in x.text for x in h.all("andi"))
    await h.send("andi", "menu")
    await h.press("andi", "Status & ketersediaan")
    status = h.last("andi").text
    assert "dikeluarkan" in status and "Tidak hadir tanpa kabar" in status
    assert "keberatan" in status and "Ajukan keberatan" in h.last("andi").labels
    # one objection, with a document
    await h.press("andi", "Ajukan keberatan")
    await h.send("andi", "Saya sakit dan sudah memberi kabar; mohon ditinjau kembali.")
    await h.photo("andi", PDF, content_type="application/pdf")
    await h.press("andi", "Selesai")
    await h.press("andi", "Kirim")
    assert "K-2611-0001" in h.got("andi", "Keberatan Anda diterima").text
    await h.send("andi", "keberatan")  # a second one is refused
    assert "hanya bisa diajukan satu kali" in h.got("andi", "satu kali").text
    listed = await admin.json("complaints", "objections")
    assert [(o["kode"], o["pengaduan"], len(o["lampiran"])) for o in listed] == [
        ("K-2611-0001", code, 1)]
    r = await admin("complaints", "objection", "K-2611-0001", "reinstate", "--note",
                    "Bukti sakit diterima.", "--yes")
    assert r.exit_code == 0, r.output
    await h.refresh()
    assert "Bukti sakit diterima" in h.got("andi", "K-2611-0001").text
    assert "aktif kembali" in h.got("budi", "keberatan").text
    profile = (await _profile(h, andi))
    assert profile.status == "active"
    async with h.db.read() as s:
        o = (await s.execute(select(Objection))).scalar_one()
    assert o.status == "reinstated" and o.decided_by == "siti"


async def _profile(h: Harness, uid: int) -> TukangProfile:
    async with h.db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == uid))).scalar_one()


async def test_a_complaint_without_evidence_is_refused_politely(any_channel: Harness) -> None:
    """On every channel: "Selesai" with no photo or PDF is refused with the reason, the step
    stays, and a PDF then counts as the evidence."""
    h = any_channel
    warga = await make_person(h, "budi", name="Budi Santoso")
    andi = await make_tukang(h, "andi", name="Andi Wijaya")
    await make_job(h, warga, tukang_id=andi, code="J-2611-0042")
    await h.send("budi", "halo")  # at the menu (WhatsApp's window open)
    await h.press("budi", "Pengaduan")
    await h.send("budi", "1")
    await h.send("budi", "Tukang tidak datang di hari yang disepakati dan tidak bisa dihubungi.")
    h.replies("budi")
    await h.send("budi", "selesai")
    assert "paling sedikit satu bukti" in h.texts("budi")[0]
    await h.assert_step("budi", "complaint.evidence")
    await h.photo("budi", PDF, content_type="application/pdf")
    await h.send("budi", "selesai")
    await h.assert_step("budi", "complaint.confirm")
    assert "Bukti: 1 file" in h.last("budi").text
