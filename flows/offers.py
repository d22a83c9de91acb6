"""Offers: a warga's chosen tukang gets the job, accepts or declines it, or lets it expire.

Every change of an offer is a conditional update (`... WHERE status = 'pending'`), so a tukang
accepting while the warga cancels, or while the scheduler expires the offer, has exactly one
winner and the loser is told what happened (DESIGN.md "Atomic claims"). A tukang may hold
several pending offers from different warga at once; each is accepted on its own.

The tukang sees the job without the address and the warga's phone until they accept.

A warga may ask up to three tukang for one job (`ASKED_MAX`). While others are still asked, a
tukang's "Terima" only says they are willing (`willing`): the warga sees who, and confirms one
(`choose_offer`); nobody gets the address or a phone number before that. A warga who does not
confirm within `FlowConfig.choose_within` (waking time) gets the first who said yes
(`offers_choose`). A yes from the only tukang still asked is final at once, as with one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import ColumnElement, and_, exists, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import Context, FlowConfig
from flows.deadlines import waking
from flows.outbox import Outgoing, find_recipient, waking_due
from flows.parsing import clip, row_id
from flows.steps import HOME, Next, Text, keyed
from flows.table import Registry
from flows.types import Choice, Reprompt
from storage.clock import local
from storage.models import (
    AuditLog,
    Category,
    Conversation,
    Job,
    Kecamatan,
    Offer,
    Outbox,
    TukangProfile,
    User,
)
from storage.reference import cached
from storage.sql import pk, rowcount

OPEN = ("open", "offered")  # a job still looking for its tukang
LIVE = ("open", "offered", "accepted", "in_progress")  # a job that can still be cancelled
WORKING = ("accepted", "in_progress")  # a job a tukang has taken
ASKING = ("pending", "willing")  # offers still in play: the tukang may yet get the job
ASKED_MAX = 3  # tukang a warga may ask at once for one job
REASON_MAX = 300


# --- small shared helpers ---------------------------------------------------------------------


def when(value: datetime) -> str:
    """A time as Batam reads it, e.g. 23-11-2026 12:00 (the templates add WIB)."""
    return local(value).strftime("%d-%m-%Y %H:%M")


async def category_name(session: AsyncSession, category_id: int) -> str:
    cat = await session.get(Category, category_id)
    return cat.name if cat else "-"


async def kecamatan_list(session: AsyncSession, now: datetime) -> list[tuple[str, str]]:
    """Every kecamatan as (code, name), by name (reference data, kept in memory)."""

    async def load() -> list[tuple[str, str]]:
        rows = await session.execute(select(Kecamatan.code, Kecamatan.name)
                                     .order_by(col(Kecamatan.name)))
        return [(r[0], r[1]) for r in rows]

    return await cached(session, "kecamatan", now, load)


async def kecamatan_name(session: AsyncSession, code: str | None) -> str:
    kec = await session.get(Kecamatan, code) if code else None
    return kec.name if kec else "-"


async def user_name(session: AsyncSession, user_id: int | None) -> str:
    user = await session.get(User, user_id) if user_id else None
    return user.name if user else "-"


class JobVars(TypedDict):
    """The template variables `job_vars` fills (typed, so they can be passed as keywords)."""

    code: str
    category: str
    description: str
    kecamatan: str
    time: str


async def job_vars(session: AsyncSession, job: Job) -> JobVars:
    """What both sides read about a job (never the address or a phone number)."""
    return {"code": job.code, "category": await category_name(session, job.category_id),
            "description": job.description,
            "kecamatan": await kecamatan_name(session, job.kecamatan_code),
            "time": job.preferred_time or "-"}


async def ensure_conversation(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Make sure the person we notify has a conversation tied to them.

    A tukang activated by the Dinas (or seeded as a demo) may never have written to the bot;
    without a conversation row their Terima/Tolak buttons could not be typed as numbers, and
    their first message would start the warga onboarding. Their account is known, so the
    conversation starts at the menu.
    """
    rcpt = await find_recipient(session, user_id)
    user = await session.get(User, user_id)
    if rcpt is None or user is None:
        return
    conv = (await session.execute(select(Conversation).where(
        Conversation.channel == rcpt.channel, Conversation.address == rcpt.address)
    )).scalar_one_or_none()
    if conv is None:
        session.add(Conversation(channel=rcpt.channel, address=rcpt.address, user_id=user_id,
                                 flow="menu", step=HOME, data={"_role": user.role},
                                 locale=user.locale, version=0, updated_at=now))
    elif conv.user_id is None:
        conv.user_id, conv.flow, conv.step = user_id, "menu", HOME
        conv.data, conv.locale = {"_role": user.role}, user.locale
    else:
        return
    await session.flush()


PROFILE_ACTION = "tukang.profile"  # opens a tukang's card (flows/profile_view.py)


def profile_button(tukang_id: int) -> Choice:
    """The "Lihat profil" button for a message (`ctx.notify(actions=[...])`): the label is a
    message key, rendered in the reader's language."""
    return Choice(f"{PROFILE_ACTION}:{tukang_id}", "profile.choice_view")


def pick_again(job_id: int) -> list[Choice]:
    """The button that brings the warga back to the list of tukang for a job."""
    return [Choice(f"job.pick:{job_id}", "offer.choice_pick_again")]


async def asked_count(session: AsyncSession, job_id: int, now: datetime) -> int:
    """How many tukang are still asked for this job: willing, or pending and not past their
    deadline (an offer the expiry timer has not reached yet is over all the same)."""
    return int((await session.execute(select(func.count()).select_from(Offer).where(
        col(Offer.job_id) == job_id, or_(
            col(Offer.status) == "willing",
            and_(col(Offer.status) == "pending", col(Offer.expires_at) > now))))).scalar_one())


async def lock_job(session: AsyncSession, job_id: int) -> None:
    """The job's row first, then its offers (docs/jobs.md lock order): whoever changes an
    offer of a job holds the job, so `reopen` and the choice see each other's commits."""
    await session.execute(select(pk(Job.id)).where(col(Job.id) == job_id).with_for_update())


async def unsend_offer(session: AsyncSession, offer: Offer) -> bool:
    """An offer that ended while its message still waited for the morning (`waking_due`):
    the message is cancelled, so the tukang never gets buttons for a dead offer; True when
    it was (then nothing needs telling: they never saw it)."""
    done = await session.execute(
        update(Outbox).where(col(Outbox.user_id) == offer.tukang_id,
                             col(Outbox.key) == "offer.new", col(Outbox.status) == "queued",
                             col(Outbox.attempts) == 0,
                             col(Outbox.created_at) == offer.created_at,
                             col(Outbox.next_attempt_at) > col(Outbox.created_at))
        .values(status="cancelled").execution_options(synchronize_session=False))
    return rowcount(done) > 0


async def reopen(session: AsyncSession, job_id: int) -> bool:
    """The job looks for a tukang again once nobody asked is still in play (a decline, an
    expiry, a withdrawal); True when it did."""
    done = await session.execute(
        update(Job).where(col(Job.id) == job_id, col(Job.status) == "offered",
                          ~exists().where(col(Offer.job_id) == job_id,
                                          col(Offer.status).in_(ASKING)))
        .values(status="open", choose_by=None).execution_options(synchronize_session=False))
    return rowcount(done) == 1


# --- making an offer --------------------------------------------------------------------------


async def make_offer(ctx: Context, job: Job, tukang_id: int) -> Offer | None:
    """Offer `job` to a tukang; None when the job is no longer open for a choice."""
    s = await ctx.db()
    assert job.id is not None
    # the job first (docs/jobs.md lock order), so two picks count the asked alike
    await lock_job(s, job.id)
    if await asked_count(s, job.id, ctx.now) >= ASKED_MAX:
        return None
    claimed = await s.execute(update(Job).where(col(Job.id) == job.id, col(Job.status).in_(OPEN))
                              .values(status="offered").execution_options(
                                  synchronize_session=False))
    if rowcount(claimed) != 1:
        return None
    # the offer's time runs only in waking hours: sent at 22:00, three hours end at 09:00
    hours = waking(ctx.config)
    expires = hours.add(ctx.now, ctx.config.offer_ttl)
    offer = Offer(job_id=job.id, tukang_id=tukang_id, status="pending", created_at=ctx.now,
                  expires_at=expires)
    s.add(offer)
    await s.execute(update(TukangProfile).where(col(TukangProfile.user_id) == tukang_id)
                    .values(last_offer_at=ctx.now))
    await s.flush()
    await s.refresh(job)
    assert offer.id is not None
    await ensure_conversation(s, tukang_id, ctx.now)
    # chosen at 23:00: the tukang's phone stays quiet until morning (unless they are chatting)
    due = await waking_due(s, tukang_id, ctx.now, hours)
    await ctx.notify(tukang_id, "offer.new", media=list(job.photos or []),
                     hold_until=due,
                     actions=[Choice(f"offer.accept:{offer.id}", "offer.choice_accept"),
                              Choice(f"offer.decline:{offer.id}", "offer.choice_decline")],
                     photos=len(job.photos or []), expires=when(expires),
                     **await job_vars(s, job))
    ctx.say("offer.sent", name=await user_name(s, tukang_id), code=job.code,
            expires=when(expires))
    if expires > ctx.now + ctx.config.offer_ttl:  # the night stretched it: say why
        ctx.say("offer.deadline_night", expires=when(expires),
                start=hours.start.strftime("%H.%M"), end=hours.end.strftime("%H.%M"))
    await ctx.audit("offer.create", "offer", offer.id, job_id=job.id, tukang_id=tukang_id)
    return offer


# --- the tukang answers -----------------------------------------------------------------------


async def _explain_lost(ctx: Context, offer: Offer) -> None:
    """Why an offer can no longer be accepted or declined, in the tukang's words."""
    s = await ctx.db()
    job = await s.get(Job, offer.job_id, populate_existing=True)
    code = job.code if job else "-"
    if offer.status == "accepted":
        ctx.say("offer.already_accepted", code=code)
    elif offer.status == "willing":
        ctx.say("offer.already_willing", code=code)
    elif offer.status == "released":
        ctx.say("offer.released_tukang", code=code, willing=False)
    elif offer.status == "declined":
        ctx.say("offer.already_declined", code=code)
    elif offer.status == "cancelled" or (job is not None and job.status == "cancelled"):
        ctx.say("offer.was_cancelled", code=code)
    elif offer.status == "expired" or offer.expires_at <= ctx.now:
        ctx.say("offer.was_expired", code=code)
    else:
        ctx.say("offer.taken", code=code)


async def _own_offer(ctx: Context, arg: str) -> Offer | None:
    offer_id = row_id(arg)
    if offer_id is None:
        return None
    offer = await (await ctx.db()).get(Offer, offer_id, populate_existing=True)
    if offer is None or offer.tukang_id != ctx.conv.user_id:
        return None
    return offer


async def accept_offer(ctx: Context, offer_id: int) -> bool:
    """The atomic claim: pending, not expired, job still open. Both sides get the contacts."""
    s = await ctx.db()
    me = ctx.conv.user_id
    profile = (await s.execute(select(TukangProfile).where(TukangProfile.user_id == me))
               ).scalar_one_or_none()
    if profile is None or profile.status != "active":  # suspended since the offer was made
        ctx.say("offer.tukang_inactive")
        return False
    offer = await _answer_offer(ctx, offer_id, "willing",
                                col(Offer.job_id).in_(
                                    select(pk(Job.id)).where(col(Job.status).in_(OPEN))))
    if offer is None:
        return False
    job = await s.get(Job, offer.job_id, populate_existing=True)
    assert job is not None and job.id is not None
    others = await asked_count(s, job.id, ctx.now) - 1
    if others > 0:  # others still asked: the warga chooses
        await _willing(ctx, offer, job)
        return True
    given = await _give_job(s, ctx.out, offer_id, ctx.now, ctx)
    if given is None:
        await _explain_lost(ctx, await s.get(Offer, offer_id, populate_existing=True) or offer)
        return False
    await ctx.audit("offer.accept", "offer", offer_id, job_id=job.id)
    return True


async def _willing(ctx: Context, offer: Offer, job: Job) -> None:
    """A yes while others are asked: the warga sees who (and may confirm at once); the
    clock for choosing starts with the first yes."""
    s = await ctx.db()
    assert offer.id is not None and job.id is not None
    if job.choose_by is None:
        job.choose_by = waking(ctx.config).add(ctx.now, ctx.config.choose_within)
        await s.flush()
    profile = (await s.execute(select(TukangProfile).where(
        TukangProfile.user_id == offer.tukang_id))).scalar_one()
    name = await user_name(s, offer.tukang_id)
    ctx.say("offer.willing_tukang", code=job.code, until=when(job.choose_by))
    await ctx.notify(job.warga_id, "offer.willing_warga",
                     actions=[Choice(f"offer.choose:{offer.id}", "offer.choice_choose"),
                              profile_button(offer.tukang_id)],
                     code=job.code, name=name, jenjang=profile.jenjang,
                     rating=f"{profile.rating_sum / profile.rating_count:.1f}"
                     if profile.rating_count else "", count=profile.rating_count,
                     jobs=profile.jobs_done, until=when(job.choose_by))
    await ctx.audit("offer.willing", "offer", offer.id, job_id=job.id)


async def _tell(session: AsyncSession, out: Outgoing, actor: Context | None, user_id: int,
                key: str, **vars: Any) -> None:
    """A reply to whoever acted (in their conversation, first), a notification to the other."""
    if actor is not None and actor.conv.user_id == user_id:
        actor.say(key, **vars)
    else:
        await out.notify(session, user_id, key, **vars)


async def _give_job(session: AsyncSession, out: Outgoing, offer_id: int, now: datetime,
                    actor: Context | None = None) -> Job | None:
    """The offer (willing) becomes the job's tukang: the job is taken, both sides get the
    contacts, every other tukang still asked is released with thanks. None when the job
    moved on meanwhile (cancelled on another process): the offer is then given back and
    nobody gets an address or a phone number."""
    # the caller holds the job's row (`lock_job`); the offer is claimed first, so a Terima
    # withdrawn meanwhile (the Dinas stopped the tukang) never makes them the job's tukang
    won = await session.execute(
        update(Offer).where(col(Offer.id) == offer_id, col(Offer.status) == "willing")
        .values(status="accepted", decided_at=now).execution_options(synchronize_session=False))
    offer = await session.get(Offer, offer_id, populate_existing=True)
    assert offer is not None
    if rowcount(won) != 1:
        return None
    claimed = await session.execute(
        update(Job).where(col(Job.id) == offer.job_id, col(Job.status).in_(OPEN))
        .values(status="accepted", tukang_id=offer.tukang_id, accepted_at=now, choose_by=None)
        .execution_options(synchronize_session=False))
    if rowcount(claimed) != 1:  # the job moved on (cancelled): the offer ends with it
        await session.execute(update(Offer).where(col(Offer.id) == offer_id)
                              .values(status="cancelled")
                              .execution_options(synchronize_session=False))
        return None
    job = await session.get(Job, offer.job_id, populate_existing=True)
    assert job is not None
    others = (await session.execute(select(Offer).where(
        col(Offer.job_id) == job.id, col(Offer.status).in_(ASKING)))).scalars().all()
    for other in others:
        released = await session.execute(
            update(Offer).where(col(Offer.id) == other.id, col(Offer.status).in_(ASKING))
            .values(status="released", decided_at=now)
            .execution_options(synchronize_session=False))
        if rowcount(released) == 1 and not await unsend_offer(session, other):
            await out.notify(session, other.tukang_id, "offer.released_tukang", code=job.code,
                             willing=other.status == "willing")
    warga = await session.get(User, job.warga_id)
    tukang = await session.get(User, offer.tukang_id)
    assert warga is not None and tukang is not None
    await _tell(session, out, actor, offer.tukang_id, "offer.accepted_tukang", code=job.code,
                name=warga.name, phone=warga.phone or "-", address=job.address,
                kecamatan=await kecamatan_name(session, job.kecamatan_code),
                time=job.preferred_time or "-")
    await _tell(session, out, actor, job.warga_id, "offer.accepted_warga", code=job.code,
                name=tukang.name, phone=tukang.phone or "-")
    return job


async def choose_offer(ctx: Context, offer_id: int) -> bool:
    """The warga confirms one of the tukang who said yes."""
    s = await ctx.db()
    offer = await s.get(Offer, offer_id, populate_existing=True)
    job = await s.get(Job, offer.job_id, populate_existing=True) if offer else None
    if offer is None or job is None or job.warga_id != ctx.conv.user_id:
        ctx.say("offer.not_found")
        return False
    await lock_job(s, job.id or 0)
    offer = await s.get(Offer, offer_id, populate_existing=True)
    job = await s.get(Job, offer.job_id, populate_existing=True) if offer else None
    assert offer is not None and job is not None
    active = (await s.execute(select(TukangProfile.status).where(
        TukangProfile.user_id == offer.tukang_id))).scalar() == "active"
    if offer.status != "willing" or not active:
        if job.tukang_id is not None and job.status not in ("cancelled", "expired"):
            ctx.say("offer.chosen_already", code=job.code, name=await user_name(s, job.tukang_id))
        elif job.status in OPEN:  # the tukang was stopped by the Dinas since saying yes
            if offer.status == "willing":
                await s.execute(update(Offer).where(col(Offer.id) == offer_id)
                                .values(status="cancelled", decided_at=ctx.now)
                                .execution_options(synchronize_session=False))
                await reopen(s, job.id or 0)
            ctx.say("offer.choose_gone", code=job.code,
                    name=await user_name(s, offer.tukang_id))
        else:
            ctx.say("booking.not_open", code=job.code)
        return False
    if await _give_job(s, ctx.out, offer_id, ctx.now, ctx) is None:
        ctx.say("booking.not_open", code=job.code)
        return False
    await ctx.audit("offer.choose", "offer", offer_id, job_id=job.id, by="warga")
    return True


async def _answer_offer(ctx: Context, offer_id: int, status: str,
                        *conditions: ColumnElement[bool]) -> Offer | None:
    """The conditional update both answers share: this tukang's pending, unexpired offer
    becomes `status`; otherwise they are told why not (expired, cancelled, taken)."""
    s = await ctx.db()
    # the lock order of docs/jobs.md: the job first, then its offers (a cancel takes them in
    # that order too; offer-then-job deadlocked against it on PostgreSQL)
    await s.execute(select(pk(Job.id)).where(
        col(Job.id) == select(Offer.job_id).where(col(Offer.id) == offer_id).scalar_subquery())
        .with_for_update())
    won = await s.execute(
        update(Offer).where(col(Offer.id) == offer_id, col(Offer.tukang_id) == ctx.conv.user_id,
                            col(Offer.status) == "pending", col(Offer.expires_at) > ctx.now,
                            *conditions)
        .values(status=status, decided_at=ctx.now)
        .execution_options(synchronize_session=False))
    offer = await s.get(Offer, offer_id, populate_existing=True)
    if offer is None:
        ctx.say("offer.not_found")
        return None
    if rowcount(won) != 1:
        if offer.status == "pending" and offer.expires_at <= ctx.now:
            await expire_offer(s, ctx.out, offer_id, ctx.now, tell_tukang=False)
        await _explain_lost(ctx, offer)
        return None
    return offer


async def decline_offer(ctx: Context, offer_id: int) -> bool:
    """Declined at once (the warga can choose again); the reason is asked afterwards."""
    s = await ctx.db()
    offer = await _answer_offer(ctx, offer_id, "declined")
    if offer is None:
        return False
    reopened = await reopen(s, offer.job_id)
    job = await s.get(Job, offer.job_id, populate_existing=True)
    assert job is not None and job.id is not None
    await ctx.notify(job.warga_id, "offer.declined_warga",
                     actions=pick_again(job.id) if reopened else None, others=not reopened,
                     code=job.code, name=await user_name(s, offer.tukang_id))
    await ctx.audit("offer.decline", "offer", offer_id, job_id=job.id)
    return True


async def _accept_action(ctx: Context, arg: str) -> Next:
    offer = await _own_offer(ctx, arg)
    if offer is None:
        ctx.say("offer.not_found")
        return None
    await accept_offer(ctx, offer.id or 0)
    return None


# "Tolak" cannot be undone: the offer's button asks once more, at the same confirmation as
# "Pekerjaan saya" (flows/jobs.py DECLINE_CONFIRM; named here, as jobs imports this module)
DECLINE_CONFIRM = "jobs.decline_confirm"


async def _decline_action(ctx: Context, arg: str) -> Next:
    offer = await _own_offer(ctx, arg)
    if offer is None:
        ctx.say("offer.not_found")
        return None
    ctx.clear_flow_data()
    ctx.data["w_offer"] = offer.id
    return DECLINE_CONFIRM


async def _valid_reason(ctx: Context, text: str) -> str:
    reason = " ".join(text.split())
    if len(reason) < 3:
        raise Reprompt("offer.reason_short")
    return clip(reason, REASON_MAX, mark="")


async def _save_reason(ctx: Context, reason: str) -> Next:
    offer_id = ctx.data.pop("decline_offer", None)
    if offer_id is not None:
        s = await ctx.db()
        await s.execute(update(Offer).where(col(Offer.id) == int(offer_id),
                                            col(Offer.tukang_id) == ctx.conv.user_id)
                        .values(decline_reason=reason)
                        .execution_options(synchronize_session=False))
    ctx.say("offer.reason_thanks")
    return HOME


async def _skip_reason(ctx: Context, choice: Choice) -> Next:
    ctx.data.pop("decline_offer", None)
    ctx.say("offer.reason_thanks")
    return HOME


# --- expiry -----------------------------------------------------------------------------------


async def expire_offer(session: AsyncSession, out: Outgoing, offer_id: int,
                       now: datetime, *, tell_tukang: bool = True) -> bool:
    """Expire one due offer (if still pending); the warga may choose again."""
    job_id = (await session.execute(select(Offer.job_id).where(col(Offer.id) == offer_id))
              ).scalar()
    if job_id is None:
        return False
    await lock_job(session, job_id)
    done = await session.execute(
        update(Offer).where(col(Offer.id) == offer_id, col(Offer.status) == "pending",
                            col(Offer.expires_at) <= now)
        .values(status="expired", decided_at=now).execution_options(synchronize_session=False))
    if rowcount(done) != 1:
        return False
    offer = await session.get(Offer, offer_id, populate_existing=True)
    assert offer is not None
    reopened = await reopen(session, offer.job_id)
    job = await session.get(Job, offer.job_id, populate_existing=True)
    assert job is not None and job.id is not None
    name = await user_name(session, offer.tukang_id)
    if tell_tukang:
        await out.notify(session, offer.tukang_id, "offer.expired_tukang", code=job.code)
    if job.status in OPEN:
        await out.notify(session, job.warga_id, "offer.expired_warga",
                         actions=pick_again(job.id) if reopened else None, others=not reopened,
                         code=job.code, name=name)
    return True


async def offers_expire(session: AsyncSession, now: datetime, out: Outgoing,
                        config: FlowConfig) -> int:
    """Pending offers past their time: expired, both sides told."""
    due = (await session.execute(select(pk(Offer.id)).where(
        Offer.status == "pending", Offer.expires_at <= now).order_by(col(Offer.id)).limit(200)
    )).scalars().all()
    return sum([await expire_offer(session, out, oid, now) for oid in due])


async def offers_choose(session: AsyncSession, now: datetime, out: Outgoing,
                        config: FlowConfig) -> int:
    """Warga who asked several tukang and did not confirm one in time: the first who said yes
    gets the job, and both are told why."""
    due = (await session.execute(select(pk(Job.id)).where(
        Job.status == "offered", col(Job.choose_by).is_not(None), col(Job.choose_by) <= now)
        .order_by(col(Job.id)).limit(200))).scalars().all()
    chosen = 0
    for job_id in due:
        await lock_job(session, job_id)
        first = (await session.execute(select(Offer).join(
            TukangProfile, col(TukangProfile.user_id) == Offer.tukang_id).where(
            col(Offer.job_id) == job_id, col(Offer.status) == "willing",
            col(TukangProfile.status) == "active")
            .order_by(col(Offer.decided_at), col(Offer.id)).limit(1))).scalar_one_or_none()
        if first is None:
            await session.execute(update(Job).where(col(Job.id) == job_id)
                                  .values(choose_by=None)
                                  .execution_options(synchronize_session=False))
            continue
        assert first.id is not None
        job = await _give_job(session, out, first.id, now)
        if job is None:
            continue
        await out.notify(session, job.warga_id, "offer.auto_chosen_warga", code=job.code,
                         name=await user_name(session, first.tukang_id))
        session.add(AuditLog(actor="system", action="offer.choose", subject_type="offer",
                             subject_id=first.id, detail={"job_id": job_id, "by": "auto"},
                             channel="", at=now))
        chosen += 1
    await session.flush()
    return chosen


async def _choose_action(ctx: Context, arg: str) -> Next:
    offer_id = row_id(arg)
    if offer_id is None:
        ctx.say("offer.not_found")
        return None
    await choose_offer(ctx, offer_id)
    return None


def register(registry: Registry) -> None:
    registry.add(
        Text(name="offer.decline_reason", key="offer.ask_reason", validate=_valid_reason,
             then=_save_reason, options=keyed(("skip", "choice.skip")), on_choice=_skip_reason,
             help="offer.reason_help", goes_to=(HOME,)),
    )
    registry.action("offer.accept", _accept_action)
    registry.action("offer.decline", _decline_action, goes_to=(DECLINE_CONFIRM,))
    registry.action("offer.choose", _choose_action)
    registry.timer("offers_expire", offers_expire)
    registry.timer("offers_choose", offers_choose)
