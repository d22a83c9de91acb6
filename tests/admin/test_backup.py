"""`db backup --out FILE` and `db restore FILE`: the whole service (database and media) in one
file and back into an empty database, on SQLite and on PostgreSQL; a database or a media
folder that is not empty is refused; both are audited; no password is ever shown."""

from __future__ import annotations

import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from storage.backup import MANIFEST, Manifest, count_tables
from storage.db import Database
from storage.models import AuditLog, Complaint, Job, TukangProfile, User
from tests.admin.conftest import Admin
from tests.conftest import PG_AVAILABLE, PG_HOST, PG_PORT, PG_USER, _pg_admin
from tests.factories import NOW, make_complaint, make_job, make_officer, make_tukang
from tests.harness import Harness, StepClock, register_warga

SECRET = "rahasia-sekali"  # a password PostgreSQL's trust auth ignores: it must never show


async def counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(count_tables)


async def rows(db: Database, model: Any, upto: int | None = None) -> list[dict[str, Any]]:
    """Every row of a table as plain values, by id (up to `upto`)."""
    async with db.read() as s:
        stmt = select(model).order_by(model.id)
        if upto is not None:
            stmt = stmt.where(model.id <= upto)
        return [r.model_dump() for r in (await s.execute(stmt)).scalars()]


def media_tree(data_dir: Path) -> dict[str, bytes]:
    root = data_dir / "media"
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(params=["sqlite", "postgresql"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path,
               template_dir: Path) -> AsyncIterator[tuple[Database, str]]:
    """A migrated source database and the URL of an empty target of the same kind (on
    PostgreSQL both reached with a password trust auth ignores)."""
    from tests.conftest import _sqlite_db

    if request.param == "sqlite":
        source = await _sqlite_db(tmp_path, template_dir)
        yield source, f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'sijakon.db'}"
        await source.close()
        return
    if not PG_AVAILABLE:
        pytest.skip(f"no PostgreSQL answering at {PG_HOST}:{PG_PORT}")
    names = [f"sijakon_test_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    for name in names:
        await _pg_admin(f'CREATE DATABASE "{name}"')
    base = f"postgresql+asyncpg://{PG_USER}:{SECRET}@{PG_HOST}:{PG_PORT}"
    source = Database(f"{base}/{names[0]}")
    try:
        await source.migrate()
        yield source, f"{base}/{names[1]}"
    finally:
        await source.close()
        for name in names:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def seed(db: Database, data_dir: Path, clock: StepClock) -> None:
    """A small service: demo tukang, a registered warga, a tukang with an SKK photo, a job
    with photos and a complaint with evidence, an officer; the files under the media folder."""
    admin = Admin.on(db, data_dir, clock)
    assert (await admin("demo", "seed")).exit_code == 0
    t = Harness.console(db, clock=clock)
    await register_warga(t, "budi")
    await t.close()
    folder = data_dir / "media" / "2026-11"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in ("skk.jpg", "atap.jpg", "bukti.png"):
        (folder / name).write_bytes(b"\x89 isi " + name.encode())
        files.append(str(folder / name))
    tukang = await make_tukang(db, "dodi", "Dodi Tukang", media=files[:1], at_menu=False)
    job = await make_job(db, 1, tukang_id=tukang, status="done")
    async with db.transaction() as s:
        j = await s.get(Job, job)
        assert j is not None
        j.photos = files[1:2]
    complaint = await make_complaint(db, job)
    async with db.transaction() as s:
        c = await s.get(Complaint, complaint)
        assert c is not None
        c.evidence = files[2:]
    await make_officer(db, "siti", "admin")


async def test_backup_and_restore_round_trip(pair: tuple[Database, str],
                                             tmp_path: Path) -> None:
    """A backup restored into a fresh empty database gives the same rows in every table (the
    restore's own audit row aside), the same sample rows and the same media files; the
    manifest says what is in it; both acts are in the audit log; no password is shown."""
    source, target_url = pair
    clock = StepClock(NOW)
    data, restored_data = tmp_path / "data", tmp_path / "restored-data"
    await seed(source, data, clock)
    before = await counts(source)
    assert before["user"] >= 8 and before["job"] == 1 and before["officer"] >= 1
    sample = {m: await rows(source, m) for m in (User, TukangProfile, Job, Complaint)}
    last_audit = max(r["id"] for r in await rows(source, AuditLog))

    out = tmp_path / "cadangan" / "sijakon.tar.gz"
    r = await Admin.on(source, data, clock)("db", "backup", "--out", str(out), "--as", "siti")
    assert r.exit_code == 0, r.output
    assert "Cadangan ditulis" in r.stdout and "3 file media" in r.stdout
    assert SECRET not in r.output
    with tarfile.open(out) as tar:
        names = tar.getnames()
        member = tar.extractfile(MANIFEST)
        assert member is not None
        manifest = Manifest.parse(member.read())
    assert manifest.tables == before and manifest.created_at == NOW.isoformat()
    assert manifest.database == source.dialect and manifest.revision is not None
    assert (manifest.media_files, sorted(n for n in names if n.startswith("media/"))) == (
        3, ["media/2026-11/atap.jpg", "media/2026-11/bukti.png", "media/2026-11/skk.jpg"])
    async with source.read() as s:
        logged = (await s.execute(select(AuditLog).where(AuditLog.action == "db.backup"))
                  ).scalar_one()
    assert logged.actor == "admin:siti" and logged.detail["rows"] == sum(before.values())

    target = Database(target_url)
    restorer = Admin.on(target, restored_data, clock, officers={})  # none: it is empty
    r = await restorer("db", "restore", str(out), "--as", "siti")
    assert r.exit_code == 0, r.output
    assert "Dipulihkan dari sijakon.tar.gz" in r.stdout and SECRET not in r.output
    try:
        after = await counts(target)
        assert after == before | {"auditlog": before["auditlog"] + 1}
        for model, expected in sample.items():
            assert await rows(target, model) == expected, model.__name__
        assert await rows(target, AuditLog, last_audit) == await rows(source, AuditLog,
                                                                      last_audit)
        async with target.read() as s:
            restored = (await s.execute(select(AuditLog).where(
                AuditLog.action == "db.restore"))).scalar_one()
        assert restored.actor == "admin:siti" and restored.detail["rows"] == sum(before.values())
        assert media_tree(restored_data) == media_tree(data)

        # now the target is not empty: a second restore is refused, and so is one into an
        # empty database beside a media folder holding files
        again = await restorer("db", "restore", str(out), "--as", "siti")
        assert again.exit_code == 1 and "tidak kosong" in again.stderr
        assert "\n" not in again.stderr.strip() and SECRET not in again.output
    finally:
        await target.close()


async def test_restore_refuses_a_full_media_folder_and_a_wrong_file(db: Database,
                                                                    tmp_path: Path) -> None:
    """An empty database beside a media folder with files is refused, and a file that is no
    backup is refused, each with one line; nothing is written."""
    clock = StepClock(NOW)
    await make_officer(db, "siti", "admin")
    data = tmp_path / "data"
    (data / "media").mkdir(parents=True)
    (data / "media" / "foto.jpg").write_bytes(b"x")
    out = tmp_path / "b.tar.gz"
    assert (await Admin.on(db, data, clock)("db", "backup", "--out", str(out),
                                            "--as", "siti")).exit_code == 0
    empty = tmp_path / "baru" / "sijakon.db"
    restorer = Admin.on(Database(f"sqlite+aiosqlite:///{empty}"), data, clock, officers={})
    r = await restorer("db", "restore", str(out), "--as", "siti")
    assert r.exit_code == 1 and "folder media" in r.stderr and not empty.exists()
    junk = tmp_path / "bukan.tar.gz"
    junk.write_bytes(b"bukan cadangan")
    r = await restorer("db", "restore", str(junk), "--as", "siti")
    assert r.exit_code == 1 and "bukan file cadangan" in r.stderr and not empty.exists()
    assert (await restorer.as_(None)("db", "restore", str(out))).exit_code == 2  # nobody


async def test_restore_into_a_migrated_database_is_refused(db: Database,
                                                           tmp_path: Path) -> None:
    """A database the bot has already started on (tables, reference data) is not empty."""
    clock = StepClock(NOW)
    await make_officer(db, "siti", "admin")
    out = tmp_path / "b.tar.gz"
    admin = Admin.on(db, tmp_path / "data", clock)
    assert (await admin("db", "backup", "--out", str(out), "--as", "siti")).exit_code == 0
    r = await admin("db", "restore", str(out), "--as", "siti")
    assert r.exit_code == 1
    assert "basis data tujuan tidak kosong" in r.stderr and "basis data baru" in r.stderr
    async with db.engine.connect() as conn:
        assert "user" in await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert (await conn.execute(text("SELECT count(*) FROM kecamatan"))).scalar() == 12
