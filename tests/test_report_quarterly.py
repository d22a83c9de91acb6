"""The laporan triwulan: a quarter built through the bot and the admin CLI (and rows written
as they would have left them), the report's numbers checked against hand counts, the IKM and
its grade boundaries, the HTML in Chromium, and `report summary` agreeing with it.

The bot, the scheduler, the delivery worker and the admin CLI share one StepClock, set in a
quarter of the test's own choosing (2026Q4), so every duration is exact and no result depends
on the day or hour the suite runs.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from admin_cli.report_quarterly import num, render_html
from bot.delivery import DeliveryWorker, OutRow, Permanent
from bot.scheduler import Scheduler
from storage.clock import WIB, local
from storage.db import Database
from storage.models import (
    AuditLog,
    Broadcast,
    Complaint,
    Job,
    Outbox,
    Rating,
    SurveyResponse,
    TukangProfile,
    User,
)
from storage.reports import Quarter, grade, ikm, krejcie_morgan, quarterly_report
from tests import quarter_data as direct
from tests.admin.conftest import Admin
from tests.factories import book, make_person, make_tukang
from tests.harness import Harness, StepClock

BUDI_SCORES = ["4 · Sangat sesuai", "4 · Sangat mudah", "3 · Cepat", "4 · Gratis", "3 · Sesuai",
               "4 · Sangat kompeten", "4 · Sangat sopan dan ramah", "3 · Baik",
               "4 · Dikelola dengan baik"]
SARI_SCORES = ["3 · Sesuai", "Lewati", "3 · Cepat", "4 · Gratis", "2 · Kurang sesuai",
               "3 · Kompeten", "3 · Sopan dan ramah", "Lewati", "2 · Ada tetapi tidak berfungsi"]
ANDI_SCORES = ["4 · Sangat sesuai", "3 · Mudah", "2 · Kurang cepat", "4 · Gratis", "3 · Sesuai",
               "3 · Kompeten", "4 · Sangat sopan dan ramah", "3 · Baik", "Lewati"]
CICI_SCORES = ["2 · Kurang sesuai", "2 · Kurang mudah", "2 · Kurang cepat", "2 · Cukup mahal",
               "2 · Kurang sesuai", "2 · Kurang kompeten", "2 · Kurang sopan dan ramah",
               "2 · Cukup", "2 · Ada tetapi tidak berfungsi"]  # the previous quarter's answer


# --- the grade and the index, by hand -----------------------------------------------------------


def _answers(n: int, total: int) -> list[list[int | None]]:
    """n complete answers (9 scores of 3 or 4) whose scores add up to `total`."""
    fours = total - 3 * 9 * n
    flat = [4] * fours + [3] * (9 * n - fours)
    return [list(flat[i * 9:(i + 1) * 9]) for i in range(n)]


def test_grade_boundaries() -> None:
    """88.31 is A and 88.30 is B; every band edge of PermenPANRB 14/2017, after rounding."""
    cases = {"100": "A", "88.31": "A", "88.30": "B", "88.305": "A", "88.3049": "B",
             "76.61": "B", "76.60": "C", "65.00": "C", "64.99": "D", "25.00": "D"}
    for unit, expected in cases.items():
        assert grade(unit) == expected, unit
    assert grade(88.31) == "A" and grade(88.30) == "B"


def test_ikm_on_either_side_of_the_a_boundary() -> None:
    """24 answers adding up to 763 give 88.31 (A); 19 adding up to 604 give 88.30 (B)."""
    _, unit, g = ikm(_answers(24, 763))
    assert unit == 88.31 and g == "A"  # exactly 88.3101...
    assert Fraction(763, 9 * 24) * 25 > Fraction(8831, 100)
    _, unit, g = ikm(_answers(19, 604))
    assert unit == 88.30 and g == "B"  # 88.3040...
    _, unit, g = ikm(_answers(19, 524))
    assert unit == 76.61 and g == "B"
    _, unit, g = ikm(_answers(26, 717))
    assert unit == 76.60 and g == "C"


def test_ikm_skips_and_empty() -> None:
    """A skipped element is left out of its NRR, not counted as zero; no answers, no grade."""
    nrr, unit, g = ikm([[4, None, 2, 4, 4, 4, 4, 4, 4], [2, 3, None, 4, 4, 4, 4, 4, 4]])
    assert nrr[:3] == [3.0, 3.0, 2.0]
    assert unit == round(float(Fraction(3 + 3 + 2 + 4 * 6, 9) * 25), 2) == 88.89 and g == "A"
    assert ikm([]) == ([None] * 9, None, None)
    with pytest.raises(ValueError):
        ikm([[5, 1, 1, 1, 1, 1, 1, 1, 1]])


def test_krejcie_morgan_matches_the_table() -> None:
    """The sample sizes of the Krejcie-Morgan table the Permen refers to."""
    table = {10: 10, 50: 44, 100: 80, 200: 132, 500: 217, 1000: 278, 5000: 357}
    assert {n: krejcie_morgan(n) for n in table} == table
    assert krejcie_morgan(0) == 0 and krejcie_morgan(3) == 3


def test_quarters_in_wib() -> None:
    """Quarters start at midnight WIB: 31 Dec 2026 17:00 UTC is already 2027Q1."""
    q = Quarter(2026, 4)
    assert q.start == datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    assert q.end == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert Quarter.of(datetime(2026, 12, 31, 17, 0, tzinfo=UTC)).label == "2027Q1"
    assert Quarter(2027, 1).previous() == q and q.previous() == Quarter(2026, 3)
    assert num(1234.5, 1) == "1.234,5"


# --- a quarter through the bot and the CLI -------------------------------------------------


async def _survey(t: Harness, who: str, labels: list[str], suggestion: str | None) -> None:
    await t.press(who, "Isi survei")
    for label in labels:
        await t.press(who, label)
    if suggestion is None:
        await t.press(who, "Lewati")
    else:
        await t.send(who, suggestion)
    assert "Terima kasih atas penilaian" in t.got(who, "penilaian Anda").text


async def _finish_and_rate(t: Harness, warga: str, tukang: str, score: str) -> None:
    """The tukang marks the newest job done; the warga confirms it from the question that
    asks, then rates it."""
    code = (await _jobs(t.db))[-1].code
    await t.press(tukang, "Pekerjaan saya")
    await t.press(tukang, f"{code} · Diterima tukang")
    await t.press(tukang, "Tandai selesai")
    await t.press(tukang, "Ya")
    await t.press(warga, "Ya, sudah selesai")
    await t.send(warga, score)
    await t.press(warga, "Lewati")


@dataclass
class GoneChat:
    """A console sender on which one person's chat no longer exists."""

    gone: str
    channel: str = "console"
    rate: float = 1000.0
    chat_rate: float | None = None
    chat_burst: int = 1

    async def send(self, row: OutRow) -> str | None:
        if row.address == self.gone:
            raise Permanent("chat not found")
        return f"id-{row.id}"


def _hours(start: datetime, end: datetime) -> float:
    """Hours from `start` to `end`: the unit of every duration in the report."""
    return (end - start).total_seconds() / 3600


async def test_quarter_built_through_the_bot_and_cli(db: Database, tmp_path: Path) -> None:
    """Registrations, bookings, acceptances, a cancellation, ratings, two complaints (one
    upheld after a statement, one dismissed), a broadcast delivered to two of three, and four
    survey answers: every figure of the report equals the hand count.

    Through the bot and the admin CLI go the steps whose path the figures depend on: one
    booking from request to offer, acceptance, done, rating and the survey it invites to
    (Budi's, with a phone number scrubbed from his suggestion); the Dinas activating a tukang;
    a statement asked for in the CLI and written in the bot; both complaints decided (the
    upheld one removing the tukang and taking his job back); a broadcast through the
    scheduler and the delivery worker, whose tick also invites the tukang to the quarter's
    survey; and `report quarterly` itself. The other rows are written directly on the same
    timeline (tests/quarter_data.py), with the access-history rows the engine would have
    left."""
    quarter = Quarter(2026, 4)
    clock = StepClock(wib(11, 2, 9, 0))  # Monday 2 November 2026, 09:00 WIB
    t = Harness.console(db, clock=clock)
    admin = Admin.on(db, tmp_path / "data", clock)
    scheduler = Scheduler(db, t.config, clock=clock)

    # the previous quarter (2026Q3): two tukang registered on 8 September (as the demo seed
    # does); on the 10th Cici wrote to the bot to answer that quarter's survey
    q3_day = wib(9, 10, 10, 0)  # Thursday 10 September 2026, 10:00 WIB
    andi = await make_tukang(t, "andi", name="Andi", phone="+6281299990001",
                             submitted_at=q3_day - timedelta(days=2))
    cici = await make_tukang(t, "cici", name="Cici", phone="+6281299990002",
                             submitted_at=q3_day - timedelta(days=2))
    await direct.survey(db, cici, "tukang", CICI_SCORES, at=q3_day)
    await direct.wrote(db, cici, q3_day)

    # this quarter: three warga registered at 09:00; Joko sent his tukang registration at
    # 09:05 and waits for the Dinas
    budi = await make_person(t, "budi", name="Budi Santoso", phone="+6281234567890")
    sari = await make_person(t, "sari", name="Sari Wulandari", phone="+6281234567891")
    dewi = await make_person(t, "dewi", name="Dewi Lestari", phone="+6281234567892")
    joko_submitted = clock.advance(minutes=5)
    joko = await make_tukang(t, "joko", name="Joko Susilo", phone="+6281234567893",
                             status="pending", submitted_at=joko_submitted)

    # job 1, through the bot: Budi books Andi, accepted 30 minutes later, done, rated 5, then
    # the survey
    clock.advance(minutes=5)
    await t.send("budi", "menu")
    await book(t, "budi", register=False)
    await t.press("budi", "Andi")
    clock.advance(minutes=30)
    await t.press("andi", "Terima")
    clock.advance(minutes=10)
    await _finish_and_rate(t, "budi", "andi", "5")
    assert "Survei Kepuasan" in t.got("budi", "Survei Kepuasan").text
    await _survey(t, "budi", BUDI_SCORES, "Sangat membantu, hubungi saya 0812 3456 7890")

    # job 2: Sari booked Andi, accepted 90 minutes later; done, rated 3, survey with skips
    job2_at = clock.advance(minutes=5)
    job2, _ = await direct.job(db, sari, at=job2_at, status="done", tukang_id=andi,
                               accepted_after=timedelta(minutes=90))
    rated2_at = clock.advance(minutes=95)
    await direct.rating(db, job2, 3, at=rated2_at)
    await direct.survey(db, sari, "warga", SARI_SCORES, at=rated2_at)

    # job 3: Dewi booked Andi and cancelled before he answered
    job3_at = clock.advance(minutes=2)
    await direct.job(db, dewi, at=job3_at, status="cancelled")

    # the Dinas activates Joko two hours later
    activated_at = clock.advance(hours=2)
    r = await admin("tukang", "activate", str(joko), "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output

    # job 4: Budi booked Joko, accepted 60 minutes later. A minute after that Budi complains
    # about Joko, and Sari about Andi (job 2), each with evidence (Pasal 9)
    job4_at = clock.advance(minutes=1)
    job4, _ = await direct.job(db, budi, at=job4_at, status="accepted", tukang_id=joko,
                               accepted_after=timedelta(minutes=60))
    complaint_at = clock.advance(minutes=61)
    codes = [await direct.complaint(db, job4, "Sudah dibayar uang muka tapi tukang tidak "
                                    "pernah datang.", at=complaint_at),
             await direct.complaint(db, job2, "Ada sisa cat di lantai yang tidak dibersihkan.",
                                    at=complaint_at)]
    # Sari and Dewi wrote to the bot for all that (Budi, Andi and Joko write through it here)
    await direct.wrote(db, sari, job2_at, rated2_at, complaint_at)
    await direct.wrote(db, dewi, job3_at)

    # the Dinas asks Joko for a statement 3 hours later; he answers in the bot 5 hours after
    # that; Sari's complaint is dismissed without one
    requested_at = clock.advance(hours=3)
    assert (await admin("complaints", "request-statement", codes[0], "--yes", "--as",
                        "siti")).exit_code == 0
    statement_at = clock.advance(hours=5)
    await t.refresh()
    await t.press("joko", "Tulis pernyataan")
    await t.send("joko", "Saya sakit hari itu dan sudah mengabari warga.")
    await t.press("joko", "Lewati")
    await t.press("joko", "Kirim")
    # the next morning (Tuesday 3 November, 10:34 WIB: daytime, when the survey invitations
    # below may go) the Dinas decides both complaints
    decided_at = clock.advance(hours=12)
    assert local(decided_at).hour == 10
    assert (await admin("complaints", "decide", codes[0], "upheld", "--note",
                        "Tidak hadir tanpa kabar.", "--yes", "--as", "siti")).exit_code == 0
    assert (await admin("complaints", "decide", codes[1], "dismissed", "--note",
                        "Di luar kewenangan Dinas.", "--yes", "--as", "siti")).exit_code == 0

    # a broadcast to the three warga through the admin CLI and the scheduler; the delivery
    # worker sends it through a stand-in sender on which Dewi's chat is gone (2 sent, 1 failed).
    # The same daytime tick invites the active tukang, Andi and Cici, to this quarter's survey
    r = await admin("broadcast", "create", "--text", "Pelatihan K3 gratis, Sabtu 09.00.",
                    "--audience", "warga", "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        broadcast_id = (await s.execute(select(Broadcast.id))).scalar_one()
    r = await admin("broadcast", "send", str(broadcast_id), "--yes", "--as", "siti")
    assert r.exit_code == 0, r.output
    assert (await scheduler.tick())["survey_invite_tukang"] == 2
    await DeliveryWorker(db, [GoneChat("dewi")], clock=clock).drain()
    async with db.read() as s:
        statuses = sorted((await s.execute(select(Outbox.status).where(
            Outbox.broadcast_id == broadcast_id))).scalars())
    assert statuses == ["failed", "sent", "sent"]

    # Andi answers the survey from the quarterly invitation (that path: tests/test_survey.py)
    await t.refresh()
    assert t.last("andi").labels == ["Isi survei"] and "2026Q4" in t.last("andi").text
    await direct.survey(db, andi, "tukang", ANDI_SCORES, at=decided_at)

    # --- the report ------------------------------------------------------------------------
    out = tmp_path / "laporan.html"
    csv_dir = tmp_path / "csv"
    r = await admin("report", "quarterly", "--year", str(quarter.year), "--quarter",
                    str(quarter.q), "--out", str(out), "--csv", str(csv_dir), "--as", "siti")
    assert r.exit_code == 0, r.output
    assert "responden SKM 3 orang, kurang dari sampel minimal 5" in r.output
    async with db.read() as s:
        rep = await quarterly_report(s, quarter)
        trail = (await s.execute(select(AuditLog).where(
            AuditLog.action == "report.quarterly"))).scalar_one()
    assert trail.actor == "admin:siti" and trail.detail["quarter"] == quarter.label
    cur, prev = rep["current"], rep["previous"]

    # registrations and activations
    tk = cur["tukang"]
    assert (tk["warga_registered"], tk["tukang_registered"]) == (3, 1)
    assert (tk["activated"], tk["removed"], tk["rejected"]) == (1, 1, 0)
    wait = tk["activation_wait_hours"]
    assert wait["n"] == 1
    assert wait["mean"] == pytest.approx(_hours(joko_submitted, activated_at))
    assert wait["mean"] == pytest.approx(4 + 27 / 60)  # 09:05 to 13:32
    assert prev["tukang"]["tukang_registered"] == 2 and prev["tukang"]["warga_registered"] == 0
    assert rep["tukang_now"]["active"] == 2 and rep["tukang_now"]["removed"] == 1

    # jobs: 4 booked; done 2, cancelled 1, open 1 (Joko's: accepted, then taken back from him
    # when the complaint was upheld and he was removed, for Budi to choose another tukang)
    jb = cur["jobs"]
    assert jb["total"] == 4 and sum(jb["by_month"].values()) == 4
    assert {k: v for k, v in jb["by_status"].items() if v} == {"done": 2, "cancelled": 1,
                                                               "open": 1}
    assert jb["by_category"] == {"Pengecatan": 4}
    assert jb["by_kecamatan"] == {"Batam Kota": 4}
    assert jb["accepted"] == 2  # Joko's acceptance ended with the take-back
    assert jb["accept_hours"]["mean"] == pytest.approx((30 + 90) / 2 / 60)
    assert jb["accept_hours"]["median"] == pytest.approx(1.0)
    assert jb["completion_rate"] == pytest.approx(2 / 4)
    assert jb["cancellation_rate"] == pytest.approx(1 / 4)

    # ratings
    assert cur["ratings"]["n"] == 2 and cur["ratings"]["mean"] == pytest.approx(4.0)
    assert cur["ratings"]["distribution"] == {1: 0, 2: 0, 3: 1, 4: 0, 5: 1}

    # complaints: 2 received, 1 statement requested and received, 1 upheld, 1 dismissed,
    # Joko removed under Pasal 9
    cc = cur["complaints"]
    assert (cc["received"], cc["statements_requested"], cc["statements_received"]) == (2, 1, 1)
    assert (cc["upheld"], cc["dismissed"], cc["removed_pasal9"]) == (1, 1, 1)
    assert cc["to_request_hours"]["n"] == cc["to_statement_hours"]["n"] == 1
    assert cc["to_request_hours"]["mean"] == _hours(complaint_at, requested_at) == 3.0
    assert cc["to_statement_hours"]["mean"] == _hours(requested_at, statement_at) == 5.0
    assert cc["statement_to_decision_hours"]["mean"] == _hours(statement_at, decided_at) == 12.0
    # both complaints were made in the same minute and decided in the same minute
    assert _hours(complaint_at, decided_at) == 20.0
    assert cc["to_decision_hours"] == {"n": 2, "mean": 20.0, "median": 20.0, "max": 20.0}
    async with db.read() as s:
        p = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == joko))
             ).scalar_one()
    assert p.status == "removed" and p.decided_at == decided_at

    # broadcasts and active users
    bc = cur["broadcasts"]
    assert (bc["broadcasts"], bc["messages"], bc["delivered"], bc["failed"],
            bc["people_reached"]) == (1, 3, 2, 1, 2)
    assert prev["broadcasts"]["broadcasts"] == 0
    # budi, sari, dewi, andi and joko wrote this quarter (all on the console channel)
    assert cur["activity"]["total"] == 5
    assert cur["activity"]["by_channel"] == {"telegram": 0, "whatsapp": 0, "console": 5}
    assert prev["activity"]["total"] == 1  # Cici, answering the survey

    # the survey: 3 respondents (2 warga, 1 tukang), NRR by hand, IKM 81.94 -> B
    sv = cur["survey"]
    assert sv["respondents"] == 3 and sv["by_role"] == {"warga": 2, "tukang": 1}
    expected_nrr = [Fraction(4 + 3 + 4, 3), Fraction(4 + 3, 2), Fraction(3 + 3 + 2, 3),
                    Fraction(4 + 4 + 4, 3), Fraction(3 + 2 + 3, 3), Fraction(4 + 3 + 3, 3),
                    Fraction(4 + 3 + 4, 3), Fraction(3 + 3, 2), Fraction(4 + 2, 2)]
    assert sv["nrr"] == pytest.approx([float(v) for v in expected_nrr])
    unit = sum(expected_nrr) / 9 * 25  # 29.5 / 9 * 25 = 81.944...
    assert sv["ikm_unit"] == 81.94 == round(float(unit), 2)
    assert sv["grade"] == "B" and sv["grade_name"] == "Baik"
    assert sv["answered_per_element"] == [3, 2, 3, 3, 3, 3, 3, 2, 2]
    assert (sv["population"], sv["sample_needed"], sv["too_few"]) == (5, 5, True)
    assert sv["suggestions"] == 1
    async with db.read() as s:
        kept = (await s.execute(select(SurveyResponse.suggestion).where(
            SurveyResponse.suggestion != ""))).scalar_one()
    assert kept == "Sangat membantu, hubungi saya [nomor HP dihapus]"
    ps = prev["survey"]
    assert (ps["respondents"], ps["ikm_unit"], ps["grade"]) == (1, 50.0, "D")

    # --- the HTML and the CSV --------------------------------------------------------------
    html = out.read_text(encoding="utf-8")
    assert "Dibuat otomatis oleh sistem SIJAKON pada 3 November 2026, 10.34 WIB" in html
    for part in ("Walikota Batam", "Inspektorat Kota Batam",
                 "Dinas Komunikasi dan Informatika Kota Batam", "81,94", "responden terlalu sedikit",
                 "Pengecatan", "Batam Kota", "<svg", "@media print", "Pasal 9",
                 "Waktu sampai dapat tukang", "(06.00–21.00 WIB)"):
        assert part in html, part
    for private in ("Budi", "Santoso", "Joko", "Andi", "0812", "+62812", "Sudirman",
                    "uang muka", "Sangat membantu", "sisa cat"):
        assert private not in html, private
    for external in ("src=", 'href="http', "url(http", "@import", "<script", "<metadata"):
        assert external not in html, external  # one self-contained file
    with (csv_dir / "ringkasan.csv").open(encoding="utf-8") as fh:
        rows = {row[0]: row for row in csv.reader(fh)}
    assert rows["Pesanan pekerjaan"][1:3] == ["4", "0"]
    assert rows["Nilai IKM (konversi)"][1:3] == ["81.94", "50.0"]
    with (csv_dir / "ikm.csv").open(encoding="utf-8") as fh:
        ikm_rows = list(csv.DictReader(fh))
    assert [r_["Unsur"] for r_ in ikm_rows] == [f"U{i}" for i in range(1, 10)]
    assert float(ikm_rows[1]["NRR"]) == 3.5
    (tmp_path / "figures.json").write_text(json.dumps(rep, default=str))


async def _jobs(db: Database) -> list[Job]:
    async with db.read() as s:
        return list((await s.execute(select(Job).order_by(Job.id))).scalars())


# --- a quarter written as rows: month by month, exact durations, both databases -----------

Q3 = Quarter(2026, 3)


def wib(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    """A time on a Batam clock, as aware UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=WIB).astimezone(UTC)


async def seed_q3(db: Database) -> None:
    """2026Q3 written directly (history the bot cannot replay with its clock): jobs in all
    three months and at the quarter's edges, ratings, two complaints with known step times,
    tukang registrations, users on two channels, two survey answers, one earlier job."""
    async with db.transaction() as s:
        people = []
        for i, role in enumerate(("warga", "warga", "warga", "tukang", "tukang")):
            u = User(name=f"Orang {i}", phone=f"+6281200000{i:03d}", role=role,
                     created_at=wib(7, 2 + i), updated_at=wib(7, 2 + i))
            s.add(u)
            people.append(u)
        await s.flush()
        w1, w2, w3, t1, t2 = (u.id for u in people)
        s.add(TukangProfile(user_id=t1, skk_number="A", jenjang=3, skk_valid_until=date(2030, 1, 1),
                            status="active", submitted_at=wib(7, 5)))
        s.add(TukangProfile(user_id=t2, skk_number="B", jenjang=3, skk_valid_until=date(2030, 1, 1),
                            status="pending", submitted_at=wib(9, 20)))
        s.add(AuditLog(actor="admin:siti", action="tukang.activate", subject_type="user",
                       subject_id=t1, at=wib(7, 5) + timedelta(hours=30)))
        jobs = [  # (created, category, kecamatan, status, accepted after)
            (wib(7, 1, 0, 5), 6, "217110", "done", timedelta(hours=1)),
            (wib(7, 14), 2, "217104", "done", timedelta(hours=3)),
            (wib(7, 20), 6, "217110", "cancelled", None),
            (wib(8, 3), 4, "217103", "done", timedelta(hours=2)),
            (wib(8, 25), 6, "217104", "expired", None),
            (wib(9, 30, 23, 30), 2, "217110", "accepted", timedelta(minutes=30)),
            (wib(10, 1, 0, 10), 6, "217110", "open", None),  # Q4 already
            (wib(6, 15), 6, "217110", "done", timedelta(hours=5)),  # Q2
        ]
        ids = []
        for n, (at, cat, kec, status, after) in enumerate(jobs, 1):
            j = Job(code=f"J-T-{n}", warga_id=w1, category_id=cat, kecamatan_code=kec,
                    description="x", status=status, tukang_id=t1 if after else None,
                    created_at=at, accepted_at=at + after if after else None)
            s.add(j)
            await s.flush()
            ids.append(j.id)
        for job_id, score, at in ((ids[0], 5, wib(7, 3)), (ids[1], 4, wib(7, 16)),
                                  (ids[3], 2, wib(8, 5)), (ids[7], 3, wib(6, 20))):
            s.add(Rating(job_id=job_id, warga_id=w1, tukang_id=t1, score=score, created_at=at))
        s.add(Complaint(code="P-T-1", job_id=ids[3], warga_id=w1, tukang_id=t1, text="x",
                        status="upheld", created_at=wib(8, 2),
                        statement_requested_at=wib(8, 3), statement_at=wib(8, 5),
                        decided_at=wib(8, 8)))
        s.add(Complaint(code="P-T-2", job_id=ids[1], warga_id=w1, tukang_id=t1, text="x",
                        status="dismissed", created_at=wib(9, 10), decided_at=wib(9, 12)))
        s.add(AuditLog(actor="admin:siti", action="tukang.remove", subject_type="user",
                       subject_id=t1, at=wib(8, 8)))
        for uid, channel in ((w1, "telegram"), (w2, "telegram"), (w3, "whatsapp"),
                             (w1, "whatsapp"), (t1, "telegram")):
            for day in (4, 5):
                s.add(AuditLog(actor=f"user:{uid}", action="message", subject_type="user",
                               subject_id=uid, channel=channel, at=wib(8, day)))
        s.add(SurveyResponse(user_id=w1, role="warga", period="2026Q3",
                             scores=[4, 4, 4, 4, 4, 4, 4, 4, 4], created_at=wib(8, 6)))
        s.add(SurveyResponse(user_id=t1, role="tukang", period="2026Q3",
                             scores=[3, 3, 3, 3, 3, 3, 3, 3, None], suggestion="ok",
                             created_at=wib(8, 7)))


async def test_figures_month_by_month_on_every_database(any_db: Database) -> None:
    """Rows of 2026Q3: counts per month, category, kecamatan and status, exact durations and
    the IKM, identical on SQLite and PostgreSQL; quarter edges follow WIB."""
    await seed_q3(any_db)
    async with any_db.read() as s:
        rep = await quarterly_report(s, Q3)
    cur, prev = rep["current"], rep["previous"]
    jb = cur["jobs"]
    assert jb["total"] == 6 and jb["by_month"] == {7: 3, 8: 2, 9: 1}
    assert jb["by_category"] == {"Pengecatan": 3, "Perbaikan atap/genteng": 2,
                                 "Instalasi listrik": 1}
    assert jb["by_kecamatan"] == {"Batam Kota": 3, "Nongsa": 2, "Sekupang": 1}
    assert jb["month_category"]["Pengecatan"] == {7: 2, 8: 1, 9: 0}
    assert jb["month_status"]["done"] == {7: 2, 8: 1, 9: 0}
    assert jb["month_status"]["accepted"] == {7: 0, 8: 0, 9: 1}
    assert (jb["done"], jb["cancelled"], jb["expired"], jb["accepted"]) == (3, 1, 1, 4)
    assert jb["accept_hours"] == {"n": 4, "mean": pytest.approx(6.5 / 4),
                                  "median": pytest.approx(1.5), "max": pytest.approx(3.0)}
    assert jb["completion_rate"] == pytest.approx(0.5)
    assert jb["cancellation_rate"] == pytest.approx(1 / 6)
    assert prev["jobs"]["total"] == 1 and prev["jobs"]["by_month"] == {4: 0, 5: 0, 6: 1}
    assert cur["ratings"]["n"] == 3 and cur["ratings"]["mean"] == pytest.approx(11 / 3)
    assert cur["ratings"]["distribution"] == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert prev["ratings"]["mean"] == pytest.approx(3.0)
    tk = cur["tukang"]
    assert (tk["warga_registered"], tk["tukang_registered"], tk["activated"]) == (3, 2, 1)
    assert tk["activation_wait_hours"]["mean"] == pytest.approx(30.0)
    cc = cur["complaints"]
    assert (cc["received"], cc["statements_requested"], cc["statements_received"],
            cc["upheld"], cc["dismissed"], cc["removed_pasal9"]) == (2, 1, 1, 1, 1, 1)
    assert cc["to_request_hours"]["mean"] == pytest.approx(24.0)
    assert cc["to_statement_hours"]["mean"] == pytest.approx(48.0)
    assert cc["statement_to_decision_hours"]["mean"] == pytest.approx(72.0)
    assert cc["to_decision_hours"]["mean"] == pytest.approx((144 + 48) / 2)
    assert cur["broadcasts"]["broadcasts"] == 0 and cur["broadcasts"]["delivery_rate"] is None
    assert cur["activity"] == {"by_channel": {"telegram": 3, "whatsapp": 2}, "total": 4}
    sv = cur["survey"]
    # NRR: 3.5 for U1-U8, 4 for U9 (one answer) -> IKM (8 x 3.5 + 4) / 9 = 3.5556 -> 88.89 A
    assert sv["nrr"] == [3.5] * 8 + [4.0]
    assert (sv["ikm_unit"], sv["grade"], sv["respondents"]) == (88.89, "A", 2)
    assert (sv["population"], sv["sample_needed"], sv["too_few"]) == (4, 4, True)
    assert prev["survey"]["ikm_unit"] is None and prev["survey"]["grade"] is None


# --- `report summary` and the quarterly report agree ----------------------------------------


def _csv_rows(path: Path) -> dict[str, list[str]]:
    """A CSV table of the report by its first column."""
    with path.open(encoding="utf-8") as fh:
        return {row[0]: row for row in csv.reader(fh)}


async def test_summary_and_quarterly_agree_without_demo_tukang(db: Database,
                                                               tmp_path: Path) -> None:
    """Over the days of 2026Q3, `report summary` shows the same counts as the quarterly
    report's tables; the six demo tukang seeded in that quarter (one of them suspended) are
    in neither."""
    await seed_q3(db)
    clock = StepClock(wib(8, 20, 9, 0))
    admin = Admin.on(db, tmp_path / "data", clock)
    assert (await admin("demo", "seed")).exit_code == 0
    async with db.read() as s:
        demo = (await s.execute(select(User.id).where(User.is_demo.is_(True)))).scalars().all()
    assert len(demo) == 6
    clock.advance(hours=1)
    r = await admin("tukang", "suspend", str(demo[0]), "--reason", "Uji coba", "--yes",
                    "--as", "siti")
    assert r.exit_code == 0, r.output

    data = await admin.json("report", "summary", "--from", "2026-07-01", "--to", "2026-09-30")
    assert data["periode"] == {"dari": "2026-07-01", "sampai": "2026-09-30"}
    csv_dir = tmp_path / "csv"
    r = await admin("report", "quarterly", "--year", "2026", "--quarter", "3",
                    "--out", str(tmp_path / "q3.html"), "--csv", str(csv_dir), "--as", "siti")
    assert r.exit_code == 0, r.output
    tables = {name: _csv_rows(csv_dir / f"{name}.csv")
              for name in ("ringkasan", "tukang", "pengaduan", "pekerjaan_per_kategori",
                           "pekerjaan_per_kecamatan")}

    def quarterly(table: str, row: str) -> str:
        return tables[table][row][-1 if table.startswith("pekerjaan_per") else 1]

    pairs = [  # (table, row) in the quarterly report, (section, item) in the summary
        (("ringkasan", "Warga mendaftar"), ("pendaftaran", "warga")),
        (("ringkasan", "Tukang mendaftar"), ("pendaftaran", "tukang_mengajukan")),
        (("tukang", "Diaktifkan"), ("keputusan_tukang", "diaktifkan")),
        (("tukang", "Ditolak"), ("keputusan_tukang", "ditolak")),
        (("tukang", "Dinonaktifkan sementara"), ("keputusan_tukang", "dinonaktifkan")),
        (("tukang", "Diaktifkan kembali"), ("keputusan_tukang", "diaktifkan_kembali")),
        (("tukang", "Dikeluarkan"), ("keputusan_tukang", "dikeluarkan")),
        (("ringkasan", "Pesanan pekerjaan"), ("pekerjaan", "jumlah")),
        (("ringkasan", "Penilaian (rating) diberikan"), ("rating", "jumlah")),
        (("ringkasan", "Pengaduan masuk"), ("pengaduan", "masuk")),
        (("pengaduan", "Diputus: terbukti"), ("pengaduan", "diputus_terbukti")),
        (("pengaduan", "Diputus: tidak terbukti"), ("pengaduan", "diputus_tidak_terbukti")),
    ]
    for (table, row), (section, item) in pairs:
        assert quarterly(table, row) == str(data[section][item]), (table, row)
    assert round(float(quarterly("ringkasan", "Rata-rata penilaian (1–5)")), 2) \
        == data["rating"]["rata_rata"] == 3.67
    for kind, item in (("kategori", "per_kategori"), ("kecamatan", "per_kecamatan")):
        rows = tables[f"pekerjaan_per_{kind}"]
        assert {k: int(v[-1]) for k, v in rows.items() if k != kind.capitalize()} \
            == data["pekerjaan"][item]

    # the hand counts of seed_q3: no demo tukang among the registrations or the decisions
    assert data["pendaftaran"] == {"warga": 3, "tukang_mengajukan": 2}
    assert data["keputusan_tukang"] == {"diaktifkan": 1, "ditolak": 0, "dinonaktifkan": 0,
                                        "diaktifkan_kembali": 0, "dikeluarkan": 1,
                                        "tukang_aktif_saat_ini": 1}
    html = (tmp_path / "q3.html").read_text(encoding="utf-8")
    assert "1 tukang aktif, 1 menunggu pemeriksaan,\n0 dinonaktifkan sementara" in html
    # without dates the summary covers this month so far, by the CLI's clock
    month = await admin.json("report", "summary")
    assert month["periode"] == {"dari": "2026-08-01", "sampai": "2026-08-20"}


# --- the page in a real browser ---------------------------------------------------------------


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _png_pixels(path: Path) -> tuple[int, int, set[int]]:
    """Width, height and the set of grey levels (red channel) seen in every 7th row of a
    PNG, read with Pillow."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        red = img.convert("RGB").getchannel("R")
    width, height = red.size
    raw = red.tobytes()
    levels = {v for y in range(0, height, 7) for v in raw[y * width:(y + 1) * width]}
    return width, height, levels


def screenshot(html: Path, png: Path, profile: Path, *, height: int = 3000) -> None:
    chromium = _chromium()
    assert chromium is not None
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--screenshot={png}",
                    f"--window-size=1200,{height}", f"file://{html}"],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (.ci/run installs "
                    "it from Debian's packages)")
async def test_report_renders_in_chromium(db: Database, tmp_path: Path) -> None:
    """The page of a quarter with data opens in headless Chromium and is not blank: text,
    tables and the inline SVG charts (black, grey and white, hatched) are drawn."""
    await seed_q3(db)
    async with db.read() as s:
        rep = await quarterly_report(s, Q3)
    html = render_html(rep, Q3, made_at=datetime(2026, 10, 5, 9, 0, tzinfo=WIB))
    assert html.count("<svg") == 6 and "<pattern" in html  # hatching
    colours = {c.lower() for c in re.findall(r"#([0-9a-fA-F]{6})\b", html)}
    assert all(c[0:2] == c[2:4] == c[4:6] for c in colours), colours  # greys only
    page = tmp_path / "laporan.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / "laporan.png"
    await asyncio.to_thread(screenshot, page, png, tmp_path / "profile")
    width, height, levels = _png_pixels(png)
    assert (width, height) == (1200, 3000)
    assert len(levels) > 20 and min(levels) < 80 and max(levels) > 240, sorted(levels)[:10]
