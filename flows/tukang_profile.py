"""A tukang's own page: activation status, siap menerima / libur, service areas, skills, SKK,
and the profile warga see before choosing (photo, photos of past work, a short description).

Areas change at once (they only decide where offers come from). New skills and SKK data go
back to the Dinas through the registration steps (flows/tukang_reg.py, status "pending"). A
rejected tukang reads the Dinas's reason here and can correct and resubmit. The profile for
warga (flows/profile_view.py shows it) changes at once too: it decides nothing about matching,
so the service table stays as it is; every change is audited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.booking import PHOTO_TYPES
from flows.complaints import begin_objection, objection_window, stamp
from flows.context import Context
from flows.offers import pick_again
from flows.outbox import Outgoing
from flows.parsing import dmy
from flows.profile_view import show_profile
from flows.start import kecamatan_options
from flows.steps import (
    ALBUM_TAIL,
    DONE,
    HOME,
    ChooseOne,
    Next,
    Photos,
    Text,
    clip_telling,
    words,
)
from flows.table import MenuEntry, Registry
from flows.tukang_reg import (
    BEGIN,
    EDIT_TARGETS,
    STATUS,
    Prefilled,
    kecamatan_names,
    profile_of,
    skill_names,
    start_edit,
)
from flows.types import Choice, Message, Reprompt
from storage.models import Job, User
from storage.sql import rowcount

AREAS = "tukang.areas"
PROFILE = "tukang.profile"  # the profile for warga: what it holds, what can change
PROFILE_PHOTO = "tukang.profile_photo"
WORK_ADD = "tukang.profile_work"
WORK_REMOVE = "tukang.profile_remove"
BIO = "tukang.profile_bio"
WORK_MAX = 6  # photos of past work on a profile
BIO_MAX = 300  # characters of the description (TukangProfile.bio)
EDITABLE = ("active", "pending")
STOPPED = ("suspended", "removed")  # no offers, no work, no tukang broadcasts
TAKEN = ("accepted", "in_progress")


async def take_back_jobs(session: AsyncSession, out: Outgoing, tukang_id: int,
                         now: datetime) -> list[str]:
    """The Dinas stopped a tukang (suspended, or removed under Pasal 9): every job they had
    accepted or begun goes back to its warga, open again, with "Pilih tukang lain"; the
    tukang is told which. Conditional updates, so a job finished meanwhile stays finished.
    Returns the codes taken back."""
    jobs = (await session.execute(select(Job).where(
        Job.tukang_id == tukang_id, col(Job.status).in_(TAKEN)).order_by(col(Job.id))
    )).scalars().all()
    tukang = await session.get(User, tukang_id)
    name = tukang.name if tukang else "-"
    codes = []
    for job in jobs:
        done = await session.execute(
            update(Job).where(col(Job.id) == job.id, col(Job.tukang_id) == tukang_id,
                              col(Job.status).in_(TAKEN))
            .values(status="open", tukang_id=None, accepted_at=None,
                    notify_when_available=False)
            .execution_options(synchronize_session=False))
        if rowcount(done) != 1:
            continue
        codes.append(job.code)
        await out.notify(session, job.warga_id, "complaint.job_taken_back",
                         actions=[Choice(c.id, "job.choice_pick_other")
                                  for c in pick_again(job.id or 0)],
                         code=job.code, name=name, started=job.status == "in_progress")
    if codes:
        await out.notify(session, tukang_id, "complaint.jobs_taken_back_tukang",
                         codes=", ".join(codes))
    return codes


class StatusPage(ChooseOne):
    """Shows the profile; a tukang without one (an old or odd state) goes to registration."""

    exits = (BEGIN,)

    async def enter(self, ctx: Context) -> Next:
        if await profile_of(ctx) is None:
            return BEGIN
        return await super().enter(ctx)


async def _vars(ctx: Context) -> dict[str, Any]:
    p = await profile_of(ctx)
    if p is None:
        return {"status": "-", "state": "", "reason": "", "since": "-", "available": False,
                "skills": "-", "jenjang": "-", "valid_until": "-", "expired": False,
                "areas": "-", "decided": "", "objection": "", "object_until": ""}
    win = await objection_window(await ctx.db(), p.user_id, ctx.now, ctx.config)
    return {
        "decided": dmy(p.decided_at.date() if p.decided_at else None)
        if p.status in STOPPED else "",
        "objection": (f"{win.existing.code} · "
                      + ctx.t(f"complaint.objection_{win.existing.status}"))
        if win.existing else "",
        "object_until": stamp(win.until) if win.allowed else "",
        "status": p.status,
        "state": ctx.t(f"tukang.state_{p.status}") if p.status in (
            "pending", "active", "rejected", "suspended", "removed") else p.status,
        "reason": p.decision_reason or "",
        "since": dmy(p.submitted_at.date() if p.submitted_at else None),
        "available": p.available,
        "skills": ", ".join(await skill_names(ctx, list(p.skills or []))) or "-",
        "jenjang": p.jenjang,
        "valid_until": dmy(p.skk_valid_until),
        "expired": p.skk_valid_until < ctx.today,
        "areas": ", ".join(await kecamatan_names(ctx, list(p.areas or []))) or "-",
    }


async def _options(ctx: Context) -> list[Choice]:
    p = await profile_of(ctx)
    keys: list[tuple[str, str]] = []
    if p is not None and p.status == "active":
        keys.append(("off", "tukang.set_off") if p.available else ("on", "tukang.set_on"))
    if p is not None and p.status in EDITABLE:
        keys += [("areas", "tukang.change_areas"), ("skills", "tukang.change_skills"),
                 ("skk", "tukang.change_skk"), ("profile", "tukang.change_profile")]
    if p is not None and p.status == "rejected":
        keys.append(("resubmit", "tukang.resubmit"))
    if p is not None and p.status == "removed" and (await objection_window(
            await ctx.db(), p.user_id, ctx.now, ctx.config)).allowed:
        keys.append(("object", "complaint.choice_objection"))
    keys.append(("menu", "tukang.back_menu"))
    return [Choice(i, ctx.t(k)) for i, k in keys]


async def _chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "menu":
        return HOME
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    if choice.id in ("on", "off") and p.status == "active":
        p.available = choice.id == "on"
        await ctx.audit("tukang.availability", "tukang_profile", p.id, available=p.available)
        ctx.say("tukang.now_on" if p.available else "tukang.now_off")
        return HOME
    if choice.id == "areas" and p.status in EDITABLE:
        ctx.data.pop("tk_areas_sel", None)
        return AREAS
    if choice.id in ("skills", "skk") and p.status in EDITABLE:
        return await start_edit(ctx, choice.id)
    if choice.id == "profile" and p.status in EDITABLE:
        return PROFILE
    if choice.id == "object" and p.status == "removed":
        return await begin_objection(ctx)
    if choice.id == "resubmit" and p.status == "rejected":
        ctx.say("tukang.resubmit_intro", reason=p.decision_reason or "-")
        return await start_edit(ctx, "full")
    raise Reprompt("tukang.not_now")


async def _current_areas(ctx: Context) -> list[str]:
    p = await profile_of(ctx)
    return list(p.areas or []) if p else []


async def _save_areas(ctx: Context, codes: list[str]) -> Next:
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    p.areas = codes
    await ctx.audit("tukang.areas", "tukang_profile", p.id, areas=codes)
    ctx.say("tukang.areas_saved", areas=", ".join(await kecamatan_names(ctx, codes)))
    return STATUS


# --- the profile for warga: photo, photos of past work, description ---------------------------


async def _profile_vars(ctx: Context) -> dict[str, Any]:
    p = await profile_of(ctx)
    return {"photo": bool(p and p.photo), "work": len(p.work_photos or []) if p else 0,
            "maximum": WORK_MAX, "bio": p.bio if p else "",
            "editable": p is not None and p.status in EDITABLE}


class ProfilePage(ChooseOne):
    """What warga see of this tukang, and what can change; without a profile, registration."""

    exits = (BEGIN,)

    async def enter(self, ctx: Context) -> Next:
        if await profile_of(ctx) is None:
            return BEGIN
        return await super().enter(ctx)


async def _profile_options(ctx: Context) -> list[Choice]:
    """A fixed order (docs/conversations.md): "Hapus foto hasil kerja", there only while some
    are, comes after the entries that are always there, so their numbers stay put."""
    p = await profile_of(ctx)
    keys: list[tuple[str, str]] = []
    if p is not None and p.status in EDITABLE:
        keys += [("photo", "profile.choice_photo"), ("work", "profile.choice_work_add"),
                 ("bio", "profile.choice_bio"), ("preview", "profile.choice_preview")]
        if p.work_photos:
            keys.append(("remove", "profile.choice_work_remove"))
    keys.append(("back", "profile.choice_back"))
    return [Choice(i, ctx.t(k)) for i, k in keys]


async def _profile_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "back":
        return STATUS
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    if p.status not in EDITABLE:
        raise Reprompt("tukang.not_now")
    if choice.id == "photo":
        return PROFILE_PHOTO
    if choice.id == "work":
        if len(p.work_photos or []) >= WORK_MAX:
            raise Reprompt("profile.work_full", count=len(p.work_photos or []),
                           maximum=WORK_MAX, refused=0)
        return WORK_ADD
    if choice.id == "bio":
        return BIO
    if choice.id == "preview":
        await show_profile(ctx, p.user_id, preview=True)
        return PROFILE  # the page again below the card, its buttons fresh
    if choice.id == "remove" and p.work_photos:
        return WORK_REMOVE
    raise Reprompt("tukang.not_now")


def _refuse_non_photos(msg: Message) -> None:
    """A profile shows photos: JPEG or PNG (a sticker, a GIF or a PDF gets a clear answer,
    and nothing saved before is lost)."""
    if any(m.content_type not in PHOTO_TYPES for m in msg.media):
        raise Reprompt("profile.photo_wrong_type")


@dataclass(kw_only=True)
class ProfilePhoto(Photos):
    """One photo of the tukang: it replaces the one before; "Lewati" keeps that one."""

    exits: ClassVar[tuple[str, ...]] = (BEGIN, PROFILE)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if not msg.media:
            return await super().handle(ctx, msg)  # "Lewati", or the help
        _refuse_non_photos(msg)
        p = await profile_of(ctx)
        if p is None:
            return BEGIN
        replaced = p.photo is not None
        p.photo = msg.media[0].path  # the old file, no row naming it now, goes with the sweep
        await ctx.audit("tukang.profile_photo", "tukang_profile", p.id, replaced=replaced)
        ctx.say("profile.photo_saved", replaced=replaced, extra=len(msg.media) - 1)
        ctx.conv.data[ALBUM_TAIL] = True  # the rest of an album may still be coming
        return PROFILE


async def _photo_skipped(ctx: Context, paths: list[str]) -> Next:
    return PROFILE  # "Lewati" before any photo: nothing changes


@dataclass(kw_only=True)
class WorkPhotos(Photos):
    """Photos of past work, saved as they come (so `menu` half-way loses none), up to
    `WORK_MAX` in all: more are refused with the count."""

    exits: ClassVar[tuple[str, ...]] = (BEGIN, PROFILE)

    async def choices(self, ctx: Context) -> list[Choice]:
        return [Choice("_done", ctx.t("choice.done"))]

    async def enter(self, ctx: Context) -> Next:
        p = await profile_of(ctx)
        if p is None:
            return BEGIN
        if len(p.work_photos or []) >= WORK_MAX:
            ctx.say("profile.work_full", count=len(p.work_photos or []), maximum=WORK_MAX,
                    refused=0)
            return PROFILE
        await self.prompt(ctx)
        return None

    async def prompt_vars(self, ctx: Context) -> dict[str, Any]:
        p = await profile_of(ctx)
        have = len(p.work_photos or []) if p else 0
        return {"count": have, "maximum": WORK_MAX, "room": max(WORK_MAX - have, 0)}

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if not msg.media:
            done = (msg.choice is not None and msg.choice.id == "_done") \
                or words(msg.text) in DONE
            if done:
                return PROFILE
            raise Reprompt(self.help)
        _refuse_non_photos(msg)
        p = await profile_of(ctx)
        if p is None:
            return BEGIN
        have = list(p.work_photos or [])
        taken = [m.path for m in msg.media[:max(WORK_MAX - len(have), 0)]]
        refused = len(msg.media) - len(taken)
        if taken:
            p.work_photos = [*have, *taken]
            await ctx.audit("tukang.profile_work_add", "tukang_profile", p.id,
                            added=len(taken), count=len(p.work_photos))
        count = len(p.work_photos or [])
        if refused:
            ctx.say("profile.work_full", count=count, maximum=WORK_MAX, refused=refused)
        elif count >= WORK_MAX:
            ctx.say("profile.work_saved", count=count, maximum=WORK_MAX, full=True)
        else:
            ctx.say("profile.work_saved", count=count, maximum=WORK_MAX, full=False,
                    choices=await self.choices(ctx))
            return None
        ctx.conv.data[ALBUM_TAIL] = True  # the rest of an album may still be coming
        return PROFILE


async def _work_done(ctx: Context, paths: list[str]) -> Next:
    return PROFILE  # never reached: `WorkPhotos` saves each photo as it comes


class RemovePhotos(ChooseOne):
    """Photos of past work to delete: all, or one by its number (the photos come along, in
    that order, so the numbers can be seen)."""

    exits = (BEGIN,)

    async def prompt(self, ctx: Context) -> None:
        p = await profile_of(ctx)
        photos = list(p.work_photos or []) if p else []
        ctx.say(self.key, choices=await self.choices(ctx) or None, media=photos,
                count=len(photos))


async def _remove_options(ctx: Context) -> list[Choice]:
    p = await profile_of(ctx)
    photos = list(p.work_photos or []) if p else []
    one = [Choice(f"p{i}", ctx.t("profile.choice_remove_one", n=i))
           for i in range(1, len(photos) + 1)]
    every = [Choice("all", ctx.t("profile.choice_remove_all"))] if photos else []
    return [*one, *every, Choice("back", ctx.t("profile.choice_back"))]


async def _remove_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "back":
        return PROFILE
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    if p.status not in EDITABLE:
        raise Reprompt("tukang.not_now")
    photos = list(p.work_photos or [])
    if choice.id == "all":
        p.work_photos = []
        n = 0
    else:
        n = int(choice.id[1:])
        if not 1 <= n <= len(photos):
            raise Reprompt("profile.remove_help")
        p.work_photos = photos[:n - 1] + photos[n:]
    # the files, no row naming them now, go with the media sweep (storage/media_sweep.py)
    await ctx.audit("tukang.profile_work_remove", "tukang_profile", p.id,
                    removed=len(photos) - len(p.work_photos), count=len(p.work_photos))
    ctx.say("profile.removed", every=n == 0, n=n, count=len(p.work_photos))
    return PROFILE


# a phone number in the description would hand out the contact before a job is accepted
_PHONE_LIKE = re.compile(r"(?:\+?62|\b0)[\s.-]*8(?:[\s.-]*\d){7,}")


async def _valid_bio(ctx: Context, text: str) -> str:
    if _PHONE_LIKE.search(text):
        raise Reprompt("profile.bio_no_contact")
    return clip_telling(ctx, text.strip(), BIO_MAX, "profile.bio_cut")


async def _bio_vars(ctx: Context) -> dict[str, Any]:
    p = await profile_of(ctx)
    return {"bio": p.bio if p else "", "maximum": BIO_MAX}


async def _bio_options(ctx: Context) -> list[Choice]:
    p = await profile_of(ctx)
    return [Choice("clear", ctx.t("profile.choice_bio_clear"))] if p and p.bio else []


async def _save_bio(ctx: Context, bio: str) -> Next:
    p = await profile_of(ctx)
    if p is None:
        return BEGIN
    if p.status not in EDITABLE:
        raise Reprompt("tukang.not_now")
    p.bio = bio
    await ctx.audit("tukang.profile_bio", "tukang_profile", p.id, length=len(bio))
    ctx.say("profile.bio_saved" if bio else "profile.bio_cleared")
    return PROFILE


async def _bio_choice(ctx: Context, choice: Choice) -> Next:
    if choice.id != "clear" or not await _bio_options(ctx):
        raise Reprompt("profile.bio_help")
    return await _save_bio(ctx, "")


def register(registry: Registry) -> None:
    registry.add(
        StatusPage(name=STATUS, key="tukang.status", vars=_vars, options=_options,
                   then=_chosen, goes_to=(HOME, BEGIN, AREAS, PROFILE,
                                          "complaint.objection_text", *EDIT_TARGETS)),
        Prefilled(name=AREAS, key="tukang.ask_areas", options=kecamatan_options,
                  then=_save_areas, initial=_current_areas, store="tk_areas_sel",
                  goes_to=(BEGIN, STATUS)),
        ProfilePage(name=PROFILE, key="profile.page", vars=_profile_vars,
                    options=_profile_options, then=_profile_chosen, help="profile.page_help",
                    back=STATUS, goes_to=(STATUS, BEGIN, PROFILE_PHOTO, WORK_ADD, WORK_REMOVE,
                                          BIO, PROFILE)),
        ProfilePhoto(name=PROFILE_PHOTO, key="profile.ask_photo", vars=_profile_vars,
                     then=_photo_skipped, maximum=1, store="tk_profile_photo",
                     help="profile.photo_help", back=PROFILE),
        WorkPhotos(name=WORK_ADD, key="profile.ask_work", then=_work_done, maximum=WORK_MAX,
                   help="profile.work_help", back=PROFILE),
        RemovePhotos(name=WORK_REMOVE, key="profile.ask_remove", options=_remove_options,
                     then=_remove_chosen, help="profile.remove_help", back=PROFILE,
                     goes_to=(PROFILE,)),
        Text(name=BIO, key="profile.ask_bio", vars=_bio_vars, validate=_valid_bio,
             then=_save_bio, options=_bio_options, on_choice=_bio_choice,
             help="profile.bio_help", help_vars=_bio_vars, back=PROFILE,
             goes_to=(PROFILE, BEGIN)),
    )
    registry.menu_entry(MenuEntry("tukang_status", "tukang.menu_item", STATUS,
                                  roles=("tukang",), position=20))
