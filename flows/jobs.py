"""Own jobs: "Pesanan saya" for the warga, "Pekerjaan saya" for the tukang.

Every status change is a conditional update on the job's current status, so a warga cancelling
while the tukang marks the job done has one winner, and the other is told.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import Context, FlowConfig
from flows.deadlines import waking_only
from flows.offers import (
    ASKING,
    DECLINE_CONFIRM,
    LIVE,
    OPEN,
    WORKING,
    accept_offer,
    choose_offer,
    decline_offer,
    job_vars,
    kecamatan_name,
    unsend_offer,
    user_name,
    when,
)
from flows.outbox import Outgoing
from flows.parsing import clip, row_id
from flows.steps import (
    HOME,
    ChooseOne,
    GuardedChoice,
    GuardedConfirm,
    GuardedText,
    Next,
    Text,
    clip_telling,
)
from flows.table import MenuEntry, Registry
from flows.types import Choice, Reprompt
from storage.models import AuditLog, Job, Offer, Rating, TukangProfile, User
from storage.reads import Read
from storage.sql import pk, rowcount

CODE = re.compile(r"^\s*J-\d{4}-\d{4,}\s*$", re.IGNORECASE)  # a job's code, typed anywhere
OPEN_ACTION = "job.open"
UNFINISHED = "jobs.unfinished_reason"  # "Belum selesai": what is missing, for the tukang
RATING_REMINDER = timedelta(hours=24)  # an unrated finished job is recalled once, a day later
FINISH_WAIT = timedelta(days=3)  # a tukang's "selesai" left unanswered by the warga closes then
LIST_LIMIT = 10
AGAIN = "again_tukang"  # a booking for one tukang, "Pesan lagi" (read by flows/booking.py)
OFFER_LABELS = {"pending": "job.status_new_offer", "willing": "job.status_willing"}
REASON_MAX = 300


def status_label(ctx: Context, status: str) -> str:
    return ctx.t(f"job.status_{status}")


# --- shared changes ---------------------------------------------------------------------------


async def cancel_job(ctx: Context, job_id: int) -> bool:
    """The warga cancels (any time before done): pending offers end, the tukang is told."""
    s = await ctx.db()
    done = await s.execute(
        update(Job).where(col(Job.id) == job_id, col(Job.warga_id) == ctx.conv.user_id,
                          col(Job.status).in_(LIVE))
        .values(status="cancelled", cancelled_by="warga", notify_when_available=False,
                choose_by=None)
        .execution_options(synchronize_session=False))
    job = await s.get(Job, job_id, populate_existing=True)
    if rowcount(done) != 1 or job is None:
        return False
    pending = (await s.execute(select(Offer).where(
        Offer.job_id == job_id, col(Offer.status).in_(ASKING)))).scalars().all()
    for offer in pending:
        cut = await s.execute(update(Offer)
                              .where(col(Offer.id) == offer.id, col(Offer.status).in_(ASKING))
                              .values(status="cancelled", decided_at=ctx.now)
                              .execution_options(synchronize_session=False))
        if rowcount(cut) == 1 and not await unsend_offer(s, offer):
            await ctx.notify(offer.tukang_id, "offer.cancelled_tukang", code=job.code)
    if job.tukang_id is not None:
        await ctx.notify(job.tukang_id, "job.cancelled_by_warga", code=job.code,
                         name=await user_name(s, job.warga_id))
    await ctx.audit("job.cancel", "job", job_id, by="warga")
    return True


async def close_job(session: AsyncSession, job_id: int, now: datetime, *, by: str,
                    warga_id: int | None = None) -> Job | None:
    """A taken job done: by the warga (who marked or confirmed it), or by the tukang when the
    warga left their "selesai" unanswered for `FINISH_WAIT` (`done_by` tells the report)."""
    mine = (col(Job.warga_id) == warga_id,) if warga_id is not None else ()
    done = await session.execute(
        update(Job).where(col(Job.id) == job_id, col(Job.status).in_(WORKING), *mine)
        .values(status="done", done_at=now, done_by=by, finish_asked_at=None,
                rating_reminder_at=now + RATING_REMINDER)
        .execution_options(synchronize_session=False))
    job = await session.get(Job, job_id, populate_existing=True)
    if rowcount(done) != 1 or job is None or job.tukang_id is None:
        return None
    await session.execute(update(TukangProfile).where(col(TukangProfile.user_id) == job.tukang_id)
                          .values(jobs_done=TukangProfile.jobs_done + 1)
                          .execution_options(synchronize_session=False))
    return job


def finish_buttons(job_id: int) -> list[Choice]:
    """The warga's answer to a tukang's "selesai": yes (then the rating), or not yet."""
    return [Choice(f"job.finished:{job_id}", "job.choice_finished"),
            Choice(f"job.unfinished:{job_id}", "job.choice_unfinished")]


async def mark_done(ctx: Context, job_id: int, *, by: str) -> bool:
    """The warga marks a taken job done (or confirms the tukang's "selesai"): done, the
    tukang told. The tukang's "selesai" only asks the warga (`ask_finished`)."""
    if by == "tukang":
        return await ask_finished(ctx, job_id)
    s = await ctx.db()
    job = await close_job(s, job_id, ctx.now, by="warga", warga_id=ctx.conv.user_id)
    if job is None or job.tukang_id is None:
        return False
    await ctx.notify(job.tukang_id, "job.done_by_warga", code=job.code,
                     name=await user_name(s, job.warga_id))
    await ctx.audit("job.done", "job", job_id, by="warga")
    return True


async def ask_finished(ctx: Context, job_id: int) -> bool:
    """The tukang says the work is done: the warga is asked "Sudah selesai?" (Ya / Belum);
    no answer in `FINISH_WAIT` closes it as done by the tukang (`jobs_finish_auto`)."""
    s = await ctx.db()
    asked = await s.execute(
        update(Job).where(col(Job.id) == job_id, col(Job.tukang_id) == ctx.conv.user_id,
                          col(Job.status).in_(WORKING), col(Job.finish_asked_at).is_(None))
        .values(finish_asked_at=ctx.now).execution_options(synchronize_session=False))
    job = await s.get(Job, job_id, populate_existing=True)
    if rowcount(asked) != 1 or job is None:
        return False
    await ctx.notify(job.warga_id, "job.finish_ask", actions=finish_buttons(job_id),
                     code=job.code, name=await user_name(s, job.tukang_id),
                     days=FINISH_WAIT.days)
    await ctx.audit("job.finish_ask", "job", job_id)
    return True


async def jobs_finish_auto(session: AsyncSession, now: datetime, out: Outgoing,
                           config: FlowConfig) -> int:
    """A tukang's "selesai" the warga left unanswered for `FINISH_WAIT`: done, recorded as
    done by the tukang; the warga may still rate it."""
    due = (await session.execute(select(pk(Job.id)).where(
        col(Job.status).in_(WORKING), col(Job.finish_asked_at).is_not(None),
        col(Job.finish_asked_at) <= now - FINISH_WAIT).order_by(col(Job.id)).limit(200)
    )).scalars().all()
    closed = 0
    for job_id in due:
        job = await close_job(session, job_id, now, by="tukang")
        if job is None or job.tukang_id is None:
            continue
        name = await user_name(session, job.tukang_id)
        await out.notify(session, job.warga_id, "job.finish_auto_warga",
                         actions=[Choice(f"rating.start:{job_id}", "rating.choice_rate")],
                         code=job.code, name=name, days=FINISH_WAIT.days)
        await out.notify(session, job.tukang_id, "job.finish_auto_tukang", code=job.code)
        session.add(AuditLog(actor="system", action="job.done", subject_type="job",
                             subject_id=job_id, detail={"by": "tukang", "auto": True},
                             channel="", at=now))
        closed += 1
    await session.flush()
    return closed


async def _job(ctx: Context, key: str, *, owner: str) -> Job | None:
    """The job named in the conversation data, if it belongs to this person."""
    raw = ctx.data.get(key)
    if raw is None:
        return None
    job = await (await ctx.db()).get(Job, int(raw), populate_existing=True)
    if job is None:
        return None
    me = ctx.conv.user_id
    if (owner == "warga" and job.warga_id != me) or (owner == "tukang" and job.tukang_id != me):
        return None
    return job


async def _warga_job(ctx: Context) -> bool:
    return await _job(ctx, "job", owner="warga") is not None


async def _tukang_job(ctx: Context) -> bool:
    return await _job(ctx, "job", owner="tukang") is not None


async def _offer_or_job(ctx: Context) -> bool:
    return await _work_offer(ctx) is not None or await _tukang_job(ctx)


def _lost(ctx: Context, job: Job | None) -> Next:
    """The job changed under us (cancelled by the other side, already done...)."""
    if job is None:
        ctx.say("job.not_found")
        return HOME
    ctx.say("job.changed", code=job.code, status=status_label(ctx, job.status))
    return None


# --- warga: Pesanan saya ----------------------------------------------------------------------


_MY_JOBS = Read(select(pk(Job.id), Job.code, Job.status)
                .where(Job.warga_id == bindparam("user"))
                .order_by(col(Job.id).desc()).limit(LIST_LIMIT))


async def _my_jobs(ctx: Context) -> list[tuple[int, str, str]]:
    """(id, code, status) of the person's newest jobs, read on every "Pesanan saya": a `Read`
    on the driver, not ORM objects."""
    return [(r[0], r[1], r[2]) for r in await ctx.rows(_MY_JOBS, user=ctx.conv.user_id)]


class JobList(ChooseOne):
    """A list that says so and returns to the menu when there is nothing to list."""

    empty: str = "job.none_yet"
    exits = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        options = await self.options(ctx)
        if not [c for c in options if c.id != "home"]:
            ctx.say(self.empty)
            return HOME
        self.hold(ctx, options)
        return await super().enter(ctx)


async def _mine_options(ctx: Context) -> list[Choice]:
    jobs = [Choice(str(job_id), f"{code} · {status_label(ctx, status)}")
            for job_id, code, status in await _my_jobs(ctx)]
    return [*jobs, Choice("home", ctx.t("job.choice_home"))] if jobs else []


async def _mine_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "home":
        return HOME
    ctx.data["job"] = int(choice.id)
    return "jobs.detail"


async def _has_rating(ctx: Context, job_id: int) -> bool:
    s = await ctx.db()
    return (await s.execute(
        select(pk(Rating.id)).where(Rating.job_id == job_id))).first() is not None


async def _detail_vars(ctx: Context) -> dict[str, object]:
    job = await _job(ctx, "job", owner="warga")
    if job is None:
        raise LookupError("job gone")
    s = await ctx.db()
    out: dict[str, object] = {**await job_vars(s, job), "address": job.address,
                              "status": status_label(ctx, job.status),
                              "tukang": "", "phone": "", "asked": [],
                              "finish_asked": job.status in WORKING
                              and job.finish_asked_at is not None}
    if job.tukang_id is not None:
        tukang = await s.get(User, job.tukang_id)
        out["tukang"] = tukang.name if tukang else "-"
        out["phone"] = (tukang.phone or "-") if tukang and job.status in WORKING else ""
    if job.status == "offered":
        out["asked"] = [{"name": await user_name(s, o.tukang_id), "willing": o.status == "willing",
                         "expires": when(o.expires_at)} for o in await _asked(ctx, job)]
    return out


async def _asked(ctx: Context, job: Job) -> list[Offer]:
    """The tukang still asked for a job, in the order they were asked."""
    return list((await (await ctx.db()).execute(select(Offer).where(
        Offer.job_id == job.id, col(Offer.status).in_(ASKING)).order_by(col(Offer.id))
    )).scalars().all())


async def _detail_options(ctx: Context) -> list[Choice]:
    job = await _job(ctx, "job", owner="warga")
    if job is None:
        return [Choice("back", ctx.t("job.choice_back"))]
    # fixed by kind (docs/conversations.md): the step's own action first (choose, ask more,
    # done, book again), then Batalkan, the rating, Kembali; who said yes last
    opts: list[tuple[str, str]] = []
    if job.status == "open":
        opts.append(("pick", "job.choice_pick"))
    if job.status == "offered":
        opts.append(("pick", "job.choice_ask_more"))
    if job.status in WORKING:
        opts.append(("done", "job.choice_mark_done"))
    if job.status == "done":
        opts.append(("again", "job.choice_again"))
    if job.status in LIVE:
        opts.append(("cancel", "job.choice_cancel"))
    if job.status in WORKING and job.finish_asked_at is not None:
        opts.append(("unfinished", "job.choice_unfinished"))
    if job.status == "done" and not await _has_rating(ctx, job.id or 0):
        opts.append(("rate", "rating.choice_rate"))
    opts.append(("back", "job.choice_back"))
    willing = [o for o in await _asked(ctx, job) if o.status == "willing"] \
        if job.status == "offered" else []
    s = await ctx.db()
    shown = [Choice(i, ctx.t(k)) for i, k in opts]
    for o in willing:
        shown.append(Choice(f"w{o.id}", ctx.t("job.choice_choose",
                                              name=await user_name(s, o.tukang_id))))
    return shown


class JobDetail(GuardedChoice):
    async def enter(self, ctx: Context) -> Next:
        if await _job(ctx, "job", owner="warga") is None:
            ctx.say("job.not_found")
            return HOME
        return await super().enter(ctx)


async def _detail_chosen(ctx: Context, choice: Choice) -> Next:
    job = await _job(ctx, "job", owner="warga")
    if job is None:
        return _lost(ctx, job)
    if choice.id == "back":
        return "jobs.mine"
    if choice.id == "pick":
        if job.status not in OPEN:
            return _lost(ctx, job) or "jobs.detail"
        asked = job.status != "open"
        ctx.clear_flow_data()
        ctx.data["job_id"] = job.id
        if asked:
            ctx.data["asked"] = True  # flows.booking ASKED: "Cukup" under the list
        return "booking.pick"
    if choice.id.startswith("w"):
        await choose_offer(ctx, int(choice.id[1:]))
        return HOME
    if choice.id == "again":
        return await book_again(ctx, job)
    if choice.id == "unfinished":
        return UNFINISHED if job.status in WORKING else (_lost(ctx, job) or "jobs.detail")
    if choice.id == "cancel":
        return "jobs.cancel_confirm" if job.status in LIVE else (_lost(ctx, job) or "jobs.detail")
    if choice.id == "done":
        return "jobs.done_confirm" if job.status in WORKING else (_lost(ctx, job) or "jobs.detail")
    if choice.id == "rate":
        ctx.data["rate_job"] = job.id
        return "rating.score"
    return None


async def book_again(ctx: Context, job: Job) -> Next:
    """"Pesan lagi tukang ini": a new request told as usual, then sent straight to the tukang
    of this finished job (flows/booking.py `AGAIN`); the usual checks (active, SKK valid,
    serving the kind and the kecamatan) are made when it is sent, and again here so nobody
    describes a job for a tukang who cannot take it."""
    s = await ctx.db()
    profile = (await s.execute(select(TukangProfile).where(
        TukangProfile.user_id == job.tukang_id))).scalar_one_or_none()
    name = await user_name(s, job.tukang_id)
    if profile is None or profile.status != "active" or profile.skk_valid_until < ctx.today:
        ctx.say("job.again_unavailable", name=name)
        return "jobs.detail"
    ctx.clear_flow_data()
    ctx.data[AGAIN] = job.tukang_id
    ctx.say("job.again_start", name=name)
    return "booking.category"


async def own_job(ctx: Context, arg: str) -> Job | None:
    """The warga's own job named by a button's argument, or None after saying it is gone."""
    job_id = row_id(arg)
    s = await ctx.db()
    job = await s.get(Job, job_id, populate_existing=True) if job_id is not None else None
    if job is None or job.warga_id != ctx.conv.user_id:
        ctx.say("job.not_found")
        return None
    return job


async def _again_action(ctx: Context, arg: str) -> Next:
    job = await own_job(ctx, arg)
    if job is None:
        return None
    if job.status != "done":
        ctx.say("job.not_found")
        return None
    ctx.data["job"] = job.id
    return await book_again(ctx, job)


def _code_vars(owner: str) -> Callable[[Context], Awaitable[dict[str, object]]]:
    """The code of the job a confirmation asks about, for its owner ("warga" or "tukang")."""

    async def code(ctx: Context) -> dict[str, object]:
        job = await _job(ctx, "job", owner=owner)
        return {"code": job.code if job else "-"}

    return code


async def _cancel_yes(ctx: Context) -> Next:
    job = await _job(ctx, "job", owner="warga")
    if job is None or not await cancel_job(ctx, job.id or 0):
        _lost(ctx, job)
        return "jobs.detail" if job else HOME
    ctx.say("job.cancelled", code=job.code)
    ctx.clear_flow_data()
    return HOME


async def _back_to_detail(ctx: Context) -> Next:
    return "jobs.detail"


async def _done_yes(ctx: Context) -> Next:
    job = await _job(ctx, "job", owner="warga")
    if job is None or not await mark_done(ctx, job.id or 0, by="warga"):
        _lost(ctx, job)
        return "jobs.detail" if job else HOME
    ctx.clear_flow_data()
    ctx.data["rate_job"] = job.id
    return "rating.score"


# --- tukang: Pekerjaan saya -------------------------------------------------------------------


async def _work_options(ctx: Context) -> list[Choice]:
    s = await ctx.db()
    me = ctx.conv.user_id
    offers = (await s.execute(
        select(Offer, Job).join(Job, col(Job.id) == Offer.job_id)
        .where(Offer.tukang_id == me, or_(
            and_(col(Offer.status) == "pending", col(Offer.expires_at) > ctx.now),
            col(Offer.status) == "willing"))
        .order_by(col(Offer.id)))).all()
    jobs = (await s.execute(select(Job).where(Job.tukang_id == me)
                            .order_by(col(Job.id).desc()).limit(LIST_LIMIT))).scalars().all()
    active = [j for j in jobs if j.status in WORKING]
    rest = [j for j in jobs if j.status not in WORKING][:5]
    opts = [Choice(f"o{o.id}", f"{j.code} · {ctx.t(OFFER_LABELS[o.status])}") for o, j in offers]
    opts += [Choice(f"j{j.id}", f"{j.code} · {status_label(ctx, j.status)}")
             for j in [*active, *rest]]
    return [*opts, Choice("home", ctx.t("job.choice_home"))] if opts else []


async def _work_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "home":
        return HOME
    ctx.data.pop("w_offer", None)
    ctx.data.pop("job", None)
    if choice.id.startswith("o"):
        ctx.data["w_offer"] = int(choice.id[1:])
    else:
        ctx.data["job"] = int(choice.id[1:])
    return "jobs.work_detail"


async def _work_offer(ctx: Context) -> tuple[Offer, Job] | None:
    raw = ctx.data.get("w_offer")
    if raw is None:
        return None
    s = await ctx.db()
    offer = await s.get(Offer, int(raw), populate_existing=True)
    if offer is None or offer.tukang_id != ctx.conv.user_id:
        return None
    job = await s.get(Job, offer.job_id, populate_existing=True)
    return (offer, job) if job else None


async def _work_vars(ctx: Context) -> dict[str, object]:
    s = await ctx.db()
    pair = await _work_offer(ctx)
    if pair is not None:
        offer, offered = pair
        return {**await job_vars(s, offered),
                "status": ctx.t(OFFER_LABELS.get(offer.status, "job.status_new_offer")),
                "expires": when(offer.expires_at), "name": "", "phone": "", "address": ""}
    job = await _job(ctx, "job", owner="tukang")
    if job is None:
        raise LookupError("job gone")
    warga = await s.get(User, job.warga_id)
    show = job.status in (*WORKING, "done")
    return {**await job_vars(s, job), "status": status_label(ctx, job.status), "expires": "",
            "name": warga.name if warga and show else "",
            "phone": (warga.phone or "-") if warga and show else "",
            "address": job.address if show else ""}


async def _may_work(ctx: Context) -> bool:
    """Only an active tukang acts on offers and jobs: the Dinas may have suspended or removed
    them (their taken jobs went back to the warga then, flows.tukang_profile.take_back_jobs)."""
    s = await ctx.db()
    status = (await s.execute(select(TukangProfile.status).where(
        TukangProfile.user_id == ctx.conv.user_id))).scalar()
    return status == "active"


async def _work_detail_options(ctx: Context) -> list[Choice]:
    opts: list[tuple[str, str]] = []
    pair = await _work_offer(ctx)
    if not await _may_work(ctx):
        pass  # a stopped tukang only looks
    elif pair is not None and pair[0].status == "pending":
        opts += [("accept", "offer.choice_accept"), ("decline", "offer.choice_decline")]
    elif pair is not None:
        pass  # said yes: the warga chooses; nothing to do but wait
    else:
        # fixed order by kind (docs/conversations.md): "Tandai selesai" stays 1 and "Batalkan"
        # 2 for the whole of the work; "Mulai kerja", shown only before it starts, comes after
        job = await _job(ctx, "job", owner="tukang")
        if job is not None and job.status in WORKING:
            opts += [("done", "job.choice_mark_done"), ("cancel", "job.choice_cancel")]
        if job is not None and job.status == "accepted":
            opts.append(("start", "job.choice_start"))
    opts.append(("back", "job.choice_back"))
    return [Choice(i, ctx.t(k)) for i, k in opts]


class WorkDetail(GuardedChoice):
    async def enter(self, ctx: Context) -> Next:
        if await _work_offer(ctx) is None and await _job(ctx, "job", owner="tukang") is None:
            ctx.say("job.not_found")
            return HOME
        return await super().enter(ctx)


async def _work_detail_unlisted(ctx: Context, choice: Choice) -> Next:
    """A work button no longer shown (the screen shows a stopped tukang no actions): the
    reason, rather than the list's help."""
    if not await _may_work(ctx):
        ctx.say("complaint.tukang_stopped")
        return HOME
    raise Reprompt("help.choose")


async def _work_detail_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "back":
        return "jobs.work"
    if not await _may_work(ctx):
        ctx.say("complaint.tukang_stopped")
        return HOME
    pair = await _work_offer(ctx)
    if pair is not None:
        offer = pair[0]
        if choice.id == "accept":
            await accept_offer(ctx, offer.id or 0)
            return HOME
        if choice.id == "decline":  # cannot be undone: asked once more
            return DECLINE_CONFIRM
        return None
    job = await _job(ctx, "job", owner="tukang")
    if job is None:
        return _lost(ctx, job)
    s = await ctx.db()
    if choice.id == "start":
        began = await s.execute(update(Job)
                                .where(col(Job.id) == job.id, col(Job.status) == "accepted")
                                .values(status="in_progress")
                                .execution_options(synchronize_session=False))
        if rowcount(began) != 1:
            return _lost(ctx, await s.get(Job, job.id, populate_existing=True)) or "jobs.work"
        await ctx.notify(job.warga_id, "job.started_warga", code=job.code,
                         name=await user_name(s, job.tukang_id))
        await ctx.audit("job.start", "job", job.id)
        ctx.say("job.started", code=job.code)
        return "jobs.work_detail"
    if choice.id in ("done", "cancel"):
        if job.status not in WORKING:
            return _lost(ctx, job) or "jobs.work"
        return "jobs.work_done_confirm" if choice.id == "done" else "jobs.work_cancel_reason"
    return None


async def _work_done_yes(ctx: Context) -> Next:
    job = await _job(ctx, "job", owner="tukang")
    if job is not None and job.status in WORKING and job.finish_asked_at is not None:
        ctx.say("job.finish_already_asked", code=job.code)
        return "jobs.work_detail"
    if job is None or not await ask_finished(ctx, job.id or 0):
        _lost(ctx, job)
        return "jobs.work" if job else HOME
    ctx.say("job.done_tukang", code=job.code, days=FINISH_WAIT.days)
    ctx.clear_flow_data()
    return HOME


async def _finished_action(ctx: Context, arg: str) -> Next:
    """"Ya, sudah selesai" on the question a tukang's "selesai" asked: done, then the rating."""
    job = await _asked_job(ctx, arg)
    if job is None:
        return None
    ctx.data["job"] = job.id
    return await _done_yes(ctx)


async def _unfinished_action(ctx: Context, arg: str) -> Next:
    """"Belum": what is missing is asked, then the tukang told; the job stays taken."""
    job = await _asked_job(ctx, arg)
    if job is None:
        return None
    ctx.clear_flow_data()
    ctx.data["job"] = job.id
    return UNFINISHED


async def _asked_job(ctx: Context, arg: str) -> Job | None:
    """The warga's job a tukang's "selesai" asked about, still taken; else said why not."""
    job = await own_job(ctx, arg)
    if job is None:
        return None
    if job.status not in WORKING:
        _lost(ctx, job)
        return None
    return job


async def _valid_unfinished(ctx: Context, text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < 3:
        raise Reprompt("job.unfinished_short")
    return clip_telling(ctx, reason, REASON_MAX, "job.unfinished_cut")


async def _save_unfinished(ctx: Context, reason: str) -> Next:
    job = await _job(ctx, "job", owner="warga")
    s = await ctx.db()
    if job is None or job.status not in WORKING or job.tukang_id is None:
        return _lost(ctx, job)
    cleared = await s.execute(
        update(Job).where(col(Job.id) == job.id, col(Job.status).in_(WORKING))
        .values(finish_asked_at=None).execution_options(synchronize_session=False))
    if rowcount(cleared) != 1:  # closed meanwhile (the three days ran out)
        return _lost(ctx, await s.get(Job, job.id, populate_existing=True))
    await ctx.notify(job.tukang_id, "job.unfinished_tukang", code=job.code,
                     name=await user_name(s, job.warga_id), reason=reason)
    await ctx.audit("job.unfinished", "job", job.id)
    ctx.say("job.unfinished_warga", code=job.code, name=await user_name(s, job.tukang_id))
    ctx.clear_flow_data()
    return HOME


async def _back_to_work(ctx: Context) -> Next:
    return "jobs.work_detail"


async def _has_offer(ctx: Context) -> bool:
    return await _work_offer(ctx) is not None


async def _offer_code(ctx: Context) -> dict[str, object]:
    pair = await _work_offer(ctx)
    return {"code": pair[1].code if pair else "-"}


async def _decline_yes(ctx: Context) -> Next:
    """"Ya, tolak": the offer ends (the warga can choose again), then the reason is asked."""
    pair = await _work_offer(ctx)
    if pair is None or not await _may_work(ctx):
        ctx.say("offer.not_found")
        return HOME
    offer = pair[0]
    if await decline_offer(ctx, offer.id or 0):
        ctx.clear_flow_data()
        ctx.data["decline_offer"] = offer.id
        return "offer.decline_reason"
    return HOME


async def _valid_reason(ctx: Context, text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < 5 or len(reason.split()) < 2:
        raise Reprompt("job.reason_short")
    return clip(reason, REASON_MAX, mark="")


async def _cancel_reason(ctx: Context, reason: str) -> Next:
    """The reason first, then one more question: a cancelled job cannot be taken back."""
    ctx.data["cancel_reason"] = reason
    return "jobs.work_cancel_confirm"


async def _work_cancel_yes(ctx: Context) -> Next:
    return await _tukang_cancel(ctx, str(ctx.data.get("cancel_reason") or "-"))


async def _tukang_cancel(ctx: Context, reason: str) -> Next:
    """Cancelling a taken job is recorded against the tukang for the Dinas to see."""
    job = await _job(ctx, "job", owner="tukang")
    s = await ctx.db()
    if job is None:
        return _lost(ctx, job)
    done = await s.execute(
        update(Job).where(col(Job.id) == job.id, col(Job.tukang_id) == ctx.conv.user_id,
                          col(Job.status).in_(WORKING))
        .values(status="cancelled", cancelled_by="tukang", cancel_reason=reason)
        .execution_options(synchronize_session=False))
    if rowcount(done) != 1:
        _lost(ctx, await s.get(Job, job.id, populate_existing=True))
        return HOME
    await s.execute(update(TukangProfile).where(col(TukangProfile.user_id) == ctx.conv.user_id)
                    .values(cancellations=TukangProfile.cancellations + 1)
                    .execution_options(synchronize_session=False))
    await ctx.audit("job.cancel", "job", job.id, by="tukang", reason=reason)
    await ctx.notify(job.warga_id, "job.cancelled_by_tukang",
                     actions=[Choice(f"job.rebook:{job.id}", "job.choice_rebook")],
                     code=job.code, name=await user_name(s, job.tukang_id), reason=reason)
    ctx.say("job.cancelled_tukang", code=job.code)
    ctx.clear_flow_data()
    return HOME


async def _kec_vars(ctx: Context) -> dict[str, object]:
    job = await _job(ctx, "job", owner="tukang")
    s = await ctx.db()
    return {"code": job.code if job else "-",
            "kecamatan": await kecamatan_name(s, job.kecamatan_code if job else None)}


class WorkList(JobList):
    empty: str = "job.work_none"


# --- a job code typed anywhere (Registry.code) ---------------------------------------------------


async def open_code(ctx: Context, text: str) -> Next:
    """A job code typed at any step: the job, to its warga or its tukang, or the offer of it
    waiting for this tukang; anyone else is told it is not theirs (nothing about it shown)."""
    code = text.strip().upper()
    s = await ctx.db()
    job = (await s.execute(select(Job).where(Job.code == code))).scalar_one_or_none()
    me = ctx.conv.user_id
    if job is not None and me is not None:
        if job.warga_id == me:
            ctx.clear_flow_data()
            ctx.data["job"] = job.id
            return "jobs.detail"
        if job.tukang_id == me:
            ctx.clear_flow_data()
            ctx.data["job"] = job.id
            return "jobs.work_detail"
        offer = (await s.execute(select(Offer).where(
            Offer.job_id == job.id, Offer.tukang_id == me, or_(
                and_(col(Offer.status) == "pending", col(Offer.expires_at) > ctx.now),
                col(Offer.status) == "willing")))).scalars().first()
        if offer is not None:
            ctx.clear_flow_data()
            ctx.data["w_offer"] = offer.id
            return "jobs.work_detail"
    ctx.say("job.code_unknown", code=code)
    return None


def register(registry: Registry) -> None:
    registry.add(
        JobList(name="jobs.mine", key="job.mine", options=_mine_options, then=_mine_chosen,
                goes_to=(HOME, "jobs.detail")),
        JobDetail(name="jobs.detail", key="job.detail", vars=_detail_vars,
                  options=_detail_options, then=_detail_chosen, check=_warga_job,
                  back="jobs.mine",
                  goes_to=(HOME, "jobs.mine", "jobs.detail", "booking.pick",
                           "jobs.cancel_confirm", "jobs.done_confirm", "rating.score",
                           "booking.category", UNFINISHED)),
        GuardedConfirm(name="jobs.cancel_confirm", key="job.cancel_confirm",
                       vars=_code_vars("warga"),
                       on_yes=_cancel_yes, on_no=_back_to_detail, check=_warga_job,
                       back="jobs.detail",
                       goes_to=(HOME, "jobs.detail")),
        GuardedConfirm(name="jobs.done_confirm", key="job.done_confirm",
                       vars=_code_vars("warga"),
                       on_yes=_done_yes, on_no=_back_to_detail, check=_warga_job,
                       back="jobs.detail",
                       goes_to=(HOME, "jobs.detail", "rating.score")),
        WorkList(name="jobs.work", key="job.work", options=_work_options, then=_work_chosen,
                 goes_to=(HOME, "jobs.work_detail")),
        WorkDetail(name="jobs.work_detail", key="job.work_detail", vars=_work_vars,
                   options=_work_detail_options, then=_work_detail_chosen,
                   unlisted=_work_detail_unlisted, check=_offer_or_job, back="jobs.work",
                   goes_to=(HOME, "jobs.work", "jobs.work_detail", DECLINE_CONFIRM,
                            "jobs.work_done_confirm", "jobs.work_cancel_reason")),
        GuardedConfirm(name="jobs.work_done_confirm", key="job.done_confirm",
                       vars=_code_vars("tukang"), on_yes=_work_done_yes, on_no=_back_to_work,
                       check=_tukang_job, back="jobs.work_detail",
                       goes_to=(HOME, "jobs.work", "jobs.work_detail")),
        Text(name="jobs.work_cancel_reason", key="job.ask_cancel_reason", vars=_kec_vars,
             validate=_valid_reason, then=_cancel_reason, help="job.reason_help",
             back="jobs.work_detail", goes_to=("jobs.work_cancel_confirm",)),
        GuardedConfirm(name="jobs.work_cancel_confirm", key="job.work_cancel_confirm",
                       vars=_code_vars("tukang"), on_yes=_work_cancel_yes,
                       on_no=_back_to_work, check=_tukang_job,
                       yes_label="job.choice_cancel_yes", no_label="job.choice_keep",
                       back="jobs.work_cancel_reason", goes_to=(HOME, "jobs.work_detail")),
        GuardedConfirm(name=DECLINE_CONFIRM, key="offer.decline_confirm", vars=_offer_code,
                       on_yes=_decline_yes, on_no=_back_to_work, check=_has_offer,
                       yes_label="offer.choice_decline_yes", no_label="offer.choice_keep",
                       back="jobs.work_detail",
                       goes_to=(HOME, "offer.decline_reason", "jobs.work_detail")),
        GuardedText(name=UNFINISHED, key="job.ask_unfinished", vars=_code_vars("warga"),
                    validate=_valid_unfinished, then=_save_unfinished,
                    help="job.unfinished_help", check=_warga_job, back="jobs.detail",
                    goes_to=(HOME,)),
    )
    registry.action("job.finished", _finished_action, goes_to=("rating.score", "jobs.detail"))
    registry.action("job.unfinished", _unfinished_action, goes_to=(UNFINISHED,))
    registry.timer("jobs_finish_auto", waking_only(jobs_finish_auto))
    registry.action("job.again", _again_action, goes_to=("jobs.detail", "booking.category"))
    registry.action(OPEN_ACTION, open_code, goes_to=("jobs.detail", "jobs.work_detail"))
    registry.code(CODE, OPEN_ACTION)
    registry.menu_entry(MenuEntry("jobs_mine", "job.menu_mine", "jobs.mine", roles=("warga",),
                                  position=20))
    registry.menu_entry(MenuEntry("jobs_work", "job.menu_work", "jobs.work", roles=("tukang",),
                                  position=10))
