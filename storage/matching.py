"""Which tukang a warga may choose for a job, and in what order (docs/matching.md).

Eligible: the user is an active tukang, the profile is active and available, the SKK is still
valid today (Batam's date), one of the tukang's skills serves the job's category
(`SkillCategory`), and the kecamatan is one of the tukang's service areas.

Order: quality blended with fairness, so a new tukang is not buried under the old hands:

    priority = bayes + fairness
    bayes    = (PRIOR_WEIGHT * PRIOR_MEAN + rating_sum) / (PRIOR_WEIGHT + rating_count)
    fairness = FAIRNESS_WEIGHT * min(hours since last offer, FAIRNESS_HOURS) / FAIRNESS_HOURS
               (FAIRNESS_WEIGHT when the tukang never had an offer)

ties: fewer jobs done first, then the lower user id.

The rule is read from `TukangService` (storage/service.py keeps it current): the status,
skill and area conditions decided which rows exist, so a list is one index range of
(kecamatan, category). Fairness depends on `now`, so the range is read in two parts and
merged, each part `LIMIT`ed to the rows the page needs:

- "rested" tukang, never offered or offered at least FAIRNESS_HOURS ago, have the full bonus:
  their priority is the stored `rested_key` negated, and its index hands them over in list
  order;
- tukang offered more recently are ranked by the database with an approximation of their
  priority (bayes + the bonus from `offer_hours`), a little more than the page is read, and
  they are ranked here exactly with `priority`, reading further while the approximation
  could still hide a tie (`_recent`).

The top of the merge is the top of the whole list: the same list, in the same order, the rule
gives over every profile (tests/test_matching.py holds a copy of the rule to check it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.clock import as_utc
from storage.models import Offer, TukangService
from storage.sql import table

PRIOR_MEAN = 4.0  # what we assume of a tukang nobody has rated yet
PRIOR_WEIGHT = 3  # ... worth this many ratings
FAIRNESS_HOURS = 72.0  # after three days without an offer a tukang gets the full bonus
FAIRNESS_WEIGHT = 1.0  # the bonus, in rating stars

RESTED = timedelta(hours=FAIRNESS_HOURS)  # an offer at least this old earns the full bonus
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The database's approximate priority of a recent offer is off by rounding only (~1e-10 with
# hours since 1970 around 5e5); rows within SLACK of the last needed one are read as well,
# so an exact tie (or a rounding swap) is decided here, by the rule.
SLACK = 1e-6


@dataclass(frozen=True, slots=True)
class Candidate:
    """A tukang the warga may choose, with what the list shows about them."""

    user_id: int
    name: str
    jenjang: int
    skill_codes: tuple[str, ...]
    rating_avg: float | None
    rating_count: int
    jobs_done: int
    priority: float


def bayes(rating_sum: int, rating_count: int) -> float:
    """The rating pulled towards PRIOR_MEAN while it rests on few votes."""
    return (PRIOR_WEIGHT * PRIOR_MEAN + rating_sum) / (PRIOR_WEIGHT + rating_count)


def fairness(last_offer_at: datetime | None, now: datetime) -> float:
    """A bonus that grows with the time since the tukang's last offer.

    The share is computed before the weight, so a rested tukang gets exactly FAIRNESS_WEIGHT,
    the same bonus as one never offered (the stored `rested_key` relies on it).
    """
    if last_offer_at is None:
        return FAIRNESS_WEIGHT
    hours = max(0.0, (now - as_utc(last_offer_at)).total_seconds() / 3600)
    return FAIRNESS_WEIGHT * (min(hours, FAIRNESS_HOURS) / FAIRNESS_HOURS)


def rested_key(rating_sum: int, rating_count: int) -> float:
    """The negated priority of a tukang with the full fairness bonus (TukangService's key)."""
    return -(bayes(rating_sum, rating_count) + FAIRNESS_WEIGHT)


def epoch_hours(at: datetime) -> float:
    """Hours since the Unix epoch: a time the database can subtract (`offer_hours`)."""
    return (as_utc(at) - EPOCH).total_seconds() / 3600


async def offered_for_job(session: AsyncSession, job_id: int) -> set[int]:
    """Tukang who already had an offer for this job (declined, expired, cancelled...)."""
    rows = await session.execute(select(col(Offer.tukang_id)).where(col(Offer.job_id) == job_id))
    return {r[0] for r in rows}


# The statements are built once, over the Core table, with their values as parameters: a
# list is read on most booking messages, and building and ORM-loading these statements cost
# more than running them. Session.execute still flushes pending changes first, so a profile
# edited earlier in the same transaction is listed as it is now.
_T = table(TukangService)
_COLUMNS = (_T.c.user_id, _T.c.name, _T.c.jenjang, _T.c.skill_codes, _T.c.rating_sum,
            _T.c.rating_count, _T.c.jobs_done, _T.c.last_offer_at)
# one (kecamatan, category) range, SKK valid today, without the excluded
_LISTED = (_T.c.kecamatan_code == bindparam("kec"), _T.c.category_id == bindparam("cat"),
           _T.c.skk_valid_until >= bindparam("today"),
           _T.c.user_id.not_in(bindparam("skip", expanding=True)))
_RESTED = (select(*_COLUMNS)
           .where(*_LISTED, or_(_T.c.last_offer_at.is_(None),
                                _T.c.last_offer_at <= bindparam("cutoff")))
           .order_by(_T.c.rested_key, _T.c.jobs_done, _T.c.user_id))
# bayes + the fairness bonus, from offer_hours; none for an offer in the future (`fairness`
# clamps the hours at zero)
_SHARE = case((_T.c.last_offer_at > bindparam("now"), 0.0),
              else_=(bindparam("now_h", type_=Float) - _T.c.offer_hours) / FAIRNESS_HOURS)
_APPROX = _T.c.rested_key + FAIRNESS_WEIGHT - FAIRNESS_WEIGHT * _SHARE
_IS_RECENT = (*_LISTED, _T.c.last_offer_at > bindparam("cutoff"))
_RECENT = select(*_COLUMNS, _APPROX.label("approx")).where(*_IS_RECENT)
# the best n by the approximation, chosen from ix_tukangservice_recent alone, then their rows
# (ordering whole rows would read every recent row from the table first)
_RECENT_TOP = select(*_COLUMNS, _APPROX.label("approx")).where(
    _T.c.kecamatan_code == bindparam("kec"), _T.c.category_id == bindparam("cat"),
    _T.c.user_id.in_(select(_T.c.user_id).where(*_IS_RECENT)
                     .order_by(_APPROX, _T.c.jobs_done, _T.c.user_id)
                     .limit(bindparam("n")).scalar_subquery()))
_COUNT = select(func.count()).select_from(_T).where(*_LISTED)
_ONE = select(_T.c.user_id).where(*_LISTED, _T.c.user_id == bindparam("user_id"))


def _listed(category_id: int, kecamatan_code: str, today: date,
            exclude: Iterable[int]) -> dict[str, Any]:
    return {"kec": kecamatan_code, "cat": category_id, "today": today,
            "skip": sorted(set(exclude))}


def _candidate(row: Sequence[Any], now: datetime) -> Candidate:
    (user_id, name, jenjang, skills, rating_sum, rating_count, jobs_done,
     last_offer_at) = row[:8]
    return Candidate(
        user_id=user_id, name=name, jenjang=jenjang, skill_codes=tuple(skills or ()),
        rating_avg=rating_sum / rating_count if rating_count else None,
        rating_count=rating_count, jobs_done=jobs_done,
        priority=bayes(rating_sum, rating_count) + fairness(last_offer_at, now))


def _order(c: Candidate) -> tuple[float, int, int]:
    return (-c.priority, c.jobs_done, c.user_id)


async def find_tukang(
    session: AsyncSession,
    *,
    category_id: int,
    kecamatan_code: str,
    today: date,
    now: datetime,
    exclude: Iterable[int] = (),
    limit: int | None = None,
    offset: int = 0,
) -> list[Candidate]:
    """The eligible tukang for a category in a kecamatan, best first: `limit` of them from
    `offset` (a page of the list), or all of them without a limit."""
    wanted = None if limit is None else offset + limit
    if wanted == 0:
        return []
    params = _listed(category_id, kecamatan_code, today, exclude) | {"cutoff": now - RESTED}
    rested_q = _RESTED if wanted is None else _RESTED.limit(wanted)
    rested = [_candidate(r, now) for r in await session.execute(rested_q, params)]
    recent = await _recent(session, params, now, wanted)
    merged = sorted([*rested, *recent], key=_order)
    return merged[offset:] if limit is None else merged[offset:offset + limit]


async def _recent(session: AsyncSession, params: dict[str, Any], now: datetime,
                  wanted: int | None) -> list[Candidate]:
    """The best `wanted` (None: all) of those offered a job after the cutoff.

    The database orders them by an approximate priority (`_APPROX`) and hands over a few
    more than wanted; while the last row read is within SLACK of the last one wanted, twice
    as many are read. Rows left unread are then strictly behind `wanted` others by the exact
    rule too, so ranking what was read with `priority` gives the exact top.
    """
    params = params | {"now": now, "now_h": epoch_hours(now)}
    if wanted is None:
        return [_candidate(r, now) for r in await session.execute(_RECENT, params)]
    fetch = wanted + 8
    while True:
        found = await session.execute(_RECENT_TOP, params | {"n": fetch})
        rows = sorted(found.all(), key=lambda r: (r[-1], r.jobs_done, r.user_id))
        if len(rows) < fetch or rows[-1][-1] > rows[wanted - 1][-1] + SLACK:
            return [_candidate(r, now) for r in rows]
        fetch *= 2


async def count_tukang(session: AsyncSession, *, category_id: int, kecamatan_code: str,
                       today: date, exclude: Iterable[int] = ()) -> int:
    """How many tukang `find_tukang` would list (the pages of the list, without reading it)."""
    found = await session.execute(_COUNT, _listed(category_id, kecamatan_code, today, exclude))
    return int(found.scalar_one())


async def is_eligible(session: AsyncSession, *, user_id: int, category_id: int,
                      kecamatan_code: str, today: date, exclude: Iterable[int] = ()) -> bool:
    """Whether one tukang still qualifies (between showing the list and the choice)."""
    found = await session.execute(
        _ONE, _listed(category_id, kecamatan_code, today, exclude) | {"user_id": user_id})
    return found.first() is not None
