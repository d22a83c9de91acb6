"""The service's figures: the quarterly report (laporan triwulan, Pasal 8) and `report
summary` over any days. Queries only, no rendering.

Everything is counted over a `Period` of whole days in WIB (Batam's clock), as `[start, end)`
in UTC; a `Quarter` is one such period. `period_figures` holds the counts both reports show,
so `report summary` and the quarterly report agree on any period they share. Demo tukang
(`User.is_demo`, from `sijakon-admin demo seed`) are no part of the service and are left out
of every count of people and of decisions about them.

Counts are plain SQL aggregates (COUNT, AVG, GROUP BY) that run the same on SQLite and
PostgreSQL. Durations and medians are computed here from the two timestamps of each row:
date arithmetic and MEDIAN differ between the two databases, and a quarter has few enough
rows (one pair of timestamps per job or complaint) to bring back.

No personal data leaves this module: counts, averages and anonymous score lists only.

The satisfaction index follows PermenPANRB 14/2017 (see `ikm`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from statistics import mean, median
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, and_, case, distinct, exists, func
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from storage.clock import WIB
from storage.models import (
    AuditLog,
    Broadcast,
    Category,
    Complaint,
    Job,
    Kecamatan,
    Outbox,
    Rating,
    SurveyResponse,
    TukangProfile,
    User,
)
from storage.sql import pk

# The nine SKM elements of PermenPANRB 14/2017, in the regulation's order (U1..U9).
ELEMENTS: tuple[tuple[str, str], ...] = (
    ("U1", "Persyaratan"),
    ("U2", "Sistem, mekanisme, dan prosedur"),
    ("U3", "Waktu penyelesaian"),
    ("U4", "Biaya/tarif"),
    ("U5", "Produk spesifikasi jenis pelayanan"),
    ("U6", "Kompetensi pelaksana"),
    ("U7", "Perilaku pelaksana"),
    ("U8", "Sarana dan prasarana"),
    ("U9", "Penanganan pengaduan, saran dan masukan"),
)
N_ELEMENTS = len(ELEMENTS)

# Grades of the IKM unit (IKM x 25), lower bounds after rounding to 2 decimals.
GRADES: tuple[tuple[Decimal, str, str], ...] = (
    (Decimal("88.31"), "A", "Sangat baik"),
    (Decimal("76.61"), "B", "Baik"),
    (Decimal("65.00"), "C", "Kurang baik"),
    (Decimal("25.00"), "D", "Tidak baik"),
)
GRADE_NAMES = {g: name for _, g, name in GRADES}

JOB_STATUSES = ("open", "offered", "accepted", "in_progress", "done", "cancelled", "expired")
DELIVERED = ("sent", "delivered", "read")
TUKANG_DECISIONS = ("tukang.activate", "tukang.reject", "tukang.suspend", "tukang.reinstate",
                    "tukang.remove")


# --- periods --------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    """00:00 WIB of `day`, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=WIB).astimezone(UTC)


def _first_of(year: int, month: int) -> date:
    """The first day of `month` of `year`; month 13 is January of the next year."""
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days on a Batam clock, `first` to `last` inclusive, counted as [start, end) UTC."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"a period ends on or after its first day, not {self.last}")

    @property
    def start(self) -> datetime:
        return _midnight(self.first)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight WIB after the last day."""
        return _midnight(self.last + timedelta(days=1))

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Quarter:
    """One calendar quarter in WIB."""

    year: int
    q: int

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 4:
            raise ValueError(f"quarter must be 1-4, not {self.q}")

    @classmethod
    def of(cls, at: datetime) -> Quarter:
        """The quarter a moment falls in, read on a Batam clock."""
        local = at.astimezone(WIB)
        return cls(local.year, (local.month - 1) // 3 + 1)

    @property
    def label(self) -> str:
        """"2026Q4": the form kept in SurveyResponse.period."""
        return f"{self.year}Q{self.q}"

    @property
    def months(self) -> tuple[int, int, int]:
        first = 3 * (self.q - 1) + 1
        return (first, first + 1, first + 2)

    @property
    def period(self) -> Period:
        """The quarter's days: what every count of it is taken over."""
        return Period(_first_of(self.year, self.months[0]),
                      _first_of(self.year, self.months[2] + 1) - timedelta(days=1))

    def month_start(self, month: int) -> datetime:
        """Midnight WIB of the first day of `month` (13 = January next year), as UTC."""
        return _midnight(_first_of(self.year, month))

    @property
    def start(self) -> datetime:
        return self.period.start

    @property
    def end(self) -> datetime:
        """Exclusive: the first moment of the next quarter."""
        return self.period.end

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.q == 1 else Quarter(self.year, self.q - 1)

    def contains(self, at: datetime) -> bool:
        return self.period.contains(at)


def period_of(at: datetime) -> str:
    """The survey period ("2026Q4") of a moment, in WIB."""
    return Quarter.of(at).label


# --- the satisfaction index (PermenPANRB 14/2017) --------------------------------------------


class Ikm(NamedTuple):
    nrr: list[float | None]  # per element: mean score 1-4, None when nobody answered it
    ikm_unit: float | None  # IKM x 25, rounded to 2 decimals (half up)
    grade: str | None  # A-D


def grade(unit: Decimal | float | str) -> str:
    """The grade of an IKM unit. The value is rounded to 2 decimals (half up) first, so the
    regulation's bands (A 88.31-100, B 76.61-88.30, ...) leave no gap: 88.305 is 88.31, A."""
    value = Decimal(str(unit)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    for lower, g, _name in GRADES:
        if value >= lower:
            return g
    return "D"


def ikm(scores: list[list[int | None]]) -> Ikm:
    """NRR per element, the IKM unit and its grade from survey answers.

    Each answer is 9 scores (1-4) or None for a skipped element. Per element, NRR = the mean
    of the scores given (skips do not count as zeros). IKM = the mean of the 9 NRRs (each
    weighted 1/9, the Permen's 0.111); IKM unit = IKM x 25. When an element has no answers
    at all, the IKM is the mean of the elements that have some (reported beside it).
    Arithmetic is exact (fractions) and the unit is rounded to 2 decimals, half up, before
    it is graded, so a value is never graded on a float's last digit.
    """
    columns: list[list[int]] = [[] for _ in range(N_ELEMENTS)]
    for row in scores:
        if len(row) != N_ELEMENTS:
            raise ValueError(f"a survey answer has {N_ELEMENTS} scores, not {len(row)}")
        for i, score in enumerate(row):
            if score is None:
                continue
            if not 1 <= int(score) <= 4:
                raise ValueError(f"score {score!r} is not 1-4")
            columns[i].append(int(score))
    nrr = [Fraction(sum(c), len(c)) if c else None for c in columns]
    given = [v for v in nrr if v is not None]
    if not given:
        return Ikm([None] * N_ELEMENTS, None, None)
    exact = sum(given, Fraction(0)) / len(given) * 25
    unit = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Ikm([float(v) if v is not None else None for v in nrr], float(unit), grade(unit))


def krejcie_morgan(population: int) -> int:
    """The sample size the Permen's Krejcie-Morgan table asks for a population (95%, 5%).

    s = X²·N·P(1-P) / (d²·(N-1) + X²·P(1-P)), X² = 3.841, P = 0.5, d = 0.05, rounded to the
    nearest whole person as the published table is (N = 50: 44; 100: 80; 1,000: 278).
    """
    if population <= 0:
        return 0
    x2, p, d = 3.841, 0.5, 0.05
    s = x2 * population * p * (1 - p) / (d * d * (population - 1) + x2 * p * (1 - p))
    return min(population, math.floor(s + 0.5))


# --- helpers ----------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    a = start if start.tzinfo else start.replace(tzinfo=UTC)
    b = end if end.tzinfo else end.replace(tzinfo=UTC)
    return (b - a).total_seconds() / 3600


def durations(values: list[float | None]) -> dict[str, Any]:
    """Count, mean, median and longest of some durations in hours (None when empty)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return {"n": 0, "mean": None, "median": None, "max": None}
    return {"n": len(xs), "mean": mean(xs), "median": median(xs), "max": max(xs)}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _in(column: Mapped[datetime | None], period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _not_demo(user_id: Mapped[int | None]) -> ColumnElement[bool]:
    """The row is about no demo user (true for rows about nobody)."""
    return ~exists().where(col(User.id) == user_id, col(User.is_demo).is_(True))


async def _count(s: AsyncSession, stmt: Select[int]) -> int:
    return int((await s.execute(stmt)).scalar() or 0)


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    """Largest first, then by name: the order of every "by ..." table."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass(frozen=True, slots=True)
class _Names:
    """Category and kecamatan names as the tables print them."""

    categories: dict[int, str]
    kecamatan: dict[str, str]

    def category(self, category_id: int) -> str:
        return str(self.categories.get(category_id, f"#{category_id}"))

    def place(self, code: str) -> str:
        return str(self.kecamatan.get(code, code))


async def _names(s: AsyncSession) -> _Names:
    return _Names(dict((await s.execute(select(pk(Category.id), Category.name))).all()),
                  dict((await s.execute(select(Kecamatan.code, Kecamatan.name))).all()))


# --- the figures ------------------------------------------------------------------------------


async def tukang_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """Registrations, decisions on tukang and the activation queue's waiting time."""
    warga = await _count(s, select(func.count()).select_from(User).where(
        col(User.role) == "warga", col(User.is_demo).is_(False),
        _in(col(User.created_at), period)))
    submitted = await _count(s, select(func.count()).select_from(TukangProfile)
                             .join(User, col(User.id) == col(TukangProfile.user_id))
                             .where(col(User.is_demo).is_(False),
                                    _in(col(TukangProfile.submitted_at), period)))
    decisions: dict[str, int] = dict((await s.execute(
        select(AuditLog.action, func.count()).where(
            col(AuditLog.action).in_(TUKANG_DECISIONS), _in(col(AuditLog.at), period),
            _not_demo(col(AuditLog.subject_id)))
        .group_by(col(AuditLog.action)))).all())
    # the first decision on a registration (activate or reject) ends its wait in the queue;
    # the profile's own decided_at is overwritten by later decisions, the audit row is not
    waits = (await s.execute(
        select(TukangProfile.submitted_at, AuditLog.at, AuditLog.action)
        .join(TukangProfile, col(TukangProfile.user_id) == col(AuditLog.subject_id))
        .where(col(AuditLog.subject_type) == "user",
               col(AuditLog.action).in_(("tukang.activate", "tukang.reject")),
               _in(col(AuditLog.at), period), _not_demo(col(AuditLog.subject_id))))).all()
    activation_waits = [_hours(sub, at) for sub, at, action in waits
                        if action == "tukang.activate" and at >= sub]
    decision_waits = [_hours(sub, at) for sub, at, _ in waits if at >= sub]
    return {
        "warga_registered": warga,
        "tukang_registered": submitted,
        "activated": int(decisions.get("tukang.activate", 0)),
        "rejected": int(decisions.get("tukang.reject", 0)),
        "suspended": int(decisions.get("tukang.suspend", 0)),
        "reinstated": int(decisions.get("tukang.reinstate", 0)),
        "removed": int(decisions.get("tukang.remove", 0)),
        "activation_wait_hours": durations(activation_waits),
        "decision_wait_hours": durations(decision_waits),
    }


async def tukang_now(s: AsyncSession) -> dict[str, int]:
    """Tukang by status when the report is made (a snapshot, not a count over a period)."""
    rows: dict[str, int] = dict((await s.execute(
        select(TukangProfile.status, func.count())
        .join(User, col(User.id) == col(TukangProfile.user_id))
        .where(col(User.is_demo).is_(False))
        .group_by(col(TukangProfile.status)))).all())
    return {k: int(rows.get(k, 0)) for k in ("pending", "active", "rejected", "suspended",
                                              "removed")}


async def job_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """Jobs booked in the period by category, kecamatan and status; acceptance times;
    completion and cancellation rates (status as it stands when the report is made)."""
    rows = (await s.execute(
        select(Job.category_id, Job.kecamatan_code, Job.status, func.count())
        .where(_in(col(Job.created_at), period))
        .group_by(col(Job.category_id), col(Job.kecamatan_code), col(Job.status)))).all()
    names = await _names(s)
    by_status: dict[str, int] = dict.fromkeys(JOB_STATUSES, 0)
    by_category: dict[str, int] = {}
    by_kecamatan: dict[str, int] = {}
    for cat_id, kec, status, n in rows:
        cat, kname, n = names.category(cat_id), names.place(kec), int(n)
        by_status[status] = by_status.get(status, 0) + n
        by_category[cat] = by_category.get(cat, 0) + n
        by_kecamatan[kname] = by_kecamatan.get(kname, 0) + n
    total = sum(by_status.values())

    accepted = (await s.execute(select(Job.created_at, col(Job.accepted_at)).where(
        _in(col(Job.created_at), period), col(Job.accepted_at).is_not(None)))).all()
    was_accepted = len(accepted)
    # done on the tukang's word: the warga left "Sudah selesai?" unanswered for three days
    unconfirmed = await _count(s, select(func.count()).select_from(Job).where(
        _in(col(Job.created_at), period), col(Job.status) == "done", col(Job.done_by) == "tukang"))
    return {
        "total": total,
        "by_status": by_status,
        "by_category": _by_count(by_category),
        "by_kecamatan": _by_count(by_kecamatan),
        "accepted": was_accepted,
        "accept_hours": durations([_hours(a, b) for a, b in accepted]),
        "done": by_status.get("done", 0),
        "done_unconfirmed": unconfirmed,
        "cancelled": by_status.get("cancelled", 0),
        "expired": by_status.get("expired", 0),
        "completion_rate": _rate(by_status.get("done", 0), total),
        "cancellation_rate": _rate(by_status.get("cancelled", 0), total),
        "accepted_rate": _rate(was_accepted, total),
    }


MATCH_WITHIN = timedelta(hours=3)  # "matched fast": within three waking hours (Step 8)

# The waking time between two moments (flows.deadlines.Waking.between): storage may not
# import flows, so the caller hands the rule in; without it every hour counts.
WakingTime = Callable[[datetime, datetime], timedelta]


def _elapsed(a: datetime, b: datetime) -> timedelta:
    return b - a


async def match_figures(s: AsyncSession, period: Period,
                        waking_time: WakingTime | None = None) -> dict[str, Any]:
    """Time to match: from a job request to the tukang who took it (`Job.accepted_at`), for
    the jobs requested in the period. The median is in clock hours (what the warga waited);
    "fast" counts the jobs matched within three waking hours, so a request at 22:00 taken at
    08:00 is fast (two waking hours) and the night does not count against the tukang. The
    share is of all jobs requested, matched or not: a job nobody took is a slow match."""
    spent = waking_time or _elapsed
    rows = (await s.execute(select(Job.created_at, col(Job.accepted_at))
                            .where(_in(col(Job.created_at), period)))).all()
    pairs = [(_utc(a), _utc(b)) for a, b in rows if b is not None and b >= a]
    hours = [_hours(a, b) for a, b in pairs]
    waking = [spent(a, b) for a, b in pairs]
    fast = sum(w <= MATCH_WITHIN for w in waking)
    return {
        "requested": len(rows),
        "matched": len(pairs),
        "median_hours": median(h for h in hours if h is not None) if pairs else None,
        "median_waking_hours": median(w.total_seconds() / 3600 for w in waking)
        if pairs else None,
        "fast": fast,
        "fast_rate": _rate(fast, len(rows)),
    }


async def job_months(s: AsyncSession, quarter: Quarter) -> dict[str, Any]:
    """The quarter's jobs month by month: in all, and by category, kecamatan and status."""
    m = quarter.months
    month = case((col(Job.created_at) < quarter.month_start(m[1]), m[0]),
                 (col(Job.created_at) < quarter.month_start(m[2]), m[1]), else_=m[2])
    inner = (select(month.label("month"), col(Job.category_id).label("category_id"),
                    col(Job.kecamatan_code).label("kecamatan_code"),
                    col(Job.status).label("status"))
             .where(_in(col(Job.created_at), quarter.period)).subquery())
    # five columns: more than sqlmodel's `select` has typed overloads for
    rows = (await s.execute(
        sa_select(inner.c.month, inner.c.category_id, inner.c.kecamatan_code, inner.c.status,
                  func.count())
        .group_by(inner.c.month, inner.c.category_id, inner.c.kecamatan_code, inner.c.status)
    )).all()
    names = await _names(s)
    by_month: dict[int, int] = dict.fromkeys(m, 0)
    month_category: dict[str, dict[int, int]] = {}
    month_kecamatan: dict[str, dict[int, int]] = {}
    month_status: dict[str, dict[int, int]] = {k: dict.fromkeys(m, 0) for k in JOB_STATUSES}
    for mon, cat_id, kec, status, n in rows:
        mon, n = int(mon), int(n)
        cat, kname = names.category(cat_id), names.place(kec)
        by_month[mon] += n
        month_category.setdefault(cat, dict.fromkeys(m, 0))[mon] += n
        month_kecamatan.setdefault(kname, dict.fromkeys(m, 0))[mon] += n
        month_status.setdefault(status, dict.fromkeys(m, 0))[mon] += n
    return {"by_month": by_month, "month_category": month_category,
            "month_kecamatan": month_kecamatan, "month_status": month_status}


async def rating_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """Ratings given in the period: how many, their mean and the count of each score."""
    n, avg = (await s.execute(select(func.count(), func.avg(Rating.score))
                              .where(_in(col(Rating.created_at), period)))).one()
    dist: dict[int, int] = dict((await s.execute(select(Rating.score, func.count())
                                                 .where(_in(col(Rating.created_at), period))
                                                 .group_by(col(Rating.score)))).all())
    return {"n": int(n or 0), "mean": float(avg) if avg is not None else None,
            "distribution": {k: int(dist.get(k, 0)) for k in range(1, 6)}}


async def complaint_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """Complaints received, statements requested and given, decisions, removals (Pasal 9),
    and how long each step took (each step counted in the period it ended in)."""
    received = await _count(s, select(func.count()).select_from(Complaint)
                            .where(_in(col(Complaint.created_at), period)))
    requested = await _count(s, select(func.count()).select_from(Complaint)
                             .where(_in(col(Complaint.statement_requested_at), period)))
    stated = await _count(s, select(func.count()).select_from(Complaint)
                          .where(_in(col(Complaint.statement_at), period)))
    decided: dict[str, int] = dict((await s.execute(
        select(Complaint.status, func.count()).where(_in(col(Complaint.decided_at), period))
        .group_by(col(Complaint.status)))).all())
    removed = await _count(s, select(func.count()).select_from(AuditLog).where(
        col(AuditLog.action) == "tukang.remove", _in(col(AuditLog.at), period),
        _not_demo(col(AuditLog.subject_id))))
    open_now: dict[str, int] = dict((await s.execute(
        select(Complaint.status, func.count()).where(_in(col(Complaint.created_at), period))
        .group_by(col(Complaint.status)))).all())
    rows = (await s.execute(
        select(Complaint.created_at, col(Complaint.statement_requested_at),
               col(Complaint.statement_at), col(Complaint.decided_at))
        .where(_in(col(Complaint.created_at), period)
               | _in(col(Complaint.statement_requested_at), period)
               | _in(col(Complaint.statement_at), period)
               | _in(col(Complaint.decided_at), period)))).all()

    def ended_in(at: datetime | None) -> bool:
        return at is not None and period.contains(at if at.tzinfo else at.replace(tzinfo=UTC))

    return {
        "received": received,
        "statements_requested": requested,
        "statements_received": stated,
        "upheld": int(decided.get("upheld", 0)),
        "dismissed": int(decided.get("dismissed", 0)),
        "decided": int(decided.get("upheld", 0)) + int(decided.get("dismissed", 0)),
        "removed_pasal9": removed,
        "status_of_received": {k: int(open_now.get(k, 0)) for k in (
            "submitted", "awaiting_statement", "under_review", "upheld", "dismissed")},
        "to_request_hours": durations([_hours(c, r) for c, r, _st, _d in rows if ended_in(r)]),
        "to_statement_hours": durations([_hours(r, st) for _c, r, st, _d in rows
                                         if ended_in(st)]),
        "statement_to_decision_hours": durations([_hours(st, d) for _c, _r, st, d in rows
                                                  if ended_in(d) and st is not None]),
        "to_decision_hours": durations([_hours(c, d) for c, _r, _st, d in rows if ended_in(d)]),
    }


async def broadcast_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """Broadcasts made in the period and what became of their messages (zero if none).

    Outbox rows older than the retention are pruned (`flows.timers.prune_outbox`), each
    leaving its status in its broadcast's `pruned` counts and, if it reached someone, in
    `pruned_reached`: the counts are the live rows' plus those, so they do not change when a
    quarter's rows are pruned. People reached are distinct over the live rows; a pruned row
    adds one person, so after pruning someone who got two broadcasts of the period counts
    twice (an upper bound)."""
    made = _in(col(Broadcast.created_at), period)
    n, total, queued, skipped = (await s.execute(
        select(func.count(), func.sum(Broadcast.total), func.sum(Broadcast.queued),
               func.sum(Broadcast.skipped)).where(made))).one()
    ids = select(pk(Broadcast.id)).where(made).scalar_subquery()
    by_status: dict[str, int] = {str(k): int(v) for k, v in (await s.execute(
        select(Outbox.status, func.count()).where(col(Outbox.broadcast_id).in_(ids))
        .group_by(col(Outbox.status)))).all()}
    reached = await _count(s, select(func.count(distinct(col(Outbox.user_id)))).where(
        col(Outbox.broadcast_id).in_(ids), col(Outbox.status).in_(DELIVERED)))
    for pruned, pruned_reached in (await s.execute(
            select(Broadcast.pruned, Broadcast.pruned_reached).where(made))).all():
        for status, count in (pruned or {}).items():
            by_status[status] = by_status.get(status, 0) + int(count)
        reached += int(pruned_reached or 0)
    messages = sum(by_status.values())
    delivered = sum(by_status.get(k, 0) for k in DELIVERED)
    return {
        "broadcasts": int(n or 0),
        "audience": int(total or 0),
        "queued": int(queued or 0),
        "skipped": int(skipped or 0),
        "messages": messages,
        "messages_by_status": dict(sorted(by_status.items())),
        "delivered": delivered,
        "failed": by_status.get("failed", 0) + by_status.get("undelivered", 0),
        "people_reached": reached,
        "delivery_rate": _rate(delivered, messages),
    }


async def activity_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """People who wrote to the bot in the period, by channel (the engine's "message" audit
    rows, about the person who wrote); someone on two channels counts once in the total."""
    wrote = (col(AuditLog.action) == "message", _in(col(AuditLog.at), period),
             _not_demo(col(AuditLog.subject_id)))
    rows: dict[str | None, int] = dict((await s.execute(
        select(col(AuditLog.channel), func.count(distinct(col(AuditLog.actor)))).where(*wrote)
        .group_by(col(AuditLog.channel)))).all())
    total = await _count(s, select(func.count(distinct(col(AuditLog.actor)))).where(*wrote))
    by_channel = {k: int(rows.get(k, 0)) for k in ("telegram", "whatsapp")}
    for k, v in rows.items():
        if k not in by_channel:
            by_channel[str(k or "lain")] = int(v)
    return {"by_channel": by_channel, "total": total}


async def survey_figures(s: AsyncSession, quarter: Quarter,
                         population: int) -> dict[str, Any]:
    """The SKM for the quarter: NRR per element, IKM unit, grade, respondents, and the
    Krejcie-Morgan sample for the population of people who used the service."""
    rows = (await s.execute(select(SurveyResponse.role, SurveyResponse.scores,
                                   SurveyResponse.suggestion)
                            .where(col(SurveyResponse.period) == quarter.label))).all()
    scores = [list(r.scores or []) + [None] * (N_ELEMENTS - len(r.scores or []))
              for r in rows]
    result = ikm([sc[:N_ELEMENTS] for sc in scores])
    answered = [sum(1 for sc in scores if sc[i] is not None) for i in range(N_ELEMENTS)]
    roles: dict[str, int] = {}
    for r in rows:
        roles[r.role] = roles.get(r.role, 0) + 1
    needed = krejcie_morgan(population)
    return {
        "respondents": len(rows),
        "by_role": {k: roles.get(k, 0) for k in ("warga", "tukang")},
        "answered_per_element": answered,
        "nrr": result.nrr,
        "ikm": (result.ikm_unit / 25) if result.ikm_unit is not None else None,
        "ikm_unit": result.ikm_unit,
        "grade": result.grade,
        "grade_name": GRADE_NAMES.get(result.grade or ""),
        "suggestions": sum(1 for r in rows if (r.suggestion or "").strip()),
        "population": population,
        "sample_needed": needed,
        "too_few": len(rows) < needed,
    }


async def period_figures(s: AsyncSession, period: Period) -> dict[str, Any]:
    """The counts both reports show, over any period: tukang registrations and decisions,
    jobs, ratings and complaints. `report summary` and the quarterly report both read these,
    so they agree on any period they share."""
    return {
        "tukang": await tukang_figures(s, period),
        "jobs": await job_figures(s, period),
        "ratings": await rating_figures(s, period),
        "complaints": await complaint_figures(s, period),
    }


async def summary(s: AsyncSession, period: Period, *,
                  waking_time: WakingTime | None = None) -> dict[str, Any]:
    """`report summary`: the shared counts over any days, time to match (as the quarterly
    report counts it), and today's tukang by status."""
    return {"period": period, **await period_figures(s, period),
            "match": await match_figures(s, period, waking_time),
            "tukang_now": await tukang_now(s)}


async def quarter_figures(s: AsyncSession, quarter: Quarter,
                          waking_time: WakingTime | None = None) -> dict[str, Any]:
    """Every figure of the report for one quarter: the shared counts, the jobs month by month,
    time to match (`waking_time`: see `match_figures`), broadcasts, active users and the
    survey."""
    period = quarter.period
    figures = await period_figures(s, period)
    figures["jobs"] |= await job_months(s, quarter)
    figures["match"] = await match_figures(s, period, waking_time)
    activity = await activity_figures(s, period)
    return {
        "quarter": quarter.label,
        "start": quarter.start,
        "end": quarter.end,
        **figures,
        "broadcasts": await broadcast_figures(s, period),
        "activity": activity,
        "survey": await survey_figures(s, quarter, activity["total"]),
    }


async def quarterly_report(s: AsyncSession, quarter: Quarter, *,
                           waking_time: WakingTime | None = None) -> dict[str, Any]:
    """The quarter, the one before it for comparison, and today's tukang snapshot.
    `waking_time` is the night rule of offers (flows.deadlines.Waking.between)."""
    return {
        "current": await quarter_figures(s, quarter, waking_time),
        "previous": await quarter_figures(s, quarter.previous(), waking_time),
        "tukang_now": await tukang_now(s),
    }
