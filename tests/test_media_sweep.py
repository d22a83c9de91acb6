"""The media sweep (storage/media_sweep.py): a file no row points at, older than an hour, is
deleted by the scheduler and by `sijakon-admin media sweep`; files a row or a conversation
draft names, and recent ones, stay; `--dry-run` and `media orphans` list without deleting.

Files are dated with `os.utime` from the test's clock, so nothing depends on the wall clock.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, select
from sqlmodel import SQLModel

from bot.scheduler import Scheduler
from flows.context import FlowConfig
from storage import media_sweep
from storage.db import Database
from storage.models import AuditLog, Broadcast, Conversation, Job, Objection, TukangProfile
from tests.admin.conftest import Admin
from tests.factories import NOW, make_complaint, make_job, make_person, make_tukang
from tests.harness import StepClock

HOUR = timedelta(hours=1)


@pytest.fixture
def admin(db: Database, tmp_path: Path, clock: StepClock) -> Admin:
    """`sijakon-admin` on the test's database, data dir and clock (tests/admin/conftest.py)."""
    return Admin.on(db, tmp_path / "data", clock)


def put(data_dir: Path, rel: str, *, at: datetime, content: bytes = b"x") -> Path:
    """A file under the media folder, last changed at `at`."""
    path = data_dir / "media" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, (at.timestamp(), at.timestamp()))
    return path


class Files:
    """Old files, each referenced another way, and the ones nobody references."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self.db, self.data_dir = db, data_dir
        old = NOW - 3 * HOUR
        self.job = put(data_dir, "2026-11/aaaa.jpg", at=old)
        self.evidence = put(data_dir, "2026-11/bbbb.pdf", at=old)
        self.skk = put(data_dir, "2026-11/cccc.png", at=old)
        self.objection = put(data_dir, "2026-11/dddd.jpg", at=old)
        self.draft = put(data_dir, "2026-11/eeee.jpg", at=old)
        self.picture = put(data_dir, "broadcast/ffff.png", at=old)
        self.recent = put(data_dir, "2026-11/recent.jpg", at=NOW - 10 * timedelta(minutes=1))
        self.orphan = put(data_dir, "2026-11/orphan.jpg", at=old, content=b"y" * 2048)
        self.partial = put(data_dir, ".incoming/cut.part", at=old)
        outside = data_dir / "secret.txt"
        outside.write_bytes(b"not media")
        self.outside = outside
        self.link = data_dir / "media" / "2026-11" / "link.jpg"
        self.link.symlink_to(outside)

    async def reference(self) -> None:
        """Rows naming the files: absolute, relative, by another data dir's path, nested in a
        conversation draft, or a broadcast's plain path column."""
        warga = await make_person(self.db, "budi")
        tukang = await make_tukang(self.db, "andi")
        job = await make_job(self.db, warga, tukang_id=tukang)
        async with self.db.transaction() as s:
            j = await s.get(Job, job)
            assert j is not None
            j.photos = [str(self.job.resolve())]
        await make_complaint(self.db, job, evidence=[f"data/media/2026-11/{self.evidence.name}"])
        async with self.db.transaction() as s:
            p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == tukang))
                 ).scalar_one()
            p.skk_media = [f"/srv/old-data/media/2026-11/{self.skk.name}"]
            s.add(Objection(code="K-2611-0001", tukang_id=tukang, text="Saya keberatan",
                            media=[str(self.objection)], created_at=NOW))
            s.add(Conversation(channel="console", address="sari", flow="booking",
                               step="booking.photos", updated_at=NOW,
                               data={"_tag": 3, "draft": {"photos": [str(self.draft)]}}))
            s.add(Broadcast(text="Info", image=str(self.picture), created_at=NOW))

    def kept(self) -> list[Path]:
        return [self.job, self.evidence, self.skk, self.objection, self.draft, self.picture,
                self.recent]


async def test_every_json_column_is_known_to_the_sweep() -> None:
    """Each JSON column of the schema is a media column of the sweep or declared as holding
    no file of its own: a new media column cannot be forgotten (and its files swept)."""
    media = {f"{m.__tablename__}.{c}" for m, c in media_sweep.MEDIA_COLUMNS}
    json_columns = {f"{t.name}.{c.name}" for t in SQLModel.metadata.sorted_tables
                    for c in t.columns if isinstance(c.type, JSON)}
    assert json_columns - {"broadcast.image"} == (media | set(media_sweep.NOT_MEDIA)) - {
        "broadcast.image"}


async def test_scheduler_sweeps_unreferenced_old_files_and_keeps_the_rest(
        any_db: Database, tmp_path: Path) -> None:
    """The hourly tick deletes the old file nobody names and the partial download a crash
    left, keeps every file a row or a draft names (however the path was written), the recent
    one, and never follows a link out of the folder; the run is audited with its counts and
    the next one waits an hour."""
    data_dir = tmp_path / "data"
    files = Files(any_db, data_dir)
    await files.reference()
    config = FlowConfig(data_dir=data_dir)

    done = await Scheduler(any_db, config, clock=lambda: NOW).tick()
    assert done["media_sweep"] == 2
    assert not files.orphan.exists() and not files.partial.exists()
    assert all(p.exists() for p in files.kept())
    assert files.outside.exists() and files.link.is_symlink()
    async with any_db.read() as s:
        [run] = (await s.execute(select(AuditLog).where(AuditLog.action == "media.sweep"))
                 ).scalars().all()
    assert (run.actor, run.detail["deleted"], run.detail["bytes"]) == (
        "system", {"media_files": 2}, 2048 + 1)

    late = put(data_dir, "2026-11/late.jpg", at=NOW - 2 * HOUR)
    assert (await Scheduler(any_db, config, clock=lambda: NOW + HOUR / 2).tick()
            )["media_sweep"] == 0  # not due yet
    assert late.exists()
    assert (await Scheduler(any_db, config, clock=lambda: NOW + HOUR).tick()
            )["media_sweep"] == 2  # and the once-recent file, an orphan past its hour now
    assert not late.exists() and not files.recent.exists()
    assert all(p.exists() for p in files.kept() if p != files.recent)


async def test_a_photo_in_a_conversation_in_progress_survives(db: Database,
                                                              tmp_path: Path) -> None:
    """A file saved minutes ago that no row names yet (its conversation is being written) is
    not touched however the sweep is run."""
    data_dir = tmp_path / "data"
    fresh = put(data_dir, "2026-11/fresh.jpg", at=NOW - 5 * timedelta(minutes=1))
    async with db.transaction() as s:
        swept = await media_sweep.sweep(s, data_dir / "media", NOW)
    assert (swept.deleted, fresh.exists()) == (0, True)


async def test_admin_dry_run_lists_and_sweep_deletes(db: Database, admin: Admin) -> None:
    """`media sweep --dry-run` (and `media orphans`, open to a viewer) list the orphans and
    delete nothing; `media sweep --yes` deletes them and is audited under the officer; a
    viewer may not sweep."""
    files = Files(db, admin.data_dir)
    await files.reference()

    for args, who in ((("media", "sweep", "--dry-run"), admin),
                      (("media", "orphans"), admin.as_("rina"))):
        r = await who(*args)
        assert r.exit_code == 0, r.output
        assert "orphan.jpg" in r.stdout and "cut.part" in r.stdout
        assert "aaaa.jpg" not in r.stdout and "recent.jpg" not in r.stdout
        assert "2 file" in r.stdout
    rows: list[dict[str, Any]] = await admin.json("media", "sweep", "--dry-run")
    assert sorted(r["file"] for r in rows) == [".incoming/cut.part", "2026-11/orphan.jpg"]
    assert files.orphan.exists() and files.partial.exists()

    refused = await admin.as_("rina")("media", "sweep", "--yes")
    assert refused.exit_code == 2 and "butuh peran admin" in refused.stderr
    assert files.orphan.exists()

    r = await admin("media", "sweep", "--yes")
    assert r.exit_code == 0, r.output
    assert "2 file" in r.stdout
    assert not files.orphan.exists() and not files.partial.exists()
    assert all(p.exists() for p in files.kept())
    async with db.read() as s:
        [run] = (await s.execute(select(AuditLog).where(AuditLog.action == "media.sweep"))
                 ).scalars().all()
    assert (run.actor, run.detail["deleted"]) == ("admin:siti", {"media_files": 2})


@pytest.mark.parametrize("grace", [30, 240])
async def test_grace_minutes_moves_the_line(db: Database, admin: Admin, grace: int) -> None:
    """`--grace-minutes`: a file 3 hours old is an orphan under a 30-minute grace, not under
    a 4-hour one."""
    put(admin.data_dir, "2026-11/three-hours.jpg", at=NOW - 3 * HOUR)
    rows = await admin.json("media", "orphans", "--grace-minutes", str(grace))
    assert [r["file"] for r in rows] == (["2026-11/three-hours.jpg"] if grace == 30 else [])
