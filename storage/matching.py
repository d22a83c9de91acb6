"""Which tukang a warga may choose for a job, and in what order (docs/matching.md).

Eligible: the user is an active tukang, the profile is active and available, the SKK is still
valid today (Batam's date), one of the tukang's skills serves the job's category
(`SkillCategory`), and the kecamatan is one of the tukang's service areas.

Order: quality blended with fairness, so a new tukang is not buried under the old hands:

    priority = bayes + fairness
    bayes    = (PRIOR_WEIGHT * PRIOR_MEAN + rating_sum) / (PRIOR_WEIGHT + rating_count)
    fairness = FAIRNESS_WEIGHT * min(hours since last offer, FAIRNESS_HOURS) / FAIRNESS_HOURS
               (FAIRNESS_WEIGHT when the tukang never had an offer)

ties: fewer jobs done first, then the lower user id. Skills and areas are JSON lists, so the
last two filters run in Python: portable between SQLite and PostgreSQL, and a city's few
hundred tukang are cheap to scan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.clock import as_utc
from storage.models import Offer, Skill, SkillCategory, TukangProfile, User

PRIOR_MEAN = 4.0  # what we assume of a tukang nobody has rated yet
PRIOR_WEIGHT = 3  # ... worth this many ratings
FAIRNESS_HOURS = 72.0  # after three days without an offer a tukang gets the full bonus
FAIRNESS_WEIGHT = 1.0  # the bonus, in rating stars


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
    """A bonus that grows with the time since the tukang's last offer."""
    if last_offer_at is None:
        return FAIRNESS_WEIGHT
    hours = max(0.0, (now - as_utc(last_offer_at)).total_seconds() / 3600)
    return FAIRNESS_WEIGHT * min(hours, FAIRNESS_HOURS) / FAIRNESS_HOURS


def priority(profile: TukangProfile, now: datetime) -> float:
    return bayes(profile.rating_sum, profile.rating_count) + fairness(profile.last_offer_at, now)


async def serving_skills(session: AsyncSession, category_id: int) -> set[str]:
    """The active skill codes that can serve a category."""
    rows = await session.execute(
        select(SkillCategory.skill_code).join(Skill, col(Skill.code) == SkillCategory.skill_code)
        .where(SkillCategory.category_id == category_id, col(Skill.active).is_(True)))
    return {r[0] for r in rows}


async def offered_for_job(session: AsyncSession, job_id: int) -> set[int]:
    """Tukang who already had an offer for this job (declined, expired, cancelled...)."""
    rows = await session.execute(select(Offer.tukang_id).where(Offer.job_id == job_id))
    return {r[0] for r in rows}


async def find_tukang(
    session: AsyncSession,
    *,
    category_id: int,
    kecamatan_code: str,
    today: date,
    now: datetime,
    exclude: Iterable[int] = (),
) -> list[Candidate]:
    """Every eligible tukang for a category in a kecamatan, best first."""
    serving = await serving_skills(session, category_id)
    if not serving:
        return []
    skip = set(exclude)
    rows = await session.execute(
        select(TukangProfile, User)
        .join(User, col(User.id) == TukangProfile.user_id)
        .where(User.status == "active", User.role == "tukang",
               TukangProfile.status == "active", col(TukangProfile.available).is_(True),
               TukangProfile.skk_valid_until >= today))
    found: list[Candidate] = []
    for profile, user in rows.all():
        if user.id is None or user.id in skip:
            continue
        skills = tuple(s for s in (profile.skills or []) if s in serving)
        if not skills or kecamatan_code not in (profile.areas or []):
            continue
        avg = profile.rating_sum / profile.rating_count if profile.rating_count else None
        found.append(Candidate(user_id=user.id, name=user.name, jenjang=profile.jenjang,
                               skill_codes=skills, rating_avg=avg,
                               rating_count=profile.rating_count, jobs_done=profile.jobs_done,
                               priority=priority(profile, now)))
    found.sort(key=lambda c: (-c.priority, c.jobs_done, c.user_id))
    return found


async def is_eligible(session: AsyncSession, *, user_id: int, category_id: int,
                      kecamatan_code: str, today: date, now: datetime) -> bool:
    """Whether one tukang still qualifies (between showing the list and the choice)."""
    return any(c.user_id == user_id for c in await find_tukang(
        session, category_id=category_id, kecamatan_code=kecamatan_code, today=today, now=now))
