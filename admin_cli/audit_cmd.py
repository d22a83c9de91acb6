"""`sijakon-admin audit`: the audit log (who did what to whom, when), with filters.

The log holds ids, steps and decisions, not names or phone numbers, so reading it is not
itself recorded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from sqlalchemy import or_, select

from admin_cli.common import JsonOpt, emit, parse_day, run
from storage.db import Database
from storage.models import AuditLog


def audit(
    actor: Annotated[str | None, typer.Option(
        help="Pelaku: admin:siti, siti, user:12, system.")] = None,
    action: Annotated[str | None, typer.Option(
        help="Tindakan, mis. tukang.activate; akhiri dengan * untuk awalan (tukang.*).")] = None,
    subject: Annotated[str | None, typer.Option(
        help="Subjek: user:12, complaint:3, info:5 (atau hanya jenisnya: complaint).")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Dari tanggal (YYYY-MM-DD).")]
    = None,
    to: Annotated[str | None, typer.Option("--to", help="Sampai tanggal (termasuk).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Paling banyak sekian baris terbaru.")]
    = 200,
    json_: JsonOpt = False,
) -> None:
    """Log audit dengan saringan pelaku, tindakan, subjek, dan rentang tanggal."""
    start, end = parse_day(from_), parse_day(to, end=True)
    subj_type: str | None = None
    subj_id: int | None = None
    if subject:
        m = re.fullmatch(r"([a-z_]+)(?::(\d+))?", subject.strip().casefold())
        if not m:
            raise typer.BadParameter("tulis JENIS:ID, mis. user:12", param_hint="--subject")
        subj_type, subj_id = m[1], int(m[2]) if m[2] else None

    async def go(db: Database) -> list[dict[str, Any]]:
        stmt = select(AuditLog)
        if actor:
            a = actor.strip()
            stmt = stmt.where(AuditLog.actor == a if ":" in a
                              else or_(AuditLog.actor == a, AuditLog.actor == f"admin:{a}"))
        if action:
            act = action.strip()
            stmt = stmt.where(AuditLog.action.startswith(act[:-1]) if act.endswith("*")
                              else AuditLog.action == act)
        if subj_type:
            stmt = stmt.where(AuditLog.subject_type == subj_type)
        if subj_id is not None:
            stmt = stmt.where(AuditLog.subject_id == subj_id)
        if start:
            stmt = stmt.where(AuditLog.at >= start)
        if end:
            stmt = stmt.where(AuditLog.at < end)
        async with db.read() as s:
            rows = (await s.execute(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())
                                    .limit(limit))).scalars().all()
        return [{"id": r.id, "waktu": r.at, "pelaku": r.actor, "tindakan": r.action,
                 "subjek": f"{r.subject_type}:{r.subject_id}" if r.subject_type else "",
                 "kanal": r.channel or "", "detail": r.detail or {}} for r in reversed(rows)]

    rows = run(go)
    if not json_:
        for r in rows:
            r["detail"] = ", ".join(f"{k}={v}" for k, v in r["detail"].items())
    emit(rows, ["id", "waktu", "pelaku", "tindakan", "subjek", "kanal", "detail"],
         as_json=json_, title="Log audit", empty="Tidak ada catatan yang cocok.")
