"""Retention (UU 27/2022): each category goes once its period has passed and stays before it;
the report of a past quarter reads the same after the purge; every run is in the audit log;
`sijakon-admin privacy retention` shows (`--dry-run`) and runs the same rules; the periods
are settings checked at start-up.

History is written straight to the tables, dated from `NOW`; the scheduler, the report and the
CLI run as in production on injected clocks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from admin_cli.app import app
from admin_cli.privacy import retention_config
from bot.runtime import flow_config
from bot.scheduler import Scheduler
from bot.settings import SettingsError, load_settings
from flows.context import FlowConfig
from flows.timers import pending
from storage import retention
from storage.clock import WIB
from storage.db import Database
from storage.models import (
    AuditLog,
    ChannelAccount,
    Complaint,
    Conversation,
    Job,
    Objection,
    ProcessedUpdate,
    Rating,
    SurveyResponse,
    TukangProfile,
    User,
)
from storage.reports import Quarter, quarterly_report
from storage.sql import table
from tests.admin.conftest import Admin
from tests.factories import NOW, make_officer, make_person, make_tukang
from tests.harness import Harness, StepClock, register_warga

DAY = timedelta(days=1)
BATAM_KOTA = "217110"


def config_for(tmp_path: Path) -> FlowConfig:
    """The default periods (2, 30, 180, 365, 365 days; outbox 120)."""
    return FlowConfig(data_dir=tmp_path / "data")


def media(tmp_path: Path, name: str) -> str:
    """A file as the bot stores one a person sent."""
    path = tmp_path / "data" / "media" / "2025-01" / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 " + name.encode())
    return str(path)


def exists(paths: list[str]) -> list[bool]:
    return [Path(p).exists() for p in paths]


async def add_job(db: Database, warga: int, tukang: int | None, *, status: str,
                  created: datetime, done: datetime | None = None,
                  photos: list[str] | None = None) -> int:
    async with db.transaction() as s:
        n = (await s.execute(select(func.count()).select_from(Job))).scalar_one()
        job = Job(code=f"J-RET-{n:04d}", warga_id=warga, tukang_id=tukang, category_id=6,
                  description="Cat ulang dinding", kecamatan_code=BATAM_KOTA, status=status,
                  photos=photos or [], created_at=created,
                  accepted_at=created + timedelta(hours=2) if tukang else None,
                  done_at=done)
        s.add(job)
        await s.flush()
        return int(job.id or 0)


async def add_complaint(db: Database, job_id: int, *, status: str, created: datetime,
                        decided: datetime | None = None, evidence: list[str] | None = None,
                        statement_media: list[str] | None = None) -> int:
    async with db.transaction() as s:
        job = await s.get(Job, job_id)
        assert job is not None and job.tukang_id is not None
        c = Complaint(code=f"P-RET-{job_id:04d}", job_id=job_id, warga_id=job.warga_id,
                      tukang_id=job.tukang_id, text="Tidak datang", status=status,
                      evidence=evidence or [], statement_media=statement_media or [],
                      created_at=created, decided_at=decided,
                      decided_by="admin:siti" if decided else None)
        s.add(c)
        await s.flush()
        return int(c.id or 0)


async def add_dedupe(db: Database, received: list[datetime]) -> None:
    async with db.transaction() as s:
        await s.execute(insert(table(ProcessedUpdate)), [
            {"channel": "telegram", "external_id": str(i), "received_at": at}
            for i, at in enumerate(received)])


async def add_conversation(db: Database, address: str, updated: datetime) -> None:
    async with db.transaction() as s:
        s.add(Conversation(channel="console", address=address, flow="start",
                           step="start.name", data={"name": "Rahasia"}, updated_at=updated))


async def decide_tukang(db: Database, uid: int, status: str, at: datetime) -> None:
    async with db.transaction() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == uid))
             ).scalar_one()
        p.status, p.decided_at = status, at


async def column(db: Database, model: Any, name: str, row_id: int) -> Any:
    async with db.read() as s:
        return (await s.execute(select(getattr(model, name)).where(model.id == row_id))
                ).scalar_one()


async def tick(db: Database, at: datetime, config: FlowConfig) -> dict[str, int]:
    return await Scheduler(db, config, clock=lambda: at).tick()


async def runs(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    """(actor, action, detail) of every retention audit row, oldest first."""
    async with db.read() as s:
        return [(r.actor, r.action, r.detail) for r in (await s.execute(
            select(AuditLog).where(AuditLog.subject_type == "retention")
            .order_by(AuditLog.id))).scalars()]


class World:
    """One of each category just past its period, and its neighbour just before it (or kept
    for another reason), with the files they list."""

    async def build(self, db: Database, tmp_path: Path) -> World:
        self.warga = await make_person(db, "budi", at=NOW - 800 * DAY, at_menu=False)
        self.tukang = await make_tukang(db, "dodi", "Dodi", media=[], at_menu=False,
                                        submitted_at=NOW - 800 * DAY)
        f = lambda name: media(tmp_path, name)  # noqa: E731
        # dedupe: 2 days
        await add_dedupe(db, [NOW - 2 * DAY - timedelta(hours=1),
                              NOW - 2 * DAY + timedelta(hours=1)])
        # conversations: 30 days
        await add_conversation(db, "quiet", NOW - 31 * DAY)
        await add_conversation(db, "recent", NOW - 29 * DAY)
        # job photos: 180 days after the job ended
        self.job_files = {k: [f(f"job-{k}")] for k in
                          ("done_old", "done_young", "cancelled_old", "open_old", "disputed")}
        self.jobs = {
            "done_old": await add_job(db, self.warga, self.tukang, status="done",
                                      created=NOW - 200 * DAY, done=NOW - 181 * DAY,
                                      photos=self.job_files["done_old"]),
            "done_young": await add_job(db, self.warga, self.tukang, status="done",
                                        created=NOW - 200 * DAY, done=NOW - 179 * DAY,
                                        photos=self.job_files["done_young"]),
            "cancelled_old": await add_job(db, self.warga, None, status="cancelled",
                                           created=NOW - 181 * DAY,
                                           photos=self.job_files["cancelled_old"]),
            "open_old": await add_job(db, self.warga, self.tukang, status="in_progress",
                                      created=NOW - 400 * DAY,
                                      photos=self.job_files["open_old"]),
            "disputed": await add_job(db, self.warga, self.tukang, status="done",
                                      created=NOW - 400 * DAY, done=NOW - 390 * DAY,
                                      photos=self.job_files["disputed"]),
        }
        # complaint files: 365 days after the decision; an undecided one keeps its own and
        # its job's
        self.complaint_files = {"old": [f("evidence-old"), f("statement-old")],
                                "young": [f("evidence-young")], "open": [f("evidence-open")]}
        self.complaints = {
            "old": await add_complaint(db, self.jobs["done_old"], status="dismissed",
                                       created=NOW - 380 * DAY, decided=NOW - 366 * DAY,
                                       evidence=self.complaint_files["old"][:1],
                                       statement_media=self.complaint_files["old"][1:]),
            "young": await add_complaint(db, self.jobs["done_young"], status="upheld",
                                         created=NOW - 380 * DAY, decided=NOW - 364 * DAY,
                                         evidence=self.complaint_files["young"]),
            "open": await add_complaint(db, self.jobs["disputed"], status="under_review",
                                        created=NOW - 385 * DAY,
                                        evidence=self.complaint_files["open"]),
        }
        # SKK photos: 365 days after a rejection or removal; an active tukang keeps them
        self.skk_files = {k: [f(f"skk-{k}")] for k in ("rejected", "recent", "active")}
        self.tukang_ids = {}
        for key, status, age, phone in (("rejected", "rejected", 366, "+6281299990011"),
                                        ("recent", "removed", 364, "+6281299990012"),
                                        ("active", "active", 900, "+6281299990013")):
            uid = await make_tukang(db, f"t-{key}", f"Tukang {key}", media=self.skk_files[key],
                                    phone=phone, at_menu=False,
                                    submitted_at=NOW - (age + 10) * DAY)
            await decide_tukang(db, uid, status, NOW - age * DAY)
            self.tukang_ids[key] = uid
        return self


async def test_each_category_goes_after_its_period_and_stays_before(any_db: Database,
                                                                   tmp_path: Path) -> None:
    """At NOW, what is just past its period goes (rows emptied of files, the files deleted,
    idle conversations and old message ids deleted), what is just before it, unfinished or
    under an undecided complaint stays; one audit row per timer says how many went."""
    db, config = any_db, config_for(tmp_path)
    w = await World().build(db, tmp_path)
    async with db.read() as s:
        before = await pending(s, NOW, config)
    assert {k: (v.rows, v.files) for k, v in before.items()} == {
        "outbox": (0, 0), "dedupe": (1, 0), "conversation": (1, 0), "job_media": (2, 2),
        "complaint_media": (1, 2), "tukang_media": (1, 1)}
    assert before["job_media"].oldest == NOW - 181 * DAY
    assert before["conversation"].oldest == NOW - 31 * DAY

    done = await tick(db, NOW, config)
    assert (done["prune_dedupe"], done["prune_outbox"], done["retention"]) == (1, 0, 5)

    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(ProcessedUpdate))
                ).scalar_one() == 1
        assert (await s.execute(select(Conversation.address))).scalars().all() == ["recent"]
    photos = {k: await column(db, Job, "photos", i) for k, i in w.jobs.items()}
    assert photos == {"done_old": [], "done_young": w.job_files["done_young"],
                      "cancelled_old": [], "open_old": w.job_files["open_old"],
                      "disputed": w.job_files["disputed"]}
    for key, files in w.job_files.items():
        assert exists(files) == [bool(photos[key])], key
    assert await column(db, Complaint, "evidence", w.complaints["old"]) == []
    assert await column(db, Complaint, "statement_media", w.complaints["old"]) == []
    assert exists(w.complaint_files["old"]) == [False, False]
    assert exists(w.complaint_files["young"] + w.complaint_files["open"]) == [True, True]
    async with db.read() as s:
        skk = dict((await s.execute(select(TukangProfile.user_id, TukangProfile.skk_media)))
                   .all())
    assert skk[w.tukang_ids["rejected"]] == [] and exists(w.skk_files["rejected"]) == [False]
    assert skk[w.tukang_ids["recent"]] == w.skk_files["recent"]
    assert skk[w.tukang_ids["active"]] == w.skk_files["active"]
    # the rows the report reads stay, with their statuses and dates
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Job))).scalar_one() == 5
        assert (await s.execute(select(func.count()).select_from(Complaint))).scalar_one() == 3

    assert await runs(db) == [
        ("system", "retention.dedupe", {"deleted": {"dedupe": 1}, "more": False}),
        ("system", "retention.outbox", {"deleted": {"outbox": 0}, "more": False}),
        ("system", "retention.run", {"deleted": {"conversation": 1, "job_media": 2,
                                                 "complaint_media": 1, "tukang_media": 1},
                                     "more": False, "files": 5})]

    # a tick later nothing is due; six hours on, the next runs find only what aged meanwhile
    again = await tick(db, NOW + timedelta(minutes=1), config)
    assert (again["prune_dedupe"], again["prune_outbox"], again["retention"]) == (0, 0, 0)
    assert len(await runs(db)) == 3
    later = NOW + retention.EVERY + 2 * DAY  # past the young neighbours' periods too
    done = await tick(db, later, config)
    assert (done["prune_dedupe"], done["retention"]) == (1, 4)
    assert exists(w.job_files["done_young"] + w.complaint_files["young"]
                  + w.skk_files["recent"]) == [False, False, False]
    assert exists(w.job_files["open_old"] + w.job_files["disputed"]
                  + w.complaint_files["open"] + w.skk_files["active"]) == [True] * 4
    assert len(await runs(db)) == 6


async def test_a_quiet_person_keeps_their_account(db: Database, clock: StepClock,
                                                 tmp_path: Path) -> None:
    """A warga silent for 30 days loses the conversation, not the account: the next message
    finds them at the menu, by name, with no second onboarding."""
    t = Harness.console(db, clock=clock)
    await register_warga(t, "budi")
    config = config_for(tmp_path)
    clock.advance(days=29)
    assert (await tick(db, clock(), config))["retention"] == 0
    clock.advance(days=2)
    assert (await tick(db, clock(), config))["retention"] == 1
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Conversation))
                ).scalar_one() == 0
        assert (await s.execute(select(User.name))).scalars().all() == ["Budi Santoso"]
        assert (await s.execute(select(func.count()).select_from(ChannelAccount))
                ).scalar_one() == 1
    await t.send("budi", "halo")
    await t.assert_step("budi", "menu.home")
    await t.close()


# --- the report of a past quarter -------------------------------------------------------------


def wib(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=WIB).astimezone(UTC)


async def test_a_past_quarter_reads_the_same_after_the_purge(db: Database,
                                                             tmp_path: Path) -> None:
    """Q3 2026's report (jobs, complaints, ratings, survey, access) is the same before and
    after every category has been purged two years later."""
    config = config_for(tmp_path)
    warga = await make_person(db, "budi", at=wib(6, 1), at_menu=False)
    tukang = await make_tukang(db, "dodi", "Dodi", media=[media(tmp_path, "skk")],
                               submitted_at=wib(6, 1), at_menu=False)
    for i, (status, day) in enumerate((("done", 5), ("cancelled", 12), ("expired", 20))):
        job = await add_job(db, warga, tukang if status == "done" else None, status=status,
                            created=wib(7, day), done=wib(7, day + 3) if status == "done"
                            else None, photos=[media(tmp_path, f"job{i}")])
        if status == "done":
            async with db.transaction() as s:
                s.add(Rating(job_id=job, warga_id=warga, tukang_id=tukang, score=4,
                             created_at=wib(7, day + 4)))
            await add_complaint(db, job, status="dismissed", created=wib(8, 1),
                                decided=wib(8, 20), evidence=[media(tmp_path, "ev")])
    await decide_tukang(db, tukang, "removed", wib(9, 1))
    async with db.transaction() as s:
        s.add(SurveyResponse(user_id=warga, role="warga", period="2026Q3",
                             scores=[4, 3, 4, 4, 3, 4, 4, 3, 4], created_at=wib(8, 2)))
        s.add(AuditLog(actor=f"user:{warga}", action="message", subject_type="user",
                       subject_id=warga, channel="console", at=wib(8, 3)))
    await add_conversation(db, "budi-old", wib(9, 30))
    await add_dedupe(db, [wib(9, 30)])
    q3 = Quarter(2026, 3)
    async with db.read() as s:
        before = await quarterly_report(s, q3)
    figures = before["current"]
    assert figures["jobs"]["total"] == 3 and figures["complaints"]["received"] == 1

    at = wib(12, 1, 2028)
    async with db.read() as s:
        assert sum(p.rows for p in (await pending(s, at, config)).values()) == 7
    await tick(db, at, config)
    async with db.read() as s:
        assert sum(p.rows for p in (await pending(s, at, config)).values()) == 0
        after = await quarterly_report(s, q3)
    assert after == before
    assert list((tmp_path / "data" / "media").rglob("*.jpg")) == []


# --- the officer's command --------------------------------------------------------------------


async def test_dry_run_shows_and_the_run_deletes(db: Database, tmp_path: Path) -> None:
    """`--dry-run` lists each category with its period, rows, files and oldest date and
    deletes nothing; the run asks first, then deletes and records the officer's run."""
    w = await World().build(db, tmp_path)
    await make_officer(db, "siti", "pdp")
    admin = Admin.on(db, tmp_path / "data", StepClock(NOW))
    shown = await admin.json("privacy", "retention", "--dry-run", "--as", "siti")
    assert [(r["kategori"], r["masa_simpan_hari"], r["baris"], r["file"], r["terlama"])
            for r in shown] == [
        ("outbox", 120, 0, 0, ""), ("dedupe", 2, 1, 0, "21-11-2026"),
        ("conversation", 30, 1, 0, "23-10-2026"), ("job_media", 180, 2, 2, "26-05-2026"),
        ("complaint_media", 365, 1, 2, "22-11-2025"), ("tukang_media", 365, 1, 1,
                                                       "22-11-2025")]
    table_out = await admin("privacy", "retention", "--dry-run", "--as", "siti")
    assert table_out.exit_code == 0, table_out.output
    assert "uji coba" in table_out.stdout and "foto pekerjaan" in table_out.stdout
    assert "Rahasia" not in table_out.stdout and "budi" not in table_out.stdout
    assert await runs(db) == [] and all(exists(w.job_files["done_old"]))

    no = await admin("privacy", "retention", "--as", "siti", input="n\n")
    assert no.exit_code == 1 and all(exists(w.job_files["done_old"]))
    r = await admin("privacy", "retention", "--as", "siti", "--yes")
    assert r.exit_code == 0, r.output
    assert "Selesai: 6 baris, 5 file dihapus" in r.stdout
    assert await runs(db) == [("admin:siti", "retention.run", {
        "deleted": {"outbox": 0, "dedupe": 1, "conversation": 1, "job_media": 2,
                    "complaint_media": 1, "tukang_media": 1}, "files": 5, "more": False})]
    assert not any(exists(w.job_files["done_old"] + w.complaint_files["old"]))
    shown = await admin.json("privacy", "retention", "--dry-run", "--as", "siti")
    assert sum(row["baris"] for row in shown) == 0
    # the officer's run counts as the scheduler's: the next is due six hours later
    assert (await tick(db, NOW + timedelta(hours=1), config_for(tmp_path)))["retention"] == 0


# --- the settings -----------------------------------------------------------------------------


async def test_objection_files_go_with_the_complaint_period(db: Database,
                                                          tmp_path: Path) -> None:
    """A keberatan's files go a complaint-media period (365 days) after the Dinas decided it;
    a younger decision and an objection still waiting keep theirs, and the text stays."""
    config = config_for(tmp_path)
    tk = await make_tukang(db, "andi", status="removed")
    files = {k: [media(tmp_path, f"keberatan-{k}")] for k in ("old", "young", "waiting")}
    ids: dict[str, int] = {}
    async with db.transaction() as s:
        for n, (key, status, decided) in enumerate((
                ("old", "kept", NOW - 366 * DAY), ("young", "reinstated", NOW - 364 * DAY),
                ("waiting", "submitted", None)), 1):
            o = Objection(code=f"K-RET-{n:04d}", tukang_id=tk, text="Saya keberatan",
                          media=files[key], status=status, created_at=NOW - 400 * DAY,
                          decided_at=decided, decided_by="admin:siti" if decided else None)
            s.add(o)
            await s.flush()
            ids[key] = int(o.id or 0)
    async with db.read() as s:
        before = await pending(s, NOW, config)
    assert (before["complaint_media"].rows, before["complaint_media"].files) == (1, 1)
    assert before["complaint_media"].oldest == NOW - 366 * DAY

    await tick(db, NOW, config)
    kept = {k: await column(db, Objection, "media", i) for k, i in ids.items()}
    assert kept == {"old": [], "young": files["young"], "waiting": files["waiting"]}
    assert exists(files["old"] + files["young"] + files["waiting"]) == [False, True, True]
    assert await column(db, Objection, "text", ids["old"]) == "Saya keberatan"
    assert (await runs(db))[-1][2]["deleted"]["complaint_media"] == 1


@pytest.mark.parametrize(("name", "value"), [
    ("SIJAKON_DEDUPE_RETENTION_DAYS", "1"), ("SIJAKON_CONVERSATION_RETENTION_DAYS", "5000"),
    ("SIJAKON_JOB_MEDIA_RETENTION_DAYS", "30"), ("SIJAKON_COMPLAINT_MEDIA_RETENTION_DAYS", "0"),
    ("SIJAKON_TUKANG_MEDIA_RETENTION_DAYS", "setahun")])
def test_a_bad_period_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        name: str, value: str) -> None:
    """A period out of its range (or not a number) stops start-up with one line naming the
    setting, in Indonesian with the range; `sijakon-admin` exits 2 with it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    line = str(err.value)
    assert name in line and "\n" not in line
    if value.isdigit():
        assert "harus jumlah hari dari" in line and "bawaan" in line
    r = CliRunner(env={name: value, "SIJAKON_DATA_DIR": str(tmp_path)}).invoke(
        app, ["privacy", "retention", "--dry-run"])
    assert r.exit_code == 2 and name in r.stderr


def test_the_settings_reach_the_bot_and_the_cli(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """The defaults, and a changed period, are the same for the scheduler and the CLI."""
    monkeypatch.chdir(tmp_path)
    bot = flow_config(load_settings())
    assert (bot.dedupe_keep, bot.conversation_keep, bot.job_media_keep,
            bot.complaint_media_keep, bot.tukang_media_keep) == (
        2 * DAY, 30 * DAY, 180 * DAY, 365 * DAY, 365 * DAY)
    monkeypatch.setenv("SIJAKON_JOB_MEDIA_RETENTION_DAYS", "90")
    settings = load_settings()
    bot, cli = flow_config(settings), retention_config(settings)
    assert bot.job_media_keep == cli.job_media_keep == 90 * DAY
    keys = ("outbox_keep", "dedupe_keep", "conversation_keep", "job_media_keep",
            "complaint_media_keep", "tukang_media_keep")
    assert [getattr(bot, k) for k in keys] == [getattr(cli, k) for k in keys]
