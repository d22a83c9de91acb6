"""After the job: the warga rates the tukang 1-5, with a comment (a job closed on the tukang's
word after the warga's silence may still be called not done here).

The rating feeds `TukangProfile.rating_sum/rating_count`, which the matching order reads.
A finished job nobody rated is recalled once by the scheduler (`Job.rating_reminder_at`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import Context, FlowConfig
from flows.deadlines import waking_only
from flows.offers import user_name
from flows.outbox import Outgoing
from flows.parsing import row_id
from flows.steps import HOME, GuardedChoice, Next, Text, clip_telling, keyed
from flows.survey import INVITE, invite_after_rating
from flows.table import Registry
from flows.types import Choice, Reprompt
from storage.models import Job, Rating, TukangProfile
from storage.sql import pk, rowcount

COMMENT_MAX = 500


async def _rated(s: AsyncSession, job_id: int) -> bool:
    return (await s.execute(
        select(pk(Rating.id)).where(Rating.job_id == job_id))).first() is not None


async def _job(ctx: Context) -> Job | None:
    raw = ctx.data.get("rate_job")
    if raw is None:
        return None
    job = await (await ctx.db()).get(Job, int(raw), populate_existing=True)
    return job if job is not None and job.warga_id == ctx.conv.user_id else None


async def _has_job(ctx: Context) -> bool:
    return await _job(ctx) is not None


async def _can_rate(ctx: Context) -> Job | None:
    """The job to rate, or None after telling the warga why not."""
    job = await _job(ctx)
    if job is None:
        ctx.say("job.not_found")
        return None
    if await _rated(await ctx.db(), job.id or 0):
        ctx.say("rating.already", code=job.code)
        return None
    if job.status != "done" or job.tukang_id is None:
        ctx.say("rating.not_done_yet", code=job.code)
        return None
    return job


class Score(GuardedChoice):
    """The 1-5 question; a job that cannot be rated (gone, rated, not done) goes to the menu."""

    async def enter(self, ctx: Context) -> Next:
        if await _can_rate(ctx) is None:
            ctx.clear_flow_data()
            return HOME
        return await super().enter(ctx)


async def _score_vars(ctx: Context) -> dict[str, object]:
    job = await _job(ctx)
    s = await ctx.db()
    return {"code": job.code if job else "-",
            "name": await user_name(s, job.tukang_id if job else None)}


async def _score_options(ctx: Context) -> list[Choice]:
    opts = [Choice(str(i), ctx.t(f"rating.score_{i}")) for i in range(1, 6)]
    job = await _job(ctx)
    if ctx.data.get("rate_confirm") and job is not None and job.done_by == "tukang":
        # closed on the tukang's word after the warga's silence: the warga may still say no
        opts.append(Choice("not_done", ctx.t("rating.choice_not_done")))
    opts.append(Choice("later", ctx.t("rating.choice_later")))
    return opts


async def _scored(ctx: Context, choice: Choice) -> Next:
    if choice.id == "later":
        ctx.clear_flow_data()
        ctx.say("rating.later")
        return HOME
    if choice.id == "not_done":
        return await _not_done(ctx)
    if choice.id not in {"1", "2", "3", "4", "5"}:
        raise Reprompt("rating.score_help")
    ctx.data["rate_score"] = int(choice.id)
    return "rating.comment"


async def _not_done(ctx: Context) -> Next:
    """The tukang said done, the warga says not yet: back to in progress, the tukang told."""
    job = await _job(ctx)
    s = await ctx.db()
    ctx.clear_flow_data()
    if job is None:
        ctx.say("job.not_found")
        return HOME
    back = await s.execute(
        update(Job).where(col(Job.id) == job.id, col(Job.status) == "done",
                          ~exists().where(col(Rating.job_id) == Job.id))
        .values(status="in_progress", done_at=None, done_by=None, rating_reminder_at=None)
        .execution_options(synchronize_session=False))
    if rowcount(back) != 1 or job.tukang_id is None:
        ctx.say("rating.already", code=job.code)
        return HOME
    await s.execute(update(TukangProfile).where(col(TukangProfile.user_id) == job.tukang_id)
                    .values(jobs_done=TukangProfile.jobs_done - 1)
                    .execution_options(synchronize_session=False))
    await ctx.notify(job.tukang_id, "rating.not_done_tukang", code=job.code,
                     name=await user_name(s, job.warga_id))
    await ctx.audit("job.not_done", "job", job.id)
    ctx.say("rating.not_done_ok", code=job.code)
    return HOME


async def _valid_comment(ctx: Context, text: str) -> str:
    return clip_telling(ctx, " ".join(text.split()), COMMENT_MAX, "rating.comment_cut")


async def _save(ctx: Context, comment: str) -> Next:
    job = await _can_rate(ctx)
    score = int(ctx.data.get("rate_score", 0))
    ctx.clear_flow_data()
    if job is None or job.tukang_id is None or not 1 <= score <= 5:
        return HOME
    s = await ctx.db()
    rating = Rating(job_id=job.id or 0, warga_id=job.warga_id, tukang_id=job.tukang_id,
                    score=score, comment=comment, created_at=ctx.now)
    s.add(rating)
    await s.flush()
    await s.execute(update(TukangProfile).where(col(TukangProfile.user_id) == job.tukang_id)
                    .values(rating_sum=TukangProfile.rating_sum + score,
                            rating_count=TukangProfile.rating_count + 1)
                    .execution_options(synchronize_session=False))
    await s.execute(update(Job).where(col(Job.id) == job.id).values(rating_reminder_at=None)
                    .execution_options(synchronize_session=False))
    await ctx.audit("rating.create", "job", job.id, score=score)
    await ctx.notify(job.tukang_id, "rating.received", code=job.code, score=score)
    ctx.say("rating.thanks", code=job.code, score=score)
    return await invite_after_rating(ctx) or HOME


async def _no_comment(ctx: Context, choice: Choice) -> Next:
    return await _save(ctx, "")


async def _start(ctx: Context, arg: str) -> Next:
    job_id = row_id(arg)
    if job_id is None:
        ctx.say("job.not_found")
        return None
    ctx.clear_flow_data()
    ctx.data["rate_job"] = job_id
    ctx.data["rate_confirm"] = True
    return "rating.score"


async def rating_reminders(session: AsyncSession, now: datetime, out: Outgoing,
                           config: FlowConfig) -> int:
    """Finished jobs still unrated at their reminder time: the warga is asked once more."""
    due = (await session.execute(select(Job).where(
        Job.status == "done", col(Job.rating_reminder_at).is_not(None),
        col(Job.rating_reminder_at) <= now, ~exists().where(col(Rating.job_id) == Job.id))
        .order_by(col(Job.id)).limit(200))).scalars().all()
    for job in due:
        job.rating_reminder_at = None
        await out.notify(session, job.warga_id, "rating.reminder",
                         actions=[Choice(f"rating.start:{job.id}", "rating.choice_rate")],
                         code=job.code, name=await user_name(session, job.tukang_id))
    await session.flush()
    return len(due)


def register(registry: Registry) -> None:
    registry.add(
        Score(name="rating.score", key="rating.ask_score", vars=_score_vars,
              options=_score_options, then=_scored, help="rating.score_help", check=_has_job,
              goes_to=(HOME, "rating.comment")),
        Text(name="rating.comment", key="rating.ask_comment", validate=_valid_comment,
             then=_save, options=keyed(("skip", "choice.skip")), on_choice=_no_comment,
             help="rating.comment_help", goes_to=(HOME, INVITE)),
    )
    registry.action("rating.start", _start, goes_to=("rating.score",))
    registry.timer("rating_reminders", waking_only(rating_reminders))
