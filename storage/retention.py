"""Retention (UU 27/2022: personal data kept only as long as it is needed): the SQL of what
goes, and when.

Each category is a condition on rows at a moment `now` given its period (`keep`). The report
of the Walikota (storage/reports.py) reads jobs, complaints, survey answers, audit rows and the
broadcast tallies: none of those rows is deleted here. What goes is what identifies or shows
a person and serves nothing once the matter is over: the files they sent (the rows keep their
counts and statuses), conversations of people gone quiet (the account stays), external ids
the dedupe no longer needs. The outbox's own rule stays in `flows.timers.prunable`.

Every run leaves an audit row (`record`); the same rows tell the scheduler when the next run
is due (`due`), so a restart or a second process neither loses nor doubles the rhythm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy import delete as sa_delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import as_utc
from storage.models import (
    AuditLog,
    Complaint,
    Conversation,
    Job,
    Objection,
    ProcessedUpdate,
    TukangProfile,
)
from storage.sql import rowcount, table

FINISHED_JOB = ("done", "cancelled", "expired")
UNDECIDED_COMPLAINT = ("submitted", "awaiting_statement", "under_review")
DECIDED_COMPLAINT = ("upheld", "dismissed")
DECIDED_OBJECTION = ("reinstated", "kept")
CLOSED_TUKANG = ("rejected", "removed")
# At most this many rows per category and run: on SQLite the run holds the write lock. Media
# rows carry files (a few each), conversations are single rows.
MEDIA_CHUNK = 500
CONVERSATION_CHUNK = 5000
# A retention run is due this long after the previous one (or at once while a backlog lasts):
# four audit rows a day per timer, and a period is never overrun by more than this.
EVERY = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class Pending:
    """What a category would delete now: rows, files among them, the oldest row's time."""

    rows: int
    files: int
    oldest: datetime | None


def _length(column: Any) -> ColumnElement[int]:
    """Items of a JSON list column; 0 for SQL or JSON null, where PostgreSQL's
    `json_array_length` would raise (the same function on SQLite)."""
    return case((cast(column, String).like("[%"), func.json_array_length(column)), else_=0)


def _nonempty(column: Any) -> ColumnElement[bool]:
    """A JSON list column holding something."""
    return _length(column) > 0


# --- the conditions -------------------------------------------------------------------------


def dedupe_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    return table(ProcessedUpdate).c.received_at < now - keep


def conversation_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """Conversations nobody wrote in for `keep` (the engine resets them after 3 idle days
    anyway); the person's account and history stay, a new message starts a new one."""
    return table(Conversation).c.updated_at < now - keep


def _job_end() -> ColumnElement[Any]:
    j = table(Job)
    return func.coalesce(j.c.done_at, j.c.accepted_at, j.c.created_at)


def job_media_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """Photos of a job over for `keep` (done, cancelled or expired), unless a complaint about
    it is still undecided: the Dinas may need to see them."""
    j, c = table(Job), table(Complaint)
    open_complaint = exists().where(c.c.job_id == j.c.id, c.c.status.in_(UNDECIDED_COMPLAINT))
    return and_(j.c.status.in_(FINISHED_JOB), _job_end() < now - keep, _nonempty(j.c.photos),
                not_(open_complaint))


def complaint_media_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """Evidence and statement files of a complaint decided `keep` ago."""
    c = table(Complaint)
    return and_(c.c.status.in_(DECIDED_COMPLAINT), c.c.decided_at < now - keep,
                or_(_nonempty(c.c.evidence), _nonempty(c.c.statement_media)))


def objection_media_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """Files of a keberatan decided `keep` ago: the same period as a complaint's files (the
    `complaint_media` category and setting), an objection being the last step of one."""
    o = table(Objection)
    return and_(o.c.status.in_(DECIDED_OBJECTION), o.c.decided_at < now - keep,
                _nonempty(o.c.media))


def tukang_media_due(now: datetime, keep: timedelta) -> ColumnElement[bool]:
    """SKK photos, profile photo and photos of past work of a tukang rejected or removed
    `keep` ago (an active or suspended one keeps them: the Dinas checks them again, and warga
    see the profile)."""
    p = table(TukangProfile)
    return and_(p.c.status.in_(CLOSED_TUKANG), p.c.decided_at < now - keep,
                or_(_nonempty(p.c.skk_media), _nonempty(p.c.work_photos),
                    p.c.photo.is_not(None)))


def _tukang_files() -> ColumnElement[int]:
    """Files of a tukang profile: SKK photos, photos of past work, the profile photo."""
    p = table(TukangProfile)
    return _length(p.c.skk_media) + _length(p.c.work_photos) + case(
        (p.c.photo.is_not(None), 1), else_=0)


# --- what would go --------------------------------------------------------------------------


async def pending(session: AsyncSession, now: datetime, *, dedupe: timedelta,
                  conversation: timedelta, job_media: timedelta, complaint_media: timedelta,
                  tukang_media: timedelta) -> dict[str, Pending]:
    """Per category, what a run at `now` would delete (all of it, not one run's chunk)."""
    d, v, j = table(ProcessedUpdate), table(Conversation), table(Job)
    c, p = table(Complaint), table(TukangProfile)
    out: dict[str, Pending] = {}
    n, oldest = (await session.execute(select(func.count(), func.min(d.c.received_at))
                                       .where(dedupe_due(now, dedupe)))).one()
    out["dedupe"] = Pending(int(n), 0, oldest)
    n, oldest = (await session.execute(select(func.count(), func.min(v.c.updated_at))
                                       .where(conversation_due(now, conversation)))).one()
    out["conversation"] = Pending(int(n), 0, oldest)
    n, files, oldest = (await session.execute(
        select(func.count(), func.sum(_length(j.c.photos)), func.min(_job_end()))
        .where(job_media_due(now, job_media)))).one()
    out["job_media"] = Pending(int(n), int(files or 0), oldest)
    n, files, oldest = (await session.execute(
        select(func.count(), func.sum(_length(c.c.evidence) + _length(c.c.statement_media)),
               func.min(c.c.decided_at))
        .where(complaint_media_due(now, complaint_media)))).one()
    o = table(Objection)
    on, ofiles, oldest_o = (await session.execute(
        select(func.count(), func.sum(_length(o.c.media)), func.min(o.c.decided_at))
        .where(objection_media_due(now, complaint_media)))).one()
    out["complaint_media"] = Pending(int(n) + int(on), int(files or 0) + int(ofiles or 0),
                                     min((t for t in (oldest, oldest_o) if t is not None),
                                         key=as_utc, default=None))
    n, files, oldest = (await session.execute(
        select(func.count(), func.sum(_tukang_files()), func.min(p.c.decided_at))
        .where(tukang_media_due(now, tukang_media)))).one()
    out["tukang_media"] = Pending(int(n), int(files or 0), oldest)
    return {k: Pending(v_.rows, v_.files, as_utc(v_.oldest) if v_.oldest else None)
            for k, v_ in out.items()}


# --- deleting -------------------------------------------------------------------------------


async def delete_dedupe(session: AsyncSession, now: datetime, keep: timedelta) -> int:
    """External ids older than `keep`: all of them (an index range, cheap at any size)."""
    d = table(ProcessedUpdate)
    return rowcount(await session.execute(sa_delete(d).where(dedupe_due(now, keep))))


async def delete_conversations(session: AsyncSession, now: datetime, keep: timedelta,
                               limit: int = CONVERSATION_CHUNK) -> int:
    """Up to `limit` idle conversations. The delete repeats the condition, so one the engine
    touched meanwhile (PostgreSQL re-checks a row it waited for) stays."""
    v = table(Conversation)
    ids = select(v.c.id).where(conversation_due(now, keep)).order_by(v.c.id).limit(limit)
    picked = [r for (r,) in (await session.execute(ids)).all()]
    if not picked:
        return 0
    return rowcount(await session.execute(
        sa_delete(v).where(v.c.id.in_(picked), conversation_due(now, keep))))


async def _strip(session: AsyncSession, model: Any, columns: tuple[str, ...],
                 due: ColumnElement[bool], limit: int) -> tuple[int, list[str]]:
    """Empty the file lists `columns` of up to `limit` rows matching `due`; returns how many
    rows and the files they listed (the caller deletes them once the rows are written)."""
    t = table(model)
    rows = (await session.execute(select(t.c.id, *(t.c[c] for c in columns)).where(due)
                                  .order_by(t.c.id).limit(limit).with_for_update())).all()
    if not rows:
        return 0, []
    files = [str(f) for r in rows for lst in r[1:] for f in (lst or []) if f]
    await session.execute(update(t).where(t.c.id.in_([r[0] for r in rows]))
                          .values({c: [] for c in columns}))
    return len(rows), files


async def strip_job_media(session: AsyncSession, now: datetime, keep: timedelta,
                          limit: int = MEDIA_CHUNK) -> tuple[int, list[str]]:
    return await _strip(session, Job, ("photos",), job_media_due(now, keep), limit)


async def strip_complaint_media(session: AsyncSession, now: datetime, keep: timedelta,
                                limit: int = MEDIA_CHUNK) -> tuple[int, list[str]]:
    """Evidence and statement files of decided complaints, then the files of decided
    objections (one category, one period): up to `limit` rows in all."""
    n, files = await _strip(session, Complaint, ("evidence", "statement_media"),
                            complaint_media_due(now, keep), limit)
    if n < limit:
        more, extra = await _strip(session, Objection, ("media",),
                                   objection_media_due(now, keep), limit - n)
        n, files = n + more, files + extra
    return n, files


async def strip_tukang_media(session: AsyncSession, now: datetime, keep: timedelta,
                             limit: int = MEDIA_CHUNK) -> tuple[int, list[str]]:
    """SKK photos and photos of past work (lists), then the profile photo (one path) of the
    same rows: the photo's condition is read before the lists are emptied."""
    p = table(TukangProfile)
    due = tukang_media_due(now, keep)
    photos = (await session.execute(select(p.c.id, p.c.photo).where(due)
                                    .order_by(p.c.id).limit(limit).with_for_update())).all()
    n, files = await _strip(session, TukangProfile, ("skk_media", "work_photos"), due, limit)
    ids = [r[0] for r in photos]
    if ids:
        files += [str(r[1]) for r in photos if r[1]]
        await session.execute(update(p).where(p.c.id.in_(ids)).values(photo=None))
    return max(n, len(ids)), files


# --- the rhythm and the record --------------------------------------------------------------


async def due(session: AsyncSession, now: datetime, action: str,
              every: timedelta = EVERY) -> bool:
    """A run of `action` is due when none ran in the last `every`, or the last one left a
    backlog (`more`). A last run stamped after `now` (a clock set back) does not hold it up."""
    a = table(AuditLog)
    last = (await session.execute(select(func.max(a.c.id)).where(a.c.action == action))
            ).scalar()
    if last is None:
        return True
    at, detail = (await session.execute(select(a.c.at, a.c.detail).where(a.c.id == last))).one()
    if (detail or {}).get("more"):
        return True
    return not now - every < as_utc(at) <= now


def record(session: AsyncSession, now: datetime, action: str, counts: dict[str, int], *,
           actor: str = "system", more: bool = False, **detail: Any) -> None:
    """The audit row of one run: what went, per category (no personal data)."""
    session.add(AuditLog(actor=actor, action=action, subject_type="retention",
                         detail={"deleted": counts, "more": more, **detail}, at=now))
