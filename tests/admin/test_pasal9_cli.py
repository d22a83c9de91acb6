"""The officer's side of Pasal 9: Indonesian output, exports, `overdue`, real before/after in
the audit, deadlines in working days that skip holidays, reminders and the officers' chat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from flows.complaints import complaint_reminders, officer_digest
from flows.context import FlowConfig
from flows.deadlines import Calendar, HolidayFileError, calendar, parse_holidays
from flows.outbox import Outgoing
from storage.db import Database
from storage.models import AuditLog, Complaint, Outbox
from tests.admin.conftest import NOW, Admin, make_complaint, make_job, make_tukang
from tests.factories import make_person
from tests.harness import Harness, StepClock, register_warga


async def setup(db: Database, t: Harness) -> tuple[int, int]:
    await register_warga(t, "budi")
    tid = await make_tukang(db, "dodi", "Dodi Tukang", status="active")
    job_id, _ = await make_job(db, 1, tid)
    return tid, job_id


def test_deadline_over_christmas_skips_the_holiday_and_cuti_bersama() -> None:
    """Three working days from Tuesday 22 Dec 2026 end on Tuesday 29 Dec: the 24th (cuti
    bersama) and the 25th (Natal) and the weekend are skipped; the override file adds a day."""
    start = datetime(2026, 12, 22, 2, 0, tzinfo=UTC)  # 09:00 WIB
    cal = Calendar()
    assert cal.add(start, 3) == datetime(2026, 12, 29, 2, 0, tzinfo=UTC)
    assert [d for d, _ in cal.skipped(start, cal.add(start, 3))] == [date(2026, 12, 24),
                                                                    date(2026, 12, 25)]
    local = parse_holidays(["# libur daerah", "2026-12-23, HUT daerah", "-2026-12-24"])
    assert local.add(start, 3) == datetime(2026, 12, 29, 2, 0, tzinfo=UTC)
    assert not local.working(date(2026, 12, 23)) and local.working(date(2026, 12, 24))
    assert cal.before(datetime(2026, 12, 28, 2, 0, tzinfo=UTC), 1) == \
        datetime(2026, 12, 23, 2, 0, tzinfo=UTC)


def test_holiday_file_is_read_and_a_bad_line_named(tmp_path: Path) -> None:
    """The override file is read from its path; a line that is no date is named."""
    good = tmp_path / "libur.csv"
    good.write_text("2026-11-24,Hari jadi\n", encoding="utf-8")
    assert not calendar(good).working(date(2026, 11, 24))
    bad = tmp_path / "salah.csv"
    bad.write_text("2026-11-24\nbesok\n", encoding="utf-8")
    try:
        calendar(bad)
    except HolidayFileError as exc:
        assert "baris 2" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a bad line was accepted")


async def test_request_statement_over_a_holiday(db: Database, t: Harness,
                                                admin: Admin) -> None:
    """A statement asked on 22 Dec with 3 working days is due on 29 Dec; the officer is told
    which holidays were skipped, and the audit keeps them."""
    _, job_id = await setup(db, t)
    _, code = await make_complaint(db, job_id)
    admin.clock = StepClock(datetime(2026, 12, 22, 2, 0, tzinfo=UTC))
    r = await admin("complaints", "request-statement", code, "--days", "3", "--yes")
    assert r.exit_code == 0, r.output
    assert "29-12-2026 09:00 WIB" in r.stdout and "Hari Raya Natal" in r.stdout
    async with db.read() as s:
        row = (await s.execute(select(AuditLog).where(
            AuditLog.action == "complaint.request_statement"))).scalar_one()
    assert row.detail["skipped"] == ["2026-12-24", "2026-12-25"]


async def test_reminders_two_and_one_working_day_before(db: Database, t: Harness,
                                                        admin: Admin) -> None:
    """The tukang is reminded 2 and 1 working days before the deadline, each once, with the
    "Tulis pernyataan" button."""
    _, job_id = await setup(db, t)
    cid, code = await make_complaint(db, job_id)
    assert (await admin("complaints", "request-statement", code, "--yes")).exit_code == 0
    config = FlowConfig()

    async def tick(at: datetime) -> int:
        out = Outgoing()
        async with db.transaction() as s:
            n = await complaint_reminders(s, at, out, config)
            await out.write(s, at)
        return n

    # due Monday 30 Nov 09:00 WIB: reminders from Thursday 26 and Friday 27, 09:00
    assert await tick(NOW + timedelta(days=2)) == 0
    assert await tick(NOW + timedelta(days=3)) == 1
    assert await tick(NOW + timedelta(days=3, hours=1)) == 0
    assert await tick(NOW + timedelta(days=4)) == 1
    assert await tick(NOW + timedelta(days=5)) == 0
    await t.refresh()
    reminders = [x for x in t.all("dodi") if "Pengingat" in x.text]
    assert len(reminders) == 2 and reminders[0].labels == ["Tulis pernyataan"]
    assert "2 hari kerja" in reminders[0].text and "1 hari kerja" in reminders[1].text
    async with db.read() as s:
        assert (await s.get(Complaint, cid)).statement_reminders == 2  # type: ignore[union-attr]


async def test_indonesian_output_and_json_codes(db: Database, t: Harness,
                                                admin: Admin) -> None:
    """People read Indonesian statuses, skill names and WIB times; --json keeps the codes."""
    await make_tukang(db, "joko", "Joko Susilo", skills=["SI013026"])
    pending = await admin("tukang", "pending")
    assert "SI013026 Tukang Bangunan Gedung" in pending.stdout
    shown = await admin("tukang", "list")
    assert "menunggu aktivasi" in shown.stdout and "pending" not in shown.stdout
    assert (await admin.json("tukang", "list"))[0]["status"] == "pending"
    _, job_id = await setup(db, t)
    _, code = await make_complaint(db, job_id)
    table = await admin("complaints", "list")
    assert "menunggu verifikasi" in table.stdout and "submitted" not in table.stdout
    assert "26-11-2026 09:00 WIB" in table.stdout
    assert (await admin.json("complaints", "list"))[0]["status"] == "submitted"
    record = await admin("complaints", "show", code)
    assert "baru, menunggu verifikasi" in record.stdout and "(aktif)" in record.stdout


async def test_evidence_and_skk_photos_are_exported_with_sizes(
        db: Database, t: Harness, admin: Admin, tmp_path: Path) -> None:
    """`complaints show` lists evidence with sizes; `complaints evidence --out` and `tukang
    show --photos` copy the files; both are audited."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "a.jpg").write_bytes(b"\xff\xd8" + b"x" * 2046)
    (media / "b.pdf").write_bytes(b"%PDF-1.4" + b"y" * 100)
    tid, job_id = await setup(db, t)
    _, code = await make_complaint(db, job_id, evidence=[str(media / "a.jpg"),
                                                        str(media / "b.pdf"),
                                                        str(media / "gone.jpg")])
    shown = await admin("complaints", "show", code)
    assert "a.jpg (2 KB)" in shown.stdout and "b.pdf (108 B)" in shown.stdout
    assert "gone.jpg (hilang)" in shown.stdout
    out = tmp_path / "ekspor"
    r = await admin("complaints", "evidence", code, "--out", str(out))
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == [f"{code}-bukti-1.jpg",
                                                     f"{code}-bukti-2.pdf"]
    skk = await make_tukang(db, "eko", "Eko Prasetyo", media=[str(media / "a.jpg")],
                            phone="+6281299990009")
    r = await admin("tukang", "show", str(skk), "--photos", str(tmp_path / "skk"))
    assert r.exit_code == 0 and (tmp_path / "skk" / f"tukang-{skk}-skk-1.jpg").exists()
    assert "(2 KB)" in r.stdout
    async with db.read() as s:
        whats = [a.detail.get("what") for a in (await s.execute(
            select(AuditLog).where(AuditLog.action == "admin.view"))).scalars()]
    assert "complaints.evidence" in whats and "tukang.photos" in whats
    assert tid


async def test_overdue_lists_late_and_near_deadlines(db: Database, t: Harness,
                                                     admin: Admin) -> None:
    """`overdue` shows what is past or within one working day of its deadline, late first."""
    _, job_id = await setup(db, t)
    _, late = await make_complaint(db, job_id, created_at=NOW - timedelta(days=10))
    _, near = await make_complaint(db, job_id, created_at=NOW - timedelta(days=4))
    _, fresh = await make_complaint(db, job_id, created_at=NOW)
    rows = await admin.json("complaints", "overdue")
    assert [(r["kode"], r["terlambat"], r["segera"]) for r in rows] == [
        (late, True, False), (near, False, True)]
    assert fresh not in (await admin("complaints", "overdue")).stdout


async def test_audit_records_real_before_and_after(db: Database, t: Harness,
                                                   admin: Admin) -> None:
    """Activating a pending tukang is audited as pending -> active (not active -> active)."""
    tid = await make_tukang(db, "joko", "Joko Susilo")
    assert (await admin("tukang", "activate", str(tid), "--yes")).exit_code == 0
    assert (await admin("tukang", "suspend", str(tid), "--reason", "Sering batal",
                        "--yes")).exit_code == 0
    async with db.read() as s:
        rows = [(a.action, a.detail["before"], a.detail["after"]) for a in (await s.execute(
            select(AuditLog).where(AuditLog.action.in_(["tukang.activate", "tukang.suspend"]))
            .order_by(AuditLog.id))).scalars()]
    assert rows == [("tukang.activate", "pending", "active"),
                    ("tukang.suspend", "active", "suspended")]


async def test_officer_chat_gets_new_complaints_at_once_and_a_daily_digest(
        db: Database, tmp_path: Path) -> None:
    """With an officers' chat set, a new complaint goes there at once; the digest goes once a
    day after 08:00 WIB, listing what waits."""
    config = FlowConfig(officer_chat=("telegram", "-100555"))
    t = Harness.console(db, config=config)
    try:
        warga = await make_person(t, "budi", name="Budi Santoso")
        tid = await make_tukang(db, "dodi", "Dodi Tukang", status="active")
        await make_tukang(db, "joko", "Joko Susilo", phone="+6281299990002")
        _, job_code = await make_job(db, warga, tid)
        await t.send("budi", "menu")
        await t.press("budi", "Pengaduan")
        await t.press("budi", f"{job_code} · Dodi Tukang")
        await t.send("budi", "Tukang tidak datang dan uang muka tidak kembali.")
        await t.photo("budi", b"\xff\xd8\xff\xe0bukti")
        await t.press("budi", "Selesai")
        await t.press("budi", "Kirim")
        to_officers = [x for x in t.all("telegram:-100555")]
        assert len(to_officers) == 1 and "Pengaduan baru" in to_officers[0].text
        assert "26-11-2026 09:00 WIB" in to_officers[0].text

        async def digest(at: datetime) -> int:
            out = Outgoing()
            async with db.transaction() as s:
                n = await officer_digest(s, at, out, config)
                await out.write(s, at)
            return n

        early = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 07:30 WIB
        assert await digest(early) == 0
        assert await digest(NOW) == 1
        assert await digest(NOW + timedelta(hours=3)) == 0  # once a day
        await t.refresh()
        text = t.all("telegram:-100555")[-1].text
        assert "Tukang menunggu aktivasi: 1" in text
        assert "Pengaduan baru belum diverifikasi: 1" in text
        async with db.read() as s:
            rows = (await s.execute(select(Outbox).where(Outbox.channel == "telegram"))
                    ).scalars().all()
        assert len(rows) == 2
    finally:
        await t.close()
