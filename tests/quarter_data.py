"""Rows of a quarter written directly, as the bot would have left them: for the scenario of
the quarterly report (tests/test_report_quarterly.py), which drives through the engine and the
admin CLI only the steps whose path the report depends on and writes the rest here.

Every helper takes the moment the row is dated (`at`): the report counts by those dates, so
the scenario's timeline stays exact. People themselves come from `tests.factories`
(`make_person`, `make_tukang`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from storage.codes import next_code
from storage.db import Database
from storage.models import AuditLog, Category, Complaint, Job, Rating, SurveyResponse
from storage.reports import Quarter
from tests.harness import BATAM_KOTA

SKIP = "Lewati"


def scores(labels: Sequence[str]) -> list[int | None]:
    """What the survey stores for the buttons pressed: "4 · Sangat sesuai" is 4, "Lewati" is
    a skipped element (None)."""
    return [None if label == SKIP else int(label.split(" · ", 1)[0]) for label in labels]


async def job(db: Database, warga_id: int, *, at: datetime, status: str,
              tukang_id: int | None = None, accepted_after: timedelta | None = None,
              category: str = "Pengecatan", kecamatan: str = BATAM_KOTA,
              address: str = "Jl. Sudirman No. 12, RT 03/RW 05") -> tuple[int, str]:
    """A job booked at `at` (coded as the booking flow codes it), in `status`; taken by
    `tukang_id` `accepted_after` the booking if given (done jobs are done then too).
    Returns (id, code)."""
    accepted_at = at + accepted_after if tukang_id and accepted_after is not None else None
    async with db.transaction() as s:
        category_id = (await s.execute(select(Category.id).where(Category.name == category))
                       ).scalar_one()
        row = Job(code=await next_code(s, "J", at), warga_id=warga_id, category_id=category_id,
                  description="Cat ulang dinding ruang tamu yang mengelupas",
                  kecamatan_code=kecamatan, address=address, preferred_time="Besok",
                  status=status, tukang_id=tukang_id, created_at=at, accepted_at=accepted_at,
                  done_at=accepted_at if status == "done" else None,
                  cancelled_by="warga" if status == "cancelled" else None)
        s.add(row)
        await s.flush()
        assert row.id is not None
        return row.id, row.code


async def rating(db: Database, job_id: int, score: int, *, at: datetime) -> None:
    """The warga's rating of a job's tukang."""
    async with db.transaction() as s:
        row = await s.get(Job, job_id)
        assert row is not None and row.tukang_id is not None
        s.add(Rating(job_id=job_id, warga_id=row.warga_id, tukang_id=row.tukang_id,
                     score=score, created_at=at))


async def complaint(db: Database, job_id: int, text: str, *, at: datetime,
                    evidence: Sequence[str] = ("/tmp/sijakon-test/bukti.jpg",)) -> str:
    """A warga's complaint about the tukang of a job, with evidence (Pasal 9), submitted at
    `at` and not yet handled. Returns its code."""
    async with db.transaction() as s:
        row = await s.get(Job, job_id)
        assert row is not None and row.tukang_id is not None
        code = await next_code(s, "P", at)
        s.add(Complaint(code=code, job_id=job_id, warga_id=row.warga_id,
                        tukang_id=row.tukang_id, text=text, evidence=list(evidence),
                        status="submitted", created_at=at))
        return code


async def survey(db: Database, user_id: int, role: str, labels: Sequence[str], *,
                 at: datetime, suggestion: str = "") -> None:
    """An answer to the SKM survey of the quarter `at` falls in, from the buttons pressed."""
    async with db.transaction() as s:
        s.add(SurveyResponse(user_id=user_id, role=role, period=Quarter.of(at).label,
                             scores=scores(labels), suggestion=suggestion, created_at=at))


async def wrote(db: Database, user_id: int, *at: datetime, channel: str = "console") -> None:
    """The access-history rows the engine writes when a registered person writes to the bot
    (one per message): what the report counts as active users."""
    async with db.transaction() as s:
        s.add_all([AuditLog(actor=f"user:{user_id}", action="message", subject_type="user",
                            subject_id=user_id, detail={"kind": "text"}, channel=channel,
                            at=moment)
                   for moment in at])
