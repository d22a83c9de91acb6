"""Time to match (request → a tukang took it) and the share matched within three waking
hours, this three-month period against the one before, as the Walikota's table shows them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from admin_cli.report_quarterly import build_tables
from flows.deadlines import Waking
from storage.clock import WIB
from storage.db import Database
from storage.reports import Quarter, match_figures, quarterly_report
from tests import factories
from tests.admin.conftest import Admin, make_job, make_tukang
from tests.harness import StepClock

Q4, Q3 = Quarter(2026, 4), Quarter(2026, 3)


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


async def seed(db: Database) -> None:
    """Three matched jobs and one never taken in Q4; two matched and one not in Q3."""
    warga = await factories.make_person(db, "budi", at=wib(7, 1, 9))
    tukang = await make_tukang(db, "andi", "Andi", status="active")
    for created, after in (
            (wib(10, 5, 22), timedelta(hours=10)),  # 22:00 → 08:00: two waking hours, fast
            (wib(10, 6, 10), timedelta(hours=4)),  # four hours by day: slow
            (wib(10, 7, 9), timedelta(minutes=30)),  # fast
            (wib(10, 8, 9), None),  # nobody took it: slow
            (wib(8, 3, 9), timedelta(hours=8)),
            (wib(8, 4, 9), timedelta(hours=1)),
            (wib(8, 5, 9), None)):
        await make_job(db, warga, tukang if after else None, created_at=created,
                       status="accepted" if after else "expired", accepted_after=after)


async def test_match_times_count_waking_hours(any_db: Database) -> None:
    """Median in clock hours, "fast" in waking hours, the share over every request; without
    the night rule the 22:00 request is slow."""
    await seed(any_db)
    async with any_db.read() as s:
        rep = await quarterly_report(s, Q4, waking_time=Waking().between)
        plain = await match_figures(s, Q4.period)
    cur, prev = rep["current"]["match"], rep["previous"]["match"]
    assert cur == {"requested": 4, "matched": 3, "median_hours": 4.0,
                   "median_waking_hours": 2.0, "fast": 2, "fast_rate": 0.5}
    assert prev["requested"] == 3 and prev["median_hours"] == 4.5 and prev["fast"] == 1
    assert plain["fast"] == 1 and plain["median_hours"] == 4.0


async def test_match_times_in_the_walikota_table(any_db: Database) -> None:
    """The officer reads both periods and the change: half an hour faster, 16,7 points more
    requests matched within three waking hours; the summary carries the same two lines."""
    await seed(any_db)
    async with any_db.read() as s:
        rep = await quarterly_report(s, Q4, waking_time=Waking().between)
    tables = build_tables(rep, Q4)
    shown = {row[0]: [table.cell(r, c, v) for c, v in enumerate(row)]
             for table in (tables["waktu_dapat_tukang"],) for r, row in enumerate(table.rows)}
    assert shown["Median waktu sampai dapat tukang"][1:] == ["4,0 jam", "4,5 jam", "-0,5 jam"]
    assert shown["Median waktu, jam bangun saja"][1:3] == ["2,0 jam", "4,5 jam"]
    assert shown["Bagian pesanan yang dapat tukang dalam 3 jam bangun"][1:] == [
        "50,0%", "33,3%", "+16,7 poin"]
    summary = tables["ringkasan"]
    lines = {row[0]: [summary.cell(r, c, v) for c, v in enumerate(row)]
             for r, row in enumerate(summary.rows)}
    assert lines["Dapat tukang dalam 3 jam bangun"][1:] == ["50,0%", "33,3%", "+16,7 poin"]
    assert lines["Pesanan pekerjaan"][1] == "4"


async def test_summary_over_any_days_shows_match_times(any_db: Database, tmp_path: Path,
                                                       clock: StepClock) -> None:
    """`report summary` over October counts time to match the same way, in waking hours."""
    await seed(any_db)
    admin = Admin.on(any_db, tmp_path / "data", clock)
    data = await admin.json("report", "summary", "--from", "2026-10-01", "--to", "2026-10-31")
    assert data["dapat_tukang"] == {"pesanan": 4, "dapat_tukang": 3, "median_jam": 4.0,
                                    "dalam_3_jam_bangun": 2, "bagian_dalam_3_jam_bangun": 0.5}
