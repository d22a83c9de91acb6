"""`sijakon-admin report summary`: the service in numbers over a date range.

Counts only, no personal data. Dates are whole days in WIB; `--to` is inclusive.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from statistics import mean, median
from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from admin_cli.common import JsonOpt, console, emit, emit_csv, emit_json, parse_day, run
from admin_cli.lookup import category_names, kecamatan_names
from storage.clock import as_utc, local, utcnow
from storage.db import Database
from storage.models import AuditLog, Complaint, Job, Rating, TukangProfile, User

app = typer.Typer(help="Laporan angka layanan.", no_args_is_help=True)


async def summarize(db: Database, start: datetime, end: datetime) -> dict[str, Any]:
    """Every count of the summary for [start, end)."""
    async with db.read() as s:
        kec, cats = await kecamatan_names(s), await category_names(s)
        regs = dict((await s.execute(
            select(User.role, func.count()).where(User.created_at >= start, User.created_at < end,
                                                  User.is_demo.is_(False))
            .group_by(User.role))).all())
        submitted = (await s.execute(select(func.count()).select_from(TukangProfile).where(
            TukangProfile.submitted_at >= start, TukangProfile.submitted_at < end))).scalar()
        decisions = dict((await s.execute(
            select(AuditLog.action, func.count()).where(
                AuditLog.at >= start, AuditLog.at < end,
                AuditLog.action.in_(("tukang.activate", "tukang.reject", "tukang.suspend",
                                     "tukang.reinstate", "tukang.remove")))
            .group_by(AuditLog.action))).all())
        active_now = (await s.execute(select(func.count()).select_from(TukangProfile).where(
            TukangProfile.status == "active"))).scalar()
        jobs = (await s.execute(select(Job).where(Job.created_at >= start,
                                                  Job.created_at < end))).scalars().all()
        ratings = (await s.execute(select(Rating.score).where(
            Rating.created_at >= start, Rating.created_at < end))).scalars().all()
        complaints = (await s.execute(select(Complaint.status).where(
            Complaint.created_at >= start, Complaint.created_at < end))).scalars().all()
        decided = dict((await s.execute(
            select(Complaint.status, func.count()).where(
                Complaint.decided_at >= start, Complaint.decided_at < end)
            .group_by(Complaint.status))).all())
    hours = [(as_utc(j.accepted_at) - as_utc(j.created_at)).total_seconds() / 3600
             for j in jobs if j.accepted_at is not None]
    return {
        "periode": {"dari": local(start).date().isoformat(),
                    "sampai": (local(end) - timedelta(days=1)).date().isoformat()},
        "pendaftaran": {"warga": regs.get("warga", 0), "tukang_mengajukan": submitted or 0},
        "keputusan_tukang": {
            "diaktifkan": decisions.get("tukang.activate", 0),
            "ditolak": decisions.get("tukang.reject", 0),
            "dinonaktifkan": decisions.get("tukang.suspend", 0),
            "diaktifkan_kembali": decisions.get("tukang.reinstate", 0),
            "dikeluarkan": decisions.get("tukang.remove", 0),
            "tukang_aktif_saat_ini": active_now or 0,
        },
        "pekerjaan": {
            "jumlah": len(jobs),
            "per_status": dict(Counter(j.status for j in jobs).most_common()),
            "per_kategori": dict(Counter(cats.get(j.category_id, str(j.category_id))
                                         for j in jobs).most_common()),
            "per_kecamatan": dict(Counter(kec.get(j.kecamatan_code, j.kecamatan_code)
                                          for j in jobs).most_common()),
        },
        "waktu_sampai_diterima_jam": {
            "jumlah": len(hours),
            "median": round(median(hours), 1) if hours else None,
            "rata_rata": round(mean(hours), 1) if hours else None,
        },
        "rating": {
            "jumlah": len(ratings),
            "rata_rata": round(mean(ratings), 2) if ratings else None,
            "sebaran": {str(k): sum(1 for r in ratings if r == k) for k in range(1, 6)},
        },
        "pengaduan": {
            "masuk": len(complaints),
            "per_status": dict(Counter(complaints).most_common()),
            "diputus_terbukti": decided.get("upheld", 0),
            "diputus_tidak_terbukti": decided.get("dismissed", 0),
        },
    }


def flatten(data: dict[str, Any]) -> list[dict[str, Any]]:
    """(bagian, butir, nilai) rows for a table or CSV."""
    rows: list[dict[str, Any]] = []
    for section, values in data.items():
        for item, value in values.items():
            if isinstance(value, dict):
                if not value:
                    rows.append({"bagian": section, "butir": item, "nilai": 0})
                for sub, v in value.items():
                    rows.append({"bagian": section, "butir": f"{item}: {sub}", "nilai": v})
            else:
                rows.append({"bagian": section, "butir": item,
                             "nilai": "-" if value is None else value})
    return rows


@app.command("summary")
def summary(
    from_: Annotated[str | None, typer.Option("--from", help="Dari tanggal (YYYY-MM-DD); "
                                              "bawaan: awal bulan ini.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Sampai tanggal, termasuk; bawaan: "
                                           "hari ini.")] = None,
    json_: JsonOpt = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Keluaran CSV.")] = False,
) -> None:
    """Ringkasan angka: pendaftaran, aktivasi, pekerjaan, waktu terima, rating, pengaduan."""
    if json_ and csv_:
        raise typer.BadParameter("pilih salah satu: --json atau --csv")
    today = local(utcnow()).date()
    start = parse_day(from_) or parse_day(today.replace(day=1).isoformat())
    end = parse_day(to, end=True) or parse_day(today.isoformat(), end=True)
    assert start is not None and end is not None
    if end <= start:
        raise typer.BadParameter("--to harus sama dengan atau sesudah --from")
    data = run(lambda db: summarize(db, start, end))
    if json_:
        emit_json(data)
    elif csv_:
        emit_csv(flatten(data), ["bagian", "butir", "nilai"])
    else:
        p = data["periode"]
        console.print(f"Ringkasan layanan SIJAKON {p['dari']} s.d. {p['sampai']}")
        emit(flatten({k: v for k, v in data.items() if k != "periode"}),
             ["bagian", "butir", "nilai"], as_json=False)
from admin_cli import report_quarterly  # noqa: E402, F401  (registers "report quarterly")
