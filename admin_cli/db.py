"""`sijakon-admin db`: schema upgrade, backup and restore (admin_cli/backup.py), row counts."""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from sqlalchemy import func, select

from admin_cli import backup
from admin_cli.common import (
    AsOpt,
    JsonOpt,
    audit,
    emit,
    emit_json,
    operator,
    run,
    say,
    settings,
)
from storage.db import Database
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
    Officer,
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
                     ProcessedUpdate, AuditLog, Officer, Kecamatan, Category, Skill,
                     SkillCategory]


@app.command("upgrade")
def upgrade(as_: AsOpt = None) -> None:
    """Bawa skema basis data ke revisi terbaru (bot juga melakukannya saat mulai)."""
    who = operator(as_)
    cfg = settings()

    async def go() -> tuple[str | None, str | None]:
        cfg.sijakon_data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(cfg.database_url)
        try:
            before = await db.revision()
            await db.migrate()
            after = await db.revision()
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


app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


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
                "revision": await db.revision()}

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
