"""`sijakon-admin complaints`: overdue first, statements requested, decisions under Pasal 9."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage.db import Database
from storage.models import AuditLog, Complaint, TukangProfile
from tests.admin.conftest import NOW, Admin, make_complaint, make_job, make_tukang
from tests.harness import Harness, register_warga


async def complaint(db: Database, cid: int) -> Complaint:
    async with db.read() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        return c


async def setup(db: Database, t: Harness) -> tuple[int, int]:
    """A registered warga (user 1, console 'budi') and an active tukang 'dodi'; a job."""
    await register_warga(t, "budi")
    tid = await make_tukang(db, "dodi", "Dodi Tukang", status="active")
    job_id, _ = await make_job(db, 1, tid)
    return tid, job_id


async def test_list_puts_overdue_first_and_hides_decided(db: Database, t: Harness,
                                                         admin: Admin) -> None:
    """Overdue complaints (3 working days to verify, statement deadline) come first."""
    _, job_id = await setup(db, t)
    now = NOW
    _, fresh = await make_complaint(db, job_id, created_at=now - timedelta(hours=1))
    _, late = await make_complaint(db, job_id, created_at=now - timedelta(days=10))
    _, waiting = await make_complaint(db, job_id, status="awaiting_statement",
                                      created_at=now - timedelta(days=9),
                                      statement_requested_at=now - timedelta(days=8),
                                      statement_due_at=now - timedelta(days=1))
    _, done = await make_complaint(db, job_id, status="dismissed",
                                   created_at=now - timedelta(days=20))
    rows = await admin.json("complaints", "list", "--as", "siti")
    assert [r["kode"] for r in rows] == [late, waiting, fresh]
    assert rows[0]["terlambat"] and rows[0]["berikutnya"] == "verifikasi"
    assert rows[1]["catatan"] == "batas pernyataan lewat, siap diputus"
    assert not rows[2]["terlambat"]
    everything = await admin.json("complaints", "list", "--all")
    assert done in [r["kode"] for r in everything]
    table = await admin("complaints", "list")
    assert table.exit_code == 0 and late in table.stdout


async def test_show_has_job_parties_text_evidence(db: Database, t: Harness,
                                                  admin: Admin) -> None:
    """`show` gives the job, both parties (masked), the text, evidence paths, statement."""
    _, job_id = await setup(db, t)
    cid, code = await make_complaint(db, job_id, evidence=["data/media/bukti1.jpg"],
                                     status="under_review", statement="Saya sakit",
                                     statement_at=NOW)
    rec = await admin.json("complaints", "show", code, "--as", "siti")
    assert rec["kode"] == code and rec["bukti"] == ["data/media/bukti1.jpg"]
    assert rec["isi_pengaduan"].startswith("Tukang tidak datang")
    assert rec["pernyataan"] == "Saya sakit"
    assert "Budi Santoso" in rec["warga"] and "****" in rec["warga"]
    assert "Dodi Tukang" in rec["tukang"] and "(active)" in rec["tukang"]
    by_id = await admin("complaints", "show", str(cid))
    assert by_id.exit_code == 0 and code in by_id.stdout
    async with db.read() as s:
        seen = (await s.execute(select(AuditLog).where(
            AuditLog.action == "admin.view", AuditLog.subject_type == "complaint"))).scalars()
        assert {a.subject_id for a in seen} == {cid}
    assert (await admin("complaints", "show", "P-0000-0000")).exit_code == 1


async def test_request_statement_notifies_both(db: Database, t: Harness,
                                               admin: Admin) -> None:
    """The complaint waits for a statement (working days); the tukang gets the text and a
    button, the warga the deadline."""
    _, job_id = await setup(db, t)
    cid, code = await make_complaint(db, job_id)
    r = await admin("complaints", "request-statement", code, "--days", "5", "--yes",
                    "--as", "siti")
    assert r.exit_code == 0, r.output
    c = await complaint(db, cid)
    assert c.status == "awaiting_statement" and c.statement_requested_at is not None
    assert c.statement_due_at is not None
    # five working days from Monday 09:00: the next Monday 09:00
    assert (c.statement_due_at - c.statement_requested_at) == timedelta(days=7)
    await t.refresh()
    to_tukang = t.got("dodi", code)
    assert "Tukang tidak datang" in to_tukang.text and to_tukang.labels == ["Tulis pernyataan"]
    assert "pernyataan dari tukang" in t.got("budi", code).text
    again = await admin("complaints", "request-statement", code, "--yes", "--as", "siti")
    assert again.exit_code == 1 and "awaiting_statement" in again.stderr


async def test_upheld_needs_statement_or_passed_deadline(db: Database, t: Harness,
                                                         admin: Admin) -> None:
    """Upheld is refused until a statement was requested and then received or overdue."""
    tid, job_id = await setup(db, t)
    cid, code = await make_complaint(db, job_id)
    args = ("complaints", "decide", code, "upheld", "--note", "Terbukti", "--yes", "--as", "siti")
    r = await admin(*args)
    assert r.exit_code == 1 and "request-statement" in r.stderr
    assert (await admin("complaints", "request-statement", code, "--yes", "--as",
                        "siti")).exit_code == 0
    r = await admin(*args)
    assert r.exit_code == 1 and "batasnya belum lewat" in r.stderr
    async with db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.statement_due_at = NOW - timedelta(minutes=1)
    r = await admin(*args)  # the request still waits in the outbox: the tukang was not heard
    assert r.exit_code == 1 and "belum sampai ke tukang" in r.stderr
    assert "--reached-otherwise" in r.stderr
    r = await admin(*args, "--reached-otherwise", "ditelepon 24-11 pukul 10.00, tidak menjawab")
    assert r.exit_code == 0, r.output
    c = await complaint(db, cid)
    assert c.status == "upheld" and c.decided_by == "siti" and c.decision_note == "Terbukti"
    async with db.read() as s:
        row = (await s.execute(select(AuditLog).where(AuditLog.action == "complaint.decide"))
               ).scalar_one()
    assert row.detail["reached_otherwise"].startswith("ditelepon")
    async with db.read() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == tid))
             ).scalar_one()
    assert p.status == "removed" and code in (p.decision_reason or "")
    await t.refresh()
    assert "terbukti" in t.got("budi", "Pengaduan Anda").text
    assert "dikeluarkan" in t.got("dodi", code).text
    twice = await admin(*args)
    assert twice.exit_code == 1 and "sudah diputus" in twice.stderr


async def test_dismissed_keeps_tukang_and_tells_both(db: Database, t: Harness,
                                                     admin: Admin) -> None:
    """Dismissal is possible at any time; the tukang stays active; both are told."""
    tid, job_id = await setup(db, t)
    _, code = await make_complaint(db, job_id)
    bad = await admin("complaints", "decide", code, "maybe", "--note", "x", "--as", "siti")
    assert bad.exit_code == 2
    no_note = await admin("complaints", "decide", code, "dismissed", "--yes", "--as", "siti")
    assert no_note.exit_code == 2
    r = await admin("complaints", "decide", code, "dismissed", "--note",
                    "Bukti tidak cukup", "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == tid))
             ).scalar_one()
    assert p.status == "active"
    await t.refresh()
    assert "tidak terbukti" in t.got("budi", code).text
    assert "Bukti tidak cukup" in t.got("dodi", code).text


async def test_upheld_after_a_delivered_request_needs_no_other_contact(
        db: Database, t: Harness, admin: Admin) -> None:
    """Once the statement request was delivered and the deadline passed, upheld is allowed."""
    from bot.delivery import DeliveryWorker
    from tests.test_delivery import RecordingSender

    _, job_id = await setup(db, t)
    cid, code = await make_complaint(db, job_id)
    assert (await admin("complaints", "request-statement", code, "--yes", "--as",
                        "siti")).exit_code == 0
    await DeliveryWorker(db, [RecordingSender()], clock=admin.clock).drain()
    async with db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.statement_due_at = NOW - timedelta(minutes=1)
    r = await admin("complaints", "decide", code, "upheld", "--note", "Terbukti", "--yes",
                    "--as", "siti")
    assert r.exit_code == 0, r.output
    assert (await complaint(db, cid)).status == "upheld"
