"""`report summary` (the service in numbers) and `db` (upgrade, backup, stats)."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from admin_cli.app import app
from storage.clock import local
from storage.db import Database
from storage.models import Rating
from tests.admin.conftest import NOW, Admin, make_complaint, make_job, make_tukang
from tests.harness import Harness, register_warga


async def test_report_summary_counts(db: Database, t: Harness, admin: Admin) -> None:
    """Registrations, activations, jobs by status/category/kecamatan, acceptance time,
    ratings and complaint outcomes, as a table, JSON and CSV."""
    await register_warga(t, "budi")
    await register_warga(t, "sari", name="Sari Dewi", phone="081377778888")
    tid = await make_tukang(db, "dodi", "Dodi")
    assert (await admin("tukang", "activate", str(tid), "--yes", "--as", "siti")).exit_code == 0
    j1, _ = await make_job(db, 1, tid, status="done", accepted_after=timedelta(hours=2))
    await make_job(db, 2, tid, status="accepted", accepted_after=timedelta(hours=4))
    await make_job(db, 2, None, status="expired")
    async with db.transaction() as s:
        s.add(Rating(job_id=j1, warga_id=1, tukang_id=tid, score=5, created_at=NOW))
    await make_complaint(db, j1, status="dismissed", decided_at=NOW)
    end = (local(NOW).date() + timedelta(days=1)).isoformat()
    args = ("report", "summary", "--from", "2026-01-01", "--to", end)
    data = await admin.json(*args)
    assert data["pendaftaran"] == {"warga": 2, "tukang_mengajukan": 1}
    assert data["keputusan_tukang"]["diaktifkan"] == 1
    assert data["pekerjaan"]["jumlah"] == 3
    assert data["pekerjaan"]["per_status"] == {"done": 1, "accepted": 1, "expired": 1}
    assert data["pekerjaan"]["per_kategori"] == {"Pengecatan": 3}
    assert data["pekerjaan"]["per_kecamatan"] == {"Batam Kota": 3}
    assert data["waktu_sampai_diterima_jam"] == {"jumlah": 2, "median": 3.0, "rata_rata": 3.0}
    assert data["rating"]["rata_rata"] == 5 and data["rating"]["sebaran"]["5"] == 1
    assert data["pengaduan"]["masuk"] == 1 and data["pengaduan"]["diputus_tidak_terbukti"] == 1
    r = await admin(*args, "--csv")
    assert r.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {"bagian": "pekerjaan", "butir": "per_status: done", "nilai": "1"} in rows
    table = await admin(*args)
    assert table.exit_code == 0 and "Ringkasan layanan" in table.stdout
    assert (await admin(*args, "--csv", "--json")).exit_code == 2
    assert (await admin("report", "summary", "--from", "2026-02-01", "--to",
                        "2026-01-01")).exit_code == 2
    empty = await admin.json("report", "summary", "--from", "2020-01-01", "--to", "2020-01-31")
    assert empty["pekerjaan"]["jumlah"] == 0 and empty["rating"]["rata_rata"] is None


async def test_db_upgrade_and_stats(db: Database, t: Harness, admin: Admin) -> None:
    """`upgrade` says the schema is current; `stats` counts rows and the outbox by status."""
    nobody = admin.as_(None)
    assert (await nobody("db", "upgrade")).exit_code == 2  # officer required
    r = await admin("db", "upgrade", "--as", "siti")
    assert r.exit_code == 0 and "sudah terbaru" in r.stdout
    await register_warga(t, "budi")
    stats = await admin.json("db", "stats")
    assert stats["tables"]["user"] == 1 and stats["tables"]["kecamatan"] == 12
    queued = sum(o["jumlah"] for o in stats["outbox"] if o["status"] == "queued")
    assert queued == stats["tables"]["outbox"] > 0
    table = await admin("db", "stats")
    assert table.exit_code == 0 and "outbox" in table.stdout


async def test_db_backup_is_a_consistent_copy(db: Database, t: Harness, admin: Admin,
                                              tmp_path: Path) -> None:
    """A backup opens as a database of its own with the same rows; overwriting asks first."""
    await register_warga(t, "budi")
    dest = tmp_path / "cadangan" / "sijakon.db"
    r = await admin("db", "backup", str(dest), "--as", "siti")
    assert r.exit_code == 0, r.output
    with sqlite3.connect(dest) as conn:
        assert conn.execute("select name from user").fetchall() == [("Budi Santoso",)]
    no = await admin("db", "backup", str(dest), "--as", "siti", input="n\n")
    assert no.exit_code == 1
    yes = await admin("db", "backup", str(dest), "--as", "siti", "--yes")
    assert yes.exit_code == 0
    same = await admin("db", "backup", db.url.split("///", 1)[1], "--as", "siti")
    assert same.exit_code == 1


def test_db_backup_of_an_unreachable_database_stops_at_the_officer(tmp_path: Path) -> None:
    """A backup needs an admin, read from the database: when the database does not answer,
    one line says so (naming the setting, never the URL or its password) and nothing is
    written."""
    runner = CliRunner(env={
        "SIJAKON_DATABASE_URL": "postgresql+asyncpg://x:rahasia@127.0.0.1:1/none",
        "SIJAKON_DATA_DIR": str(tmp_path), "SIJAKON_ADMIN": "siti"})
    r = runner.invoke(app, ["db", "backup", str(tmp_path / "x.db")])
    assert r.exit_code == 2 and "SIJAKON_DATABASE_URL" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "rahasia" not in r.output
    assert not (tmp_path / "x.db").exists()


def test_bad_setting_is_one_line_exit_2(tmp_path: Path) -> None:
    """A malformed database URL stops the CLI with one line naming the setting."""
    runner = CliRunner(env={"SIJAKON_DATABASE_URL": "mysql://nope"})
    r = runner.invoke(app, ["db", "stats"])
    assert r.exit_code == 2 and "SIJAKON_DATABASE_URL" in r.stderr
