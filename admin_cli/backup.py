"""`sijakon-admin db backup --out FILE` and `db restore FILE`: the whole service in one file
(database and media) and back, audited. The work is in storage/backup.py; this module asks,
refuses and tells, in Bahasa Indonesia, without the database password or anyone's data.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from admin_cli.common import (
    AsOpt,
    YesOpt,
    audit,
    confirm,
    console,
    now,
    operator,
    refuse_exit,
    run,
    say,
    settings,
    when,
)
from storage.backup import (
    BackupError,
    Manifest,
    kind,
    restore_backup,
    sqlite_file,
    sqlite_snapshot,
    summary,
    write_backup,
)
from storage.db import Database

OutOpt = Annotated[Path | None, typer.Option(
    "--out", help="File cadangan lengkap (basis data + media), mis. "
                  "/cadangan/sijakon-2026-11-23.tar.gz")]
LegacyArg = Annotated[Path | None, typer.Argument(
    help="(Cara lama) salinan file SQLite saja, tanpa media; sebaiknya pakai --out.")]


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1_048_576:.1f} MB" if size >= 1_048_576 else f"{max(size // 1024, 1)} KB"


def _told(manifest: Manifest) -> str:
    rows = sum(manifest.tables.values())
    return (f"{rows} baris di {len(manifest.tables)} tabel (revisi skema "
            f"{manifest.revision or '-'}), {manifest.media_files} file media")


def backup(path: LegacyArg = None, out: OutOpt = None, as_: AsOpt = None,
           yes: YesOpt = False) -> None:
    """Cadangan lengkap (basis data + folder media) ke satu file; aman saat bot berjalan."""
    if (path is None) == (out is None):
        raise typer.BadParameter("sebutkan file tujuan dengan --out FILE")
    cfg = settings()
    if path is not None:
        _legacy_copy(path, cfg.database_url, as_, yes)
        return
    assert out is not None
    who = operator(as_)
    dest = out.expanduser()
    if dest.exists():
        confirm(f"{dest} sudah ada. Timpa?", yes)
    if kind(cfg.database_url) == "sqlite":
        try:
            if dest.resolve() == sqlite_file(cfg.database_url).resolve():
                refuse_exit("tujuan cadangan sama dengan basis data yang dicadangkan")
        except BackupError as exc:
            refuse_exit(str(exc))
    try:
        manifest = asyncio.run(write_backup(cfg.database_url, cfg.media_dir, dest, now()))
    except BackupError as exc:
        refuse_exit(f"cadangan gagal: {exc}")

    async def record(db: Database) -> None:
        async with db.transaction() as s:
            audit(s, who, "db.backup", file=dest.name, **summary(manifest))

    run(record)
    say(f"Cadangan ditulis ke {dest} ({_size(dest)}): {_told(manifest)}.")
    say(f"Pulihkan dengan: sijakon-admin db restore {dest.name} (ke basis data kosong).")


def restore(
    file: Annotated[Path, typer.Argument(help="File cadangan dari `db backup --out`.")],
    as_: AsOpt = None,
) -> None:
    """Pulihkan cadangan ke basis data KOSONG dan folder media kosong (lihat SIJAKON_DATA_DIR)."""
    who = operator(as_)
    cfg = settings()
    source = file.expanduser()
    if not source.is_file():
        refuse_exit(f"file cadangan {source} tidak ada")
    try:
        manifest = asyncio.run(restore_backup(source, cfg.database_url, cfg.media_dir))
    except BackupError as exc:
        refuse_exit(str(exc))

    async def record() -> None:
        # no migration here: the database stays at the backup's revision until the bot or
        # `db upgrade` brings it forward, so what was restored is exactly what was saved
        db = Database(cfg.database_url)
        try:
            async with db.transaction() as s:
                audit(s, who, "db.restore", file=source.name, **summary(manifest))
        finally:
            await db.close()

    asyncio.run(record())
    made = when(datetime.fromisoformat(manifest.created_at))
    say(f"Dipulihkan dari {source.name} (dibuat {made} WIB): {_told(manifest)}.")
    say("Skema dinaikkan ke revisi terbaru saat bot mulai atau dengan `sijakon-admin db "
        "upgrade`.")


def _legacy_copy(path: Path, url: str, as_: str | None, yes: bool) -> None:
    """`db backup PATH`: the SQLite file alone (no media), as before `--out` existed."""
    if kind(url) != "sqlite":
        console.print(
            "Basis data ini PostgreSQL: pakai `sijakon-admin db backup --out FILE`, yang "
            "menjalankan pg_dump (format custom) dan menyertakan folder media; pulihkan dengan "
            "`sijakon-admin db restore FILE`.", highlight=False, markup=False)
        return
    who = operator(as_)
    try:
        src = sqlite_file(url)
    except BackupError as exc:
        refuse_exit(str(exc))
    if not src.is_file():
        refuse_exit(f"file basis data {src} tidak ada")
    dest = path.expanduser()
    if dest.resolve() == src.resolve():
        refuse_exit("tujuan cadangan sama dengan basis data yang dicadangkan")
    if dest.exists():
        confirm(f"{dest} sudah ada. Timpa?", yes)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        sqlite_snapshot(src, dest)
    except (BackupError, sqlite3.Error) as exc:
        dest.unlink(missing_ok=True)
        refuse_exit(f"cadangan gagal: {exc}")

    async def record(db: Database) -> None:
        async with db.transaction() as s:
            audit(s, who, "db.backup", file=dest.name, media=False)

    run(record)
    say(f"Salinan basis data ditulis ke {dest} ({_size(dest)}, pemeriksaan integritas: ok); "
        "foto tidak ikut: pakai --out untuk cadangan lengkap.")
