"""Pasal 9 end to end, across the bot and the admin CLI: a tukang registers in the bot and is
activated by the Dinas; a warga complains in the bot; the Dinas asks for a statement; the
tukang answers in the bot; the Dinas upholds the complaint; the tukang is removed and both
are told."""

from __future__ import annotations

from sqlalchemy import select

from flows.types import Media
from storage.db import Database
from storage.models import AuditLog, Complaint, TukangProfile
from tests.admin.conftest import Admin, make_job, user_id_of
from tests.harness import Harness, register_warga

SKK_PHOTO = Media("/tmp/sijakon-test/skk-joko.jpg", "image/jpeg", 120_000)
RECEIPT = Media("/tmp/sijakon-test/kuitansi-dp.pdf", "application/pdf", 30_000)


async def register_tukang_in_bot(t: Harness, who: str) -> None:
    """/start tukang through to "Kirim": a pending profile waiting for the Dinas."""
    await t.send(who, "/start tukang")
    await t.press(who, "Setuju")
    await t.send(who, "Joko Susilo")
    await t.send(who, "081234567891")
    await t.press(who, "Batam Kota")
    await t.press(who, "Lanjut")
    await t.send(who, "SKK-123.456/2025")
    await t.press(who, "Tukang Cat Bangunan Gedung")
    await t.press(who, "Selesai")
    await t.press(who, "Jenjang 3 (operator)")
    await t.send(who, "31-12-2029")
    await t.send(who, media=(SKK_PHOTO,))
    await t.press(who, "Selesai")
    await t.press(who, "Selesai")  # Batam Kota is already ticked
    await t.press(who, "Kirim")
    assert "menunggu pemeriksaan Dinas" in t.got(who, "menunggu").text


async def test_pasal9_complaint_statement_decision_removal(db: Database, t: Harness,
                                                           admin: Admin) -> None:
    """Complaint in the bot -> request statement -> statement in the bot -> upheld -> the
    tukang is removed and both are told."""
    # the tukang registers in the bot and the Dinas activates them from the queue
    await register_tukang_in_bot(t, "joko")
    joko = await user_id_of(db, "joko")
    queue = await admin.json("tukang", "pending", "--as", "siti")
    assert [(r["id"], r["skk"]) for r in queue] == [(joko, "SKK-123.456/2025")]
    shown = await admin.json("tukang", "show", str(joko), "--as", "siti")
    assert shown["foto_skk"] == [SKK_PHOTO.path]
    assert (await admin("tukang", "activate", str(joko), "--yes", "--as", "siti")).exit_code == 0
    await t.refresh()
    assert "sudah disetujui" in t.got("joko", "Selamat").text

    # a warga has a job with Joko and files a complaint in the bot
    await register_warga(t, "budi")
    budi = await user_id_of(db, "budi")
    _, job_code = await make_job(db, budi, joko)
    await t.press("budi", "Pengaduan")
    await t.press("budi", f"{job_code} · Joko Susilo")
    await t.send("budi", "Sudah dibayar uang muka tapi tukang tidak pernah datang.")
    await t.send("budi", "selesai")  # no evidence yet: refused, politely
    assert "paling sedikit satu bukti" in t.got("budi", "satu bukti").text
    await t.send("budi", media=(RECEIPT,))
    await t.press("budi", "Selesai")
    await t.press("budi", "Kirim")
    async with db.read() as s:
        complaint = (await s.execute(select(Complaint))).scalar_one()
    code = complaint.code
    assert complaint.status == "submitted" and code in t.got("budi", code).text

    # the Dinas asks Joko for a statement; both are told
    listed = await admin.json("complaints", "list", "--as", "siti")
    assert [r["kode"] for r in listed] == [code]
    early = await admin("complaints", "decide", code, "upheld", "--note", "x", "--yes",
                        "--as", "siti")
    assert early.exit_code == 1 and "request-statement" in early.stderr
    r = await admin("complaints", "request-statement", code, "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    await t.refresh()
    request = t.got("joko", code)
    assert "tidak pernah datang" in request.text and request.labels == ["Tulis pernyataan"]
    assert request.media == [RECEIPT.path]  # the evidence he is asked to answer
    assert "pernyataan dari tukang" in t.got("budi", "sedang diproses").text

    # Joko answers in the bot, from wherever he is, with the button
    await t.press("joko", "Tulis pernyataan")
    await t.send("joko", "Saya sakit hari itu dan sudah mengabari warga lewat SMS.")
    await t.press("joko", "Lewati")
    await t.press("joko", "Kirim")
    async with db.read() as s:
        c = (await s.execute(select(Complaint))).scalar_one()
    assert c.status == "under_review" and c.statement and c.statement.startswith("Saya sakit")
    shown_c = await admin.json("complaints", "show", code, "--as", "siti")
    assert shown_c["pernyataan"].startswith("Saya sakit")

    # the Dinas upholds the complaint: Joko is removed and both are told
    r = await admin("complaints", "decide", code, "upheld", "--note",
                    "Tidak hadir tanpa kabar; uang muka tidak dikembalikan.", "--yes",
                    "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == joko))
             ).scalar_one()
        trail = [a.action for a in (await s.execute(
            select(AuditLog).where(AuditLog.actor == "admin:siti").order_by(AuditLog.id)
        )).scalars()]
    assert p.status == "removed" and p.decided_by == "siti" and p.available is False
    assert code in (p.decision_reason or "")
    for action in ("tukang.activate", "complaint.request_statement", "complaint.decide",
                   "tukang.remove"):
        assert action in trail
    await t.refresh()
    to_joko = t.got("joko", "dikeluarkan").text
    assert code in to_joko and "Pasal 9" in to_joko and "uang muka" in to_joko
    to_budi = t.got("budi", "terbukti").text
    assert code in to_budi and "dikeluarkan" in to_budi
    removed = await admin.json("tukang", "list", "--status", "removed")
    assert [r["id"] for r in removed] == [joko]
