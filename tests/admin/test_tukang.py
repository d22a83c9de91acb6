"""`sijakon-admin tukang`: the activation queue and every decision, with the tukang told."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from storage.clock import local
from storage.db import Database
from storage.models import AuditLog, TukangProfile
from tests.admin.conftest import (
    ELECTRICIAN,
    NOW,
    SEKUPANG,
    Admin,
    make_complaint,
    make_job,
    make_tukang,
)
from tests.harness import Harness, register_warga


async def profile(db: Database, user_id: int) -> TukangProfile:
    async with db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == user_id))).scalar_one()


async def audit_rows(db: Database, action: str) -> list[AuditLog]:
    async with db.read() as s:
        return list((await s.execute(select(AuditLog).where(AuditLog.action == action)
                                     .order_by(AuditLog.id))).scalars())


async def test_pending_lists_queue_oldest_first_masked_and_audited(db: Database,
                                                                   admin: Admin) -> None:
    """The queue shows the oldest submission first, phones masked, and the view is audited."""
    now = NOW
    await make_tukang(db, "baru", "Tukang Baru", phone="+6281211112222",
                      submitted_at=now - timedelta(days=1))
    await make_tukang(db, "lama", "Tukang Lama", phone="+6281233334444",
                      submitted_at=now - timedelta(days=5), skk="SKK-LAMA-1")
    await make_tukang(db, "aktif", "Sudah Aktif", status="active")
    rows = await admin.json("tukang", "pending", "--as", "siti")
    assert [r["nama"] for r in rows] == ["Tukang Lama", "Tukang Baru"]
    assert rows[0]["hp"] == "+62812****4444"
    assert rows[0]["skk"] == "SKK-LAMA-1" and rows[0]["menunggu_hari"] == 5
    views = await audit_rows(db, "admin.view")
    assert views[-1].actor == "admin:siti" and views[-1].detail["what"] == "tukang.pending"
    table = await admin("tukang", "pending")
    assert table.exit_code == 0 and "Antrean aktivasi" in table.stdout
    assert "3333" not in table.stdout  # never the full number without --reveal


async def test_activate_notifies_tukang_and_needs_operator(db: Database, t: Harness,
                                                           admin: Admin) -> None:
    """Activation needs a named officer, flips the status and tells the tukang in the bot."""
    uid = await make_tukang(db, "joko", "Joko Susilo")
    refused = await admin.as_(None)("tukang", "activate", str(uid), "--yes")
    assert refused.exit_code == 2 and "--as" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    ok = await admin("tukang", "activate", str(uid), "--yes", "--as", "siti")
    assert ok.exit_code == 0, ok.output
    p = await profile(db, uid)
    assert p.status == "active" and p.decided_by == "siti" and p.decided_at is not None
    await t.refresh()
    assert "sudah disetujui" in t.got("joko", "Joko Susilo").text
    again = await admin("tukang", "activate", str(uid), "--yes", "--as", "siti")
    assert again.exit_code == 1 and "berstatus active" in again.stderr
    assert (await audit_rows(db, "tukang.activate"))[0].actor == "admin:siti"


async def test_activate_refuses_an_expired_skk(db: Database, admin: Admin) -> None:
    """An SKK past its valid-until date cannot be activated; nothing changes."""
    uid = await make_tukang(db, "lewat", "SKK Lewat", valid_until=date(2020, 1, 1))
    result = await admin("tukang", "activate", str(uid), "--yes", "--as", "siti")
    assert result.exit_code == 1
    assert "kedaluwarsa" in result.stderr and "01-01-2020" in result.stderr
    assert (await profile(db, uid)).status == "pending"
    rows = await admin.json("tukang", "pending")
    assert rows[0]["skk_kedaluwarsa"] is True


async def test_confirmation_no_changes_nothing(db: Database, admin: Admin) -> None:
    """Answering 'n' at the confirmation leaves the tukang pending; 'y' goes ahead."""
    uid = await make_tukang(db, "ragu", "Ragu Ragu")
    no = await admin("tukang", "activate", str(uid), "--as", "siti", input="n\n")
    assert no.exit_code == 1 and (await profile(db, uid)).status == "pending"
    yes = await admin("tukang", "activate", str(uid), "--as", "siti", input="y\n")
    assert yes.exit_code == 0 and (await profile(db, uid)).status == "active"


async def test_reject_tells_reason_and_how_to_resubmit(db: Database, t: Harness,
                                                       admin: Admin) -> None:
    """Rejection needs a reason; the tukang reads it and how to register again."""
    uid = await make_tukang(db, "rudi", "Rudi Hartono")
    missing = await admin("tukang", "reject", str(uid), "--yes", "--as", "siti")
    assert missing.exit_code == 2
    result = await admin("tukang", "reject", str(uid), "--reason", "Foto SKK buram",
                         "--yes", "--as", "siti")
    assert result.exit_code == 0, result.output
    p = await profile(db, uid)
    assert p.status == "rejected" and p.decision_reason == "Foto SKK buram"
    await t.refresh()
    msg = t.got("rudi", "belum dapat disetujui").text
    assert "Foto SKK buram" in msg and "Daftar sebagai tukang" in msg


async def test_suspend_and_reinstate(db: Database, t: Harness, admin: Admin) -> None:
    """Suspension (with a reason) and reinstatement each notify the tukang."""
    uid = await make_tukang(db, "bowo", "Bowo", status="active")
    assert (await admin("tukang", "reinstate", str(uid), "--yes", "--as", "a")).exit_code == 2
    r = await admin("tukang", "suspend", str(uid), "--reason", "Tiga kali batal", "--yes",
                    "--as", "siti")
    assert r.exit_code == 0, r.output
    p = await profile(db, uid)
    assert p.status == "suspended" and p.available is False
    await t.refresh()
    assert "Tiga kali batal" in t.got("bowo", "dinonaktifkan sementara").text
    r = await admin("tukang", "reinstate", str(uid), "--yes", "--as", "siti")
    assert r.exit_code == 0
    assert (await profile(db, uid)).status == "active"
    await t.refresh()
    assert t.got("bowo", "aktif kembali")


async def test_remove_only_with_an_upheld_complaint(db: Database, t: Harness,
                                                    admin: Admin) -> None:
    """Removal (Pasal 9) is refused without an upheld complaint about this tukang."""
    await register_warga(t, "budi")
    tid = await make_tukang(db, "dodi", "Dodi", status="active")
    job_id, _ = await make_job(db, 1, tid)
    cid, code = await make_complaint(db, job_id, status="under_review")
    r = await admin("tukang", "remove", str(tid), "--complaint", code, "--yes", "--as", "siti")
    assert r.exit_code == 1 and "terbukti" in r.stderr
    async with db.transaction() as s:
        from storage.models import Complaint

        c = await s.get(Complaint, cid)
        assert c is not None
        c.status, c.decision_note = "upheld", "Tidak datang, uang muka tidak kembali"
    other = await make_tukang(db, "lain", "Lain", status="active", phone="+6281299990002")
    r = await admin("tukang", "remove", str(other), "--complaint", code, "--yes", "--as", "siti")
    assert r.exit_code == 1 and "bukan tentang" in r.stderr
    r = await admin("tukang", "remove", str(tid), "--complaint", str(cid), "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    p = await profile(db, tid)
    assert p.status == "removed" and p.decided_by == "siti"
    await t.refresh()
    msg = t.got("dodi", "dikeluarkan").text
    assert code in msg and "uang muka" in msg


async def test_list_filters(db: Database, admin: Admin) -> None:
    """Filters by status, skill, kecamatan and SKK expiring within N days."""
    soon = local(NOW).date() + timedelta(days=10)
    a = await make_tukang(db, "a", "Ani", status="active")
    b = await make_tukang(db, "b", "Beni", status="active", skills=(ELECTRICIAN,),
                          areas=(SEKUPANG,), valid_until=soon)
    c = await make_tukang(db, "c", "Cici", status="pending")
    ids = lambda rows: sorted(r["id"] for r in rows)  # noqa: E731
    assert ids(await admin.json("tukang", "list")) == [a, b, c]
    assert ids(await admin.json("tukang", "list", "--status", "active")) == [a, b]
    assert ids(await admin.json("tukang", "list", "--skill", "listrik")) == [b]
    assert ids(await admin.json("tukang", "list", "--kecamatan", "Sekupang")) == [b]
    assert ids(await admin.json("tukang", "list", "--expiring-days", "30")) == [b]
    bad = await admin("tukang", "list", "--status", "hilang")
    assert bad.exit_code == 2
    unknown = await admin("tukang", "list", "--kecamatan", "Jakarta")
    assert unknown.exit_code == 1 and "tidak dikenal" in unknown.stderr


async def test_show_with_reveal_is_audited(db: Database, admin: Admin) -> None:
    """`show` lists everything with the SKK photo path; --reveal shows the number, audited."""
    uid = await make_tukang(db, "eko", "Eko", phone="+6281255556666",
                            media=["data/media/skk-eko.jpg"])
    rec = await admin.json("tukang", "show", str(uid), "--as", "siti")
    assert rec["hp"] == "+62812****6666" and rec["foto_skk"] == ["data/media/skk-eko.jpg"]
    assert rec["keahlian"] == ["SI013001 Tukang Cat Bangunan Gedung"]
    shown = await admin("tukang", "show", str(uid), "--reveal", "--as", "siti")
    assert shown.exit_code == 0 and "+6281255556666" in shown.stdout
    reveal = await audit_rows(db, "admin.reveal")
    assert reveal[-1].subject_id == uid and reveal[-1].actor == "admin:siti"
    missing = await admin("tukang", "show", "999")
    assert missing.exit_code == 1 and "999" in missing.stderr


async def test_suspending_withdraws_pending_offers(db: Database, t: Harness,
                                                   admin: Admin) -> None:
    """A suspended tukang's unanswered offers are withdrawn: the job is open again and the
    warga is asked to choose another tukang; pressing Terima later does nothing."""
    from storage.models import Job, Offer

    await register_warga(t, "budi")
    tid = await make_tukang(db, "bowo", "Bowo", status="active")
    job_id, code = await make_job(db, 1, None, status="offered")
    async with db.transaction() as s:
        offer = Offer(job_id=job_id, tukang_id=tid, created_at=NOW,
                      expires_at=NOW + timedelta(hours=3))
        s.add(offer)
        await s.flush()
        offer_id = offer.id
    r = await admin("tukang", "suspend", str(tid), "--reason", "Dokumen diperiksa ulang",
                    "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        o = await s.get(Offer, offer_id)
        job = await s.get(Job, job_id)
    assert o is not None and o.status == "cancelled"
    assert job is not None and job.status == "open"
    await t.refresh()
    told = t.got("budi", code)
    assert "pilih tukang lain" in told.text and told.labels == ["Pilih tukang"]
    await t.press("budi", "Pilih tukang")  # no other tukang here: the bot says so
    await t.assert_step("budi", "booking.none")
    assert "Bowo" not in t.last("budi").text
