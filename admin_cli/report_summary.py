"""`sijakon-admin report summary`: the service in numbers over a date range.

Counts only, no personal data. Dates are whole days in WIB; `--to` is inclusive. The numbers
are `storage.reports.summary`, the same counts the quarterly report shows, so the two agree
on any period they share (demo tukang left out of both). Here they only get their
Indonesian names.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from admin_cli.common import (
    JsonOpt,
    console,
    emit,
    emit_csv,
    emit_json,
    parse_date,
    run,
    settings,
    today_wib,
)
from flows.deadlines import Waking
from storage.db import Database
from storage.reports import Period, summary

COLUMNS = ["bagian", "butir", "nilai"]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _present(counts: dict[str, int]) -> dict[str, int]:
    """Only the statuses that occur, in their lifecycle order (the table stays short)."""
    return {k: v for k, v in counts.items() if v}


def in_indonesian(data: dict[str, Any]) -> dict[str, Any]:
    """The figures of `storage.reports.summary` under the names officers read."""
    period: Period = data["period"]
    tk, jobs, ratings, cc = data["tukang"], data["jobs"], data["ratings"], data["complaints"]
    accept, match = jobs["accept_hours"], data["match"]
    return {
        "periode": {"dari": period.first.isoformat(), "sampai": period.last.isoformat()},
        "pendaftaran": {"warga": tk["warga_registered"],
                        "tukang_mengajukan": tk["tukang_registered"]},
        "keputusan_tukang": {
            "diaktifkan": tk["activated"],
            "ditolak": tk["rejected"],
            "dinonaktifkan": tk["suspended"],
            "diaktifkan_kembali": tk["reinstated"],
            "dikeluarkan": tk["removed"],
            "tukang_aktif_saat_ini": data["tukang_now"]["active"],
        },
        "pekerjaan": {
            "jumlah": jobs["total"],
            "per_status": _present(jobs["by_status"]),
            "per_kategori": jobs["by_category"],
            "per_kecamatan": jobs["by_kecamatan"],
        },
        "waktu_sampai_diterima_jam": {
            "jumlah": accept["n"],
            "median": _round(accept["median"], 1),
            "rata_rata": _round(accept["mean"], 1),
        },
        "dapat_tukang": {
            "pesanan": match["requested"],
            "dapat_tukang": match["matched"],
            "median_jam": _round(match["median_hours"], 1),
            "dalam_3_jam_bangun": match["fast"],
            "bagian_dalam_3_jam_bangun": _round(match["fast_rate"], 3),
        },
        "rating": {
            "jumlah": ratings["n"],
            "rata_rata": _round(ratings["mean"], 2),
            "sebaran": {str(k): v for k, v in ratings["distribution"].items()},
        },
        "pengaduan": {
            "masuk": cc["received"],
            "per_status": _present(cc["status_of_received"]),
            "diputus_terbukti": cc["upheld"],
            "diputus_tidak_terbukti": cc["dismissed"],
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


async def summarize(db: Database, period: Period) -> dict[str, Any]:
    """Every count of the summary for `period`, under its Indonesian names."""
    hours = Waking(*settings().waking_hours)  # the night rule of offers (flows/deadlines.py)
    async with db.read() as s:
        return in_indonesian(await summary(s, period, waking_time=hours.between))


def report_summary(
    from_: Annotated[str | None, typer.Option("--from", help="Dari tanggal (YYYY-MM-DD); "
                                              "bawaan: awal bulan ini.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Sampai tanggal, termasuk; bawaan: "
                                           "hari ini.")] = None,
    json_: JsonOpt = False,
    csv_: Annotated[bool, typer.Option("--csv", help="Keluaran CSV.")] = False,
) -> None:
    """Ringkasan angka: pendaftaran, aktivasi, pekerjaan, waktu terima, waktu sampai dapat
    tukang (termasuk bagian dalam 3 jam bangun), rating, pengaduan."""
    if json_ and csv_:
        raise typer.BadParameter("pilih salah satu: --json atau --csv")
    today = today_wib()
    first = parse_date(from_) or today.replace(day=1)
    last = parse_date(to) or today
    if last < first:
        raise typer.BadParameter("--to harus sama dengan atau sesudah --from")
    data = run(lambda db: summarize(db, Period(first, last)))
    if json_:
        emit_json(data)
    elif csv_:
        emit_csv(flatten(data), COLUMNS)
    else:
        p = data["periode"]
        console.print(f"Ringkasan layanan SIJAKON {p['dari']} s.d. {p['sampai']}")
        emit(flatten({k: v for k, v in data.items() if k != "periode"}), COLUMNS, as_json=False)
