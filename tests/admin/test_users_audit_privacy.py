"""`users`, `audit` and `privacy`: who is who, what happened, and a person's data rights."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from storage.clock import local
from storage.db import Database
from storage.models import AuditLog, ChannelAccount, Complaint, Job, Rating, TukangProfile, User
from tests.admin.conftest import NOW, Admin, make_complaint, make_job, make_tukang
from tests.harness import Harness, register_warga


async def test_users_find_by_phone_or_name(t: Harness, admin: Admin) -> None:
    """A person is found by any spelling of their number or part of their name, masked."""
    await register_warga(t, "budi")
    await register_warga(t, "sari", name="Sari Dewi", phone="081377778888")
    by_phone = await admin.json("users", "find", "0813-7777-8888")
    assert [u["nama"] for u in by_phone] == ["Sari Dewi"]
    assert by_phone[0]["hp"] == "+62813****8888" and by_phone[0]["kanal"] == ["console"]
    by_name = await admin.json("users", "find", "santoso")
    assert [u["nama"] for u in by_name] == ["Budi Santoso"]
    assert await admin.json("users", "find", "tidakada") == []
    revealed = await admin("users", "find", "sari", "--reveal", "--as", "siti")
    assert "+6281377778888" in revealed.stdout
    assert (await admin("users", "find", "x")).exit_code == 2


async def test_users_show_profile_jobs_ratings_complaints(db: Database, t: Harness,
                                                          admin: Admin) -> None:
    """`show` gathers the profile, the jobs, the ratings and the complaints of a person."""
    await register_warga(t, "budi")
    tid = await make_tukang(db, "dodi", "Dodi", status="active")
    job_id, job_code = await make_job(db, 1, tid, status="done")
    async with db.transaction() as s:
        s.add(Rating(job_id=job_id, warga_id=1, tukang_id=tid, score=2, comment="Telat",
                     created_at=NOW))
    _, ccode = await make_complaint(db, job_id)
    rec = await admin.json("users", "show", "1", "--as", "siti")
    assert rec["profil"]["nama"] == "Budi Santoso" and rec["profil"]["hp"] == "+62812****7890"
    assert rec["profil"]["kecamatan"] == "Batam Kota"
    assert rec["pekerjaan"][0]["kode"] == job_code and rec["pekerjaan"][0]["sebagai"] == "warga"
    assert rec["rating"][0]["nilai"] == 2 and rec["rating"][0]["sebagai"] == "pemberi"
    assert rec["pengaduan"][0]["kode"] == ccode
    tukang = await admin.json("users", "show", str(tid))
    assert tukang["profil"]["tukang"]["status"] == "active"
    assert tukang["pengaduan"][0]["sebagai"] == "teradu"
    table = await admin("users", "show", "1")
    assert table.exit_code == 0 and job_code in table.stdout and ccode in table.stdout
    assert (await admin("users", "show", "42")).exit_code == 1


async def test_users_history_has_every_message_and_state_change(t: Harness,
                                                                admin: Admin) -> None:
    """The access history lists each inbound message (time, channel, step from/to) and the
    registration event."""
    await register_warga(t, "budi")
    await t.send("budi", "bantuan")
    rows = await admin.json("users", "history", "1", "--as", "siti")
    messages = [r for r in rows if r["peristiwa"] == "pesan masuk"]
    assert messages and all(r["kanal"] == "console" for r in messages)
    assert messages[-1]["dari"] == "menu.home" and messages[-1]["ke"] == "menu.home"
    assert any(r["peristiwa"] == "user.register" for r in rows)
    later = await admin.json("users", "history", "1", "--from", "2030-01-01")
    assert later == []
    assert (await admin("users", "history", "1", "--from", "kemarin")).exit_code == 2
    table = await admin("users", "history", "1")
    assert table.exit_code == 0 and "pesan masuk" in table.stdout


async def test_audit_filters(db: Database, t: Harness, admin: Admin) -> None:
    """The audit log filters by actor, action (or prefix), subject and dates."""
    await register_warga(t, "budi")
    uid = await make_tukang(db, "joko", "Joko")
    await admin("tukang", "activate", str(uid), "--yes", "--as", "siti")
    await admin("tukang", "show", str(uid), "--as", "rina")
    by_actor = await admin.json("audit", "--actor", "siti")
    # activating shows the SKK check first (a read, audited), then decides
    assert [r["tindakan"] for r in by_actor] == ["admin.view", "tukang.activate"]
    activated = by_actor[1]
    assert activated["subjek"] == f"user:{uid}" and activated["detail"]["after"] == "active"
    assert sorted(r["pelaku"] for r in await admin.json("audit", "--action", "admin.*")) == [
        "admin:rina", "admin:siti"]
    about = await admin.json("audit", "--subject", "user:1")
    assert {r["tindakan"] for r in about} >= {"message", "user.register"}
    today = local(NOW).date()
    assert await admin.json("audit", "--actor", "siti", "--to",
                            str(today - timedelta(days=2))) == []
    assert len(await admin.json("audit", "--actor", "admin:siti", "--from", str(
        today - timedelta(days=1)))) == 2
    assert (await admin("audit", "--subject", "user 1")).exit_code == 2
    table = await admin("audit", "--action", "tukang.activate")
    assert table.exit_code == 0 and "admin:siti" in table.stdout


async def test_privacy_export_everything(db: Database, t: Harness, admin: Admin,
                                         tmp_path: Path) -> None:
    """Export gives the person's profile, accounts, jobs, complaints and history as JSON."""
    await register_warga(t, "budi")
    tid = await make_tukang(db, "dodi", "Dodi", status="active")
    job_id, job_code = await make_job(db, 1, tid, status="done")
    await make_complaint(db, job_id, status="dismissed")
    nobody = admin.as_(None)
    assert (await nobody("privacy", "export", "1")).exit_code == 2  # officer required
    r = await admin("privacy", "export", "1", "--as", "siti")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["profile"]["name"] == "Budi Santoso" and data["profile"]["phone"]
    assert data["channel_accounts"][0]["address"] == "budi"
    assert data["jobs"][0]["code"] == job_code and data["complaints"][0]["role"] == "complainant"
    assert any(a["action"] == "message" for a in data["audit"])
    out = tmp_path / "budi.json"
    r = await admin("privacy", "export", str(tid), "--out", str(out), "--as", "siti")
    assert r.exit_code == 0
    dodi = json.loads(out.read_text(encoding="utf-8"))
    assert dodi["tukang_profile"]["status"] == "active" and dodi["jobs"][0]["role"] == "tukang"
    assert (await admin("privacy", "export", "99", "--as", "siti")).exit_code == 1
    async with db.read() as s:
        logged = (await s.execute(select(AuditLog).where(
            AuditLog.action == "privacy.export"))).scalars().all()
    assert [a.subject_id for a in logged] == [1, tid]


async def test_privacy_erase_refused_while_open_then_anonymises(db: Database, t: Harness,
                                                                admin: Admin,
                                                                tmp_path: Path) -> None:
    """Erasure waits for open jobs and complaints; then names, numbers, accounts, texts and
    files are gone while ids, statuses and scores remain."""
    await register_warga(t, "budi")
    skk = tmp_path / "skk.jpg"
    skk.write_bytes(b"\xff\xd8 photo")
    tid = await make_tukang(db, "dodi", "Dodi", status="active", media=[str(skk)])
    job_id, _ = await make_job(db, 1, tid, status="in_progress")
    r = await admin("privacy", "erase", str(tid), "--yes", "--as", "siti")
    assert r.exit_code == 1 and "pekerjaan yang berjalan" in r.stderr
    async with db.transaction() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        job.status = "done"
        s.add(Rating(job_id=job_id, warga_id=1, tukang_id=tid, score=4, comment="Rapi",
                     created_at=NOW))
    cid, _ = await make_complaint(db, job_id)
    r = await admin("privacy", "erase", str(tid), "--yes", "--as", "siti")
    assert r.exit_code == 1 and "pengaduan yang belum diputus" in r.stderr
    async with db.transaction() as s:
        c = await s.get(Complaint, cid)
        assert c is not None
        c.status, c.statement = "dismissed", "Saya datang tepat waktu"
    no = await admin("privacy", "erase", str(tid), "--as", "siti", input="n\n")
    assert no.exit_code == 1
    r = await admin("privacy", "erase", str(tid), "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    assert not skk.exists()
    async with db.read() as s:
        u = await s.get(User, tid)
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == tid))
             ).scalar_one()
        accounts = (await s.execute(select(ChannelAccount).where(
            ChannelAccount.user_id == tid))).scalars().all()
        c = await s.get(Complaint, cid)
        rating = (await s.execute(select(Rating))).scalar_one()
        erased = (await s.execute(select(AuditLog).where(
            AuditLog.action == "privacy.erase"))).scalar_one()
    assert u is not None and u.name == "(dihapus)" and u.phone is None and u.status == "erased"
    assert accounts == [] and p.skk_media == [] and p.status == "erased"
    assert c is not None and c.statement == "(dihapus)" and c.status == "dismissed"
    assert rating.score == 4 and rating.tukang_id == tid
    assert erased.actor == "admin:siti" and erased.subject_id == tid
    again = await admin("privacy", "erase", str(tid), "--yes", "--as", "siti")
    assert again.exit_code == 1 and "sudah dihapus" in again.stderr

    r = await admin("privacy", "erase", "1", "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        job = await s.get(Job, job_id)
        c = await s.get(Complaint, cid)
    assert job is not None and job.description == "(dihapus)" and job.address == ""
    assert c is not None and c.text == "(dihapus)"
    await t.send("budi", "halo")  # the old chat now starts afresh as a stranger
    assert "Selamat datang" in t.last("budi").text
