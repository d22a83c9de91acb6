"""A tukang's profile card, as a warga sees it before choosing: name, photos, a few words of
their own, SKK jenjang and validity, service areas, jobs done, rating and the latest reviews.

Opened from any message by the action button `tukang.profile:<user id>` (`profile_button`),
or by a step that shows it among its own options (`profile_target` reads the id back); the
person stays at the step they were at. Only what the tukang publishes for warga is shown:
never their phone number, address or SKK number (the contacts come with an accepted offer,
flows/offers.py), and of a review only its stars, month and words, never who wrote it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from flows.context import Context
from flows.offers import PROFILE_ACTION as ACTION
from flows.parsing import clip, dmy, row_id
from flows.steps import Next
from flows.table import Registry
from flows.tukang_reg import kecamatan_names, skill_names
from storage.clock import local
from storage.models import Rating, TukangProfile, User

REVIEWS_SHOWN = 3
REVIEW_CHARS = 120


def profile_target(choice_id: str) -> int | None:
    """The tukang a `profile_button` id names ("tukang.profile:12" -> 12), else None: for a
    step that offers the button among its own options and opens the card itself."""
    name, _, arg = choice_id.partition(":")
    return row_id(arg) if name == ACTION else None


def photos_of(profile: TukangProfile) -> list[str]:
    """The files a card shows: the profile photo first, then the photos of past work."""
    return [*([profile.photo] if profile.photo else []), *(profile.work_photos or [])]


async def show_profile(ctx: Context, tukang_id: int, *, preview: bool = False) -> bool:
    """Say the card of tukang `tukang_id`, its photos as media. False (after a friendly "not
    available") when they are no active tukang, or the reader is no warga; `preview` is the
    tukang looking at their own card, whatever their status."""
    s = await ctx.db()
    reader = await ctx.user()
    if not preview and (reader is None or reader.role != "warga"):
        ctx.say("profile.warga_only")
        return False
    if preview and tukang_id != ctx.conv.user_id:
        ctx.say("profile.not_available")
        return False
    row = (await s.execute(select(User, TukangProfile)
                           .join(TukangProfile, col(TukangProfile.user_id) == User.id)
                           .where(col(User.id) == tukang_id))).first()
    if row is None:
        ctx.say("profile.not_available")
        return False
    user, profile = row
    if not preview and (profile.status != "active" or user.status != "active"
                        or user.role != "tukang"):
        ctx.say("profile.not_available")
        return False
    ctx.say("profile.card", media=photos_of(profile), preview=preview,
            **await card_vars(ctx, user, profile))
    if not preview:
        await ctx.audit("tukang.profile_view", "user", tukang_id)
    return True


async def card_vars(ctx: Context, user: User, profile: TukangProfile) -> dict[str, Any]:
    """What the card reads: published profile data only."""
    s = await ctx.db()
    reviews = (await s.execute(
        select(Rating.score, Rating.comment, Rating.created_at)
        .where(col(Rating.tukang_id) == profile.user_id, col(Rating.comment) != "")
        .order_by(col(Rating.created_at).desc(), col(Rating.id).desc())
        .limit(REVIEWS_SHOWN))).all()
    count = profile.rating_count
    return {
        "name": user.name,
        "bio": profile.bio or "",
        "skills": ", ".join(await skill_names(ctx, list(profile.skills or []))) or "-",
        "jenjang": profile.jenjang,
        "valid_until": dmy(profile.skk_valid_until),
        "expired": profile.skk_valid_until < ctx.today,
        "areas": ", ".join(await kecamatan_names(ctx, list(profile.areas or []))) or "-",
        "jobs": profile.jobs_done,
        "rating": f"{profile.rating_sum / count:.1f}" if count else "",
        "count": count,
        "photos": len(photos_of(profile)),
        "reviews": [{"stars": "⭐" * max(1, min(5, int(score))),
                     "date": dmy(local(at).date()),
                     "text": clip(" ".join(str(comment).split()), REVIEW_CHARS)}
                    for score, comment, at in reviews],
    }


async def _action(ctx: Context, arg: str) -> Next:
    """The button: the card, then the question the person was at, asked again."""
    tukang_id = row_id(arg)
    if tukang_id is None:
        ctx.say("profile.not_available")
        return None
    await show_profile(ctx, tukang_id)
    return None


def register(registry: Registry) -> None:
    registry.action(ACTION, _action)
