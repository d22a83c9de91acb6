"""`sijakon-admin db`: schema upgrade, a consistent backup while the bot runs, row counts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    YesOpt,
    audit,
    confirm,
    console,
    emit,
    emit_json,
    operator,
    refuse_exit,
    run,
    say,
    settings,
)
from storage.db import Database
from storage.migrate import current_revision
from storage.models import (
    AuditLog,
    Broadcast,
    Category,
    ChannelAccount,
    Complaint,
    Conversation,
    InfoArticle,
    Job,
    Kecamatan,
    Offer,
    Outbox,
    ProcessedUpdate,
    Rating,
    Skill,
    SkillCategory,
    SurveyResponse,
    TukangProfile,
    User,
)

app = typer.Typer(help="Basis data: upgrade skema, cadangan, statistik.", no_args_is_help=True)

TABLES: list[Any] = [User, ChannelAccount, TukangProfile, Job, Offer, Rating, Complaint,
                     SurveyResponse, InfoArticle, Broadcast, Outbox, Conversation,
                     ProcessedUpdate, AuditLog, Kecamatan, Category, Skill, SkillCategory]


async def _revision(db: Database) -> str | None:
    async with db.engine.connect() as conn:
        return await conn.run_sync(current_revision)


@app.command("upgrade")
def upgrade(as_: AsOpt = None) -> None:
    """Bawa skema basis data ke revisi terbaru (bot juga melakukannya saat mulai)."""
    who = operator(as_)
    cfg = settings()

    async def go() -> tuple[str | None, str | None]:
        cfg.sijakon_data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(cfg.database_url)
        try:
            before = await _revision(db)
            await db.migrate()
            after = await _revision(db)
            if before != after:
                async with db.transaction() as s:
                    audit(s, who, "db.upgrade", before=before, after=after)
            return before, after
        finally:
            await db.close()

    before, after = asyncio.run(go())
    if before == after:
        say(f"Skema sudah terbaru (revisi {after}).")
    else:
        say(f"Skema dinaikkan dari {before or '(kosong)'} ke {after}.")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database (or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database \
            or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def backup_sqlite(src: Path, dest: Path) -> int:
    """Copy with SQLite's online backup API: a consistent snapshot even while the bot writes
    (in WAL mode the copy reads beside the writer). Returns the copy's page count."""
    source = sqlite3.connect(src, timeout=30)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check of the copy: {check}")
            return int(target.execute("PRAGMA page_count").fetchone()[0])
        finally:
            target.close()
    finally:
        source.close()


@app.command("backup")
def backup(
    path: Annotated[Path, typer.Argument(help="File tujuan, mis. /cadangan/sijakon-2026-11.db")],
    as_: AsOpt = None, yes: YesOpt = False,
) -> None:
    """Salinan konsisten basis data SQLite, aman saat bot berjalan."""
    cfg = settings()
    src = sqlite_path(cfg.database_url)
    if src is None:
        console.print(
            "Basis data ini PostgreSQL: gunakan pg_dump, misalnya\n"
            "  pg_dump --format=custom --file=sijakon-$(date +%F).dump \"$DATABASE\"\n"
            "(pg_dump membuat salinan konsisten tanpa menghentikan bot; pulihkan dengan "
            "pg_restore).", highlight=False, markup=False)
        return
    who = operator(as_)
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
        pages = backup_sqlite(src, dest)
    except sqlite3.Error as exc:
        dest.unlink(missing_ok=True)
        refuse_exit(f"cadangan gagal: {exc}")

    async def record(db: Database) -> None:
        async with db.transaction() as s:
            audit(s, who, "db.backup", path=str(dest), pages=pages)

    run(record)
    say(f"Cadangan ditulis ke {dest} ({dest.stat().st_size // 1024} KB, pemeriksaan "
        "integritas: ok).")


@app.command("stats")
def stats(json_: JsonOpt = False) -> None:
    """Jumlah baris per tabel dan antrean pesan keluar (outbox) per status."""
    retention = settings().sijakon_outbox_retention_days

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            counts = {}
            for model in TABLES:
                counts[model.__tablename__] = int((await s.execute(
                    select(func.count()).select_from(model))).scalar() or 0)
            outbox = (await s.execute(select(Outbox.status, Outbox.channel, func.count())
                                      .group_by(Outbox.status, Outbox.channel)
                                      .order_by(Outbox.status, Outbox.channel))).all()
            tallies = (await s.execute(select(Broadcast.pruned))).scalars().all()
        pruned: dict[str, int] = {}
        for tally in tallies:  # what the bot pruned of each broadcast, per status
            for st, n in (tally or {}).items():
                pruned[st] = pruned.get(st, 0) + int(n)
        return {"tables": counts,
                "outbox": [{"status": st, "kanal": ch, "jumlah": n} for st, ch, n in outbox],
                "broadcast_pruned": [{"status": st, "jumlah": n}
                                     for st, n in sorted(pruned.items())],
                "outbox_retention_days": retention,
                "revision": await _revision(db)}

    data = run(go)
    if json_:
        emit_json(data)
        return
    emit([{"tabel": k, "baris": v} for k, v in data["tables"].items()], ["tabel", "baris"],
         as_json=False, title=f"Basis data (revisi {data['revision']})")
    emit(data["outbox"], ["status", "kanal", "jumlah"], as_json=False,
         title="Antrean pesan keluar (outbox)", empty="Outbox kosong.")
    say(f"Pesan keluar yang lebih tua dari {retention} hari dihapus otomatis oleh bot "
        "(SIJAKON_OUTBOX_RETENTION_DAYS); yang antre atau sedang dikirim tidak pernah.")
    if data["broadcast_pruned"]:
        emit(data["broadcast_pruned"], ["status", "jumlah"], as_json=False,
             title="Pesan siaran yang sudah dihapus (tetap dihitung di laporan)")
