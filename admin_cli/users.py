"""`sijakon-admin users`: find a person, see what is held about them, their access history.

The history is the user access history Perwako Batam 65/2021 asks for: the engine writes an
AuditLog row "message" for every inbound message (time, channel, step before and after) and
flows write domain events (registration, bookings...); admin actions about the person are in
the same table.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, or_, select

from admin_cli.common import (
    AsOpt,
    JsonOpt,
    Refused,
    RevealOpt,
    audit_view,
    emit,
    emit_json,
    emit_record,
    parse_day,
    phone,
    reader,
    run,
)
from admin_cli.lookup import category_names, kecamatan_names
from flows.parsing import mask_phone, normalize_phone
from storage.db import Database
from storage.models import (
    AuditLog,
    ChannelAccount,
    Complaint,
    Job,
    Rating,
    TukangProfile,
    User,
)

app = typer.Typer(help="Pengguna: cari, lihat data, riwayat akses.", no_args_is_help=True)
IdArg = Annotated[int, typer.Argument(help="ID pengguna.")]


@app.command("find")
def find(
    query: Annotated[str, typer.Argument(help="Nomor HP (0812..., +62...) atau bagian nama.")],
    as_: AsOpt = None, json_: JsonOpt = False, reveal: RevealOpt = False,
) -> None:
    """Cari pengguna menurut nomor HP atau nama."""
    text = query.strip()
    if len(text) < 2:
        raise typer.BadParameter("tulis paling sedikit 2 huruf atau nomor HP")
    number = normalize_phone(text)

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            stmt = select(User).order_by(User.id).limit(100)
            if number:
                stmt = stmt.where(User.phone == number)
            elif text.isdigit():
                stmt = stmt.where(User.id == int(text))
            else:
                stmt = stmt.where(func.lower(User.name).contains(text.casefold()))
            users = (await s.execute(stmt)).scalars().all()
            kec = await kecamatan_names(s)
            channels: dict[int, list[str]] = {}
            ids = [u.id for u in users]
            if ids:
                for a in (await s.execute(select(ChannelAccount).where(
                        ChannelAccount.user_id.in_(ids)))).scalars():
                    channels.setdefault(a.user_id, []).append(a.channel)
        rows = [{"id": u.id, "nama": u.name, "hp": phone(u.phone, reveal), "peran": u.role,
                 "status": u.status, "kecamatan": kec.get(u.kecamatan_code or "", ""),
                 "kanal": channels.get(u.id or 0, []), "terdaftar": u.created_at}
                for u in users]
        await audit_view(db, reader(as_), "users.find", reveal=reveal,
                         query=mask_phone(number) if number else text,
                         user_ids=[r["id"] for r in rows])
        return rows

    emit(run(go), ["id", "nama", "hp", "peran", "status", "kecamatan", "kanal", "terdaftar"],
         as_json=json_, title="Pengguna", empty="Tidak ada pengguna yang cocok.")


@app.command("show")
def show(user_id: IdArg, as_: AsOpt = None, json_: JsonOpt = False,
         reveal: RevealOpt = False) -> None:
    """Profil, pekerjaan, rating dan pengaduan seorang pengguna."""

    async def go(db: Database) -> dict[str, Any]:
        async with db.read() as s:
            u = await s.get(User, user_id)
            if u is None:
                raise Refused(f"tidak ada pengguna dengan ID {user_id}")
            kec, cats = await kecamatan_names(s), await category_names(s)
            accounts = (await s.execute(select(ChannelAccount).where(
                ChannelAccount.user_id == user_id))).scalars().all()
            profile = (await s.execute(select(TukangProfile).where(
                TukangProfile.user_id == user_id))).scalar_one_or_none()
            jobs = (await s.execute(select(Job).where(
                or_(Job.warga_id == user_id, Job.tukang_id == user_id)).order_by(Job.id)
            )).scalars().all()
            ratings = (await s.execute(select(Rating, Job.code).join(Job, Job.id == Rating.job_id)
                                       .where(or_(Rating.warga_id == user_id,
                                                  Rating.tukang_id == user_id))
                                       .order_by(Rating.id))).all()
            complaints = (await s.execute(select(Complaint, Job.code)
                                          .join(Job, Job.id == Complaint.job_id)
                                          .where(or_(Complaint.warga_id == user_id,
                                                     Complaint.tukang_id == user_id))
                                          .order_by(Complaint.id))).all()
        rec: dict[str, Any] = {
            "profil": {
                "id": u.id, "nama": u.name, "hp": phone(u.phone, reveal),
                "hp_terverifikasi": u.phone_verified, "peran": u.role, "bahasa": u.locale,
                "kecamatan": kec.get(u.kecamatan_code or "", ""), "status": u.status,
                "persetujuan": u.consent_at, "tolak_siaran": u.broadcast_opt_out,
                "demo": u.is_demo, "terdaftar": u.created_at,
                "kanal": [{"kanal": a.channel, "terjangkau": a.reachable,
                           "terakhir": a.last_seen_at} for a in accounts],
                "tukang": None if profile is None else {
                    "status": profile.status, "skk": profile.skk_number,
                    "jenjang": profile.jenjang, "berlaku_sd": profile.skk_valid_until,
                    "keahlian": profile.skills, "wilayah": [kec.get(c, c)
                                                            for c in profile.areas or []]},
            },
            "pekerjaan": [{"kode": j.code, "sebagai": "warga" if j.warga_id == user_id
                           else "tukang", "kategori": cats.get(j.category_id, ""),
                           "kecamatan": kec.get(j.kecamatan_code, ""), "status": j.status,
                           "dibuat": j.created_at} for j in jobs],
            "rating": [{"pekerjaan": code, "sebagai": "pemberi" if r.warga_id == user_id
                        else "penerima", "nilai": r.score, "komentar": r.comment,
                        "pada": r.created_at} for r, code in ratings],
            "pengaduan": [{"kode": c.code, "pekerjaan": code, "sebagai": "pelapor"
                           if c.warga_id == user_id else "teradu", "status": c.status,
                           "dibuat": c.created_at} for c, code in complaints],
        }
        await audit_view(db, reader(as_), "users.show", "user", user_id, reveal=reveal)
        return rec

    rec = run(go)
    if json_:
        emit_json(rec)
        return
    profil = dict(rec["profil"])
    kanal = profil.pop("kanal")
    tukang = profil.pop("tukang")
    profil["kanal"] = [f"{k['kanal']}{'' if k['terjangkau'] else ' (tak terjangkau)'}"
                       for k in kanal]
    if tukang:
        profil.update({f"tukang_{k}": v for k, v in tukang.items()})
    emit_record(profil, title=f"Pengguna #{user_id}")
    emit(rec["pekerjaan"], ["kode", "sebagai", "kategori", "kecamatan", "status", "dibuat"],
         as_json=False, title="Pekerjaan", empty="Pekerjaan: tidak ada.")
    emit(rec["rating"], ["pekerjaan", "sebagai", "nilai", "komentar", "pada"], as_json=False,
         title="Rating", empty="Rating: tidak ada.")
    emit(rec["pengaduan"], ["kode", "pekerjaan", "sebagai", "status", "dibuat"], as_json=False,
         title="Pengaduan", empty="Pengaduan: tidak ada.")


@app.command("history")
def history(
    user_id: IdArg,
    from_: Annotated[str | None, typer.Option("--from", help="Dari tanggal (YYYY-MM-DD).")]
    = None,
    to: Annotated[str | None, typer.Option("--to", help="Sampai tanggal (termasuk).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Paling banyak sekian baris terbaru.")]
    = 1000,
    as_: AsOpt = None, json_: JsonOpt = False,
) -> None:
    """Riwayat akses: setiap pesan masuk (waktu, kanal, langkah) dan setiap perubahan."""
    start, end = parse_day(from_), parse_day(to, end=True)

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            if await s.get(User, user_id) is None:
                raise Refused(f"tidak ada pengguna dengan ID {user_id}")
            stmt = select(AuditLog).where(or_(
                (AuditLog.subject_type == "user") & (AuditLog.subject_id == user_id),
                AuditLog.actor == f"user:{user_id}"))
            if start:
                stmt = stmt.where(AuditLog.at >= start)
            if end:
                stmt = stmt.where(AuditLog.at < end)
            rows = (await s.execute(stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())
                                    .limit(limit))).scalars().all()
        out = []
        for a in reversed(rows):
            detail = dict(a.detail or {})
            is_message = a.action == "message"
            out.append({"waktu": a.at, "kanal": a.channel or "", "pelaku": a.actor,
                        "peristiwa": "pesan masuk" if is_message else a.action,
                        "dari": detail.pop("from", "") if is_message else "",
                        "ke": detail.pop("to", "") if is_message else "",
                        "detail": ", ".join(f"{k}={v}" for k, v in detail.items())})
        await audit_view(db, reader(as_), "users.history", "user", user_id, rows=len(out))
        return out

    emit(run(go), ["waktu", "kanal", "pelaku", "peristiwa", "dari", "ke", "detail"],
         as_json=json_, title=f"Riwayat akses pengguna #{user_id}",
         empty="Tidak ada riwayat pada rentang ini.")
