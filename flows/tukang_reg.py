"""Tukang registration: SKK data, skills and service areas become a profile the Dinas checks.

Reached two ways: `/start tukang` (flows/start.py hands over after consent, name, phone and
kecamatan, before any user row exists) and the warga menu ("Daftar sebagai tukang"). The same
steps serve three later needs, chosen by `ctx.data["reg_mode"]`: a rejected tukang correcting
and resubmitting everything ("full"), an active tukang changing SKK data ("skk") or skills
("skills"). Every path ends at one summary and one submit, which puts the profile back to
"pending" for the Dinas (new skills and SKK data must be checked again; Perwako 65/2021).

Answers live in `ctx.data["reg"]` until the person confirms, so a `batal` stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import col, select

from flows.context import Context
from flows.parsing import EXAMPLE_PHONE, dmy, normalize_phone, parse_date
from flows.people import create_user
from flows.start import kecamatan_options
from flows.steps import HOME, START, ChooseMany, ChooseOne, Confirm, Next, Photos, Text
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message, Reprompt
from storage.models import Job, Kecamatan, Skill, TukangProfile
from storage.sql import pk

BEGIN = "tukang_reg.begin"
STATUS = "tukang.status"  # registered by flows/tukang_profile.py
CONFIRM = "tukang_reg.confirm"

SKK_PATTERN = re.compile(r"[A-Z0-9./-]{6,40}")
SKK_YEARS = 5  # an SKK is valid five years from issue (PLATFORM-FACTS.md)
OPEN_JOBS = ("open", "offered", "accepted", "in_progress")

# The steps each mode walks through, in order; every mode ends at the summary.
MODES: dict[str, list[str]] = {
    "full": ["tukang_reg.skk", "tukang_reg.skills", "tukang_reg.jenjang", "tukang_reg.valid",
             "tukang_reg.photo", "tukang_reg.areas", CONFIRM],
    "skk": ["tukang_reg.skk", "tukang_reg.jenjang", "tukang_reg.valid", "tukang_reg.photo",
            CONFIRM],
    "skills": ["tukang_reg.skills", CONFIRM],
}
MODE_STEPS = tuple(dict.fromkeys(step for order in MODES.values() for step in order))
# Where `start_edit` leads: the first step of a mode, or registration for a tukang without one.
EDIT_TARGETS = (BEGIN, *(order[0] for order in MODES.values()))
# What the "change something" list offers, and the step that asks it.
PARTS: list[tuple[str, str]] = [
    ("tukang_reg.skk", "tukang_reg.part_skk"),
    ("tukang_reg.skills", "tukang_reg.part_skills"),
    ("tukang_reg.jenjang", "tukang_reg.part_jenjang"),
    ("tukang_reg.valid", "tukang_reg.part_valid"),
    ("tukang_reg.photo", "tukang_reg.part_photo"),
    ("tukang_reg.areas", "tukang_reg.part_areas"),
]


# --- shared helpers (flows/tukang_profile.py uses these too) ----------------------------------


def reg(ctx: Context) -> dict[str, Any]:
    """The answers collected so far in this registration or edit."""
    data = ctx.data.get("reg")
    if not isinstance(data, dict):
        data = ctx.data["reg"] = {}
    return data


def mode(ctx: Context) -> str:
    m = ctx.data.get("reg_mode")
    return m if m in MODES else "full"


def next_step(ctx: Context, current: str) -> str:
    """The step after `current` in this mode; straight back to the summary after a fix."""
    if ctx.data.pop("reg_fix", False):
        return CONFIRM
    order = MODES[mode(ctx)]
    i = order.index(current) if current in order else len(order) - 2
    return order[min(i + 1, len(order) - 1)]


def previous(current: str) -> Callable[[Context], Awaitable[Next]]:
    """"kembali": the question before `current` in this mode (the list of parts while one is
    being changed); None before the first, which is the menu."""

    async def back(ctx: Context) -> Next:
        if ctx.data.get("reg_fix"):
            ctx.data.pop("reg_fix", None)
            return "tukang_reg.fix"
        order = MODES[mode(ctx)]
        i = order.index(current) if current in order else 0
        return order[i - 1] if i > 0 else None

    return back


def following(current: str) -> tuple[str, ...]:
    """Every step `next_step(ctx, current)` can return, whatever the mode (for the registry's
    check of step names)."""
    return (CONFIRM, *(order[order.index(current) + 1] for order in MODES.values()
                       if current in order[:-1]))


async def profile_of(ctx: Context) -> TukangProfile | None:
    if ctx.conv.user_id is None:
        return None
    s = await ctx.db()
    return (await s.execute(select(TukangProfile).where(
        TukangProfile.user_id == ctx.conv.user_id))).scalar_one_or_none()


async def skill_names(ctx: Context, codes: list[str]) -> list[str]:
    if not codes:
        return []
    rows = (await (await ctx.db()).execute(
        select(Skill).where(col(Skill.code).in_(codes)))).scalars()
    names = {s.code: s.name for s in rows}
    return [names.get(c, c) for c in codes]


async def kecamatan_names(ctx: Context, codes: list[str]) -> list[str]:
    if not codes:
        return []
    rows = (await (await ctx.db()).execute(
        select(Kecamatan).where(col(Kecamatan.code).in_(codes)))).scalars()
    names = {k.code: k.name for k in rows}
    return sorted(names.get(c, c) for c in codes)


async def start_edit(ctx: Context, edit_mode: str) -> Next:
    """Walk an existing tukang through `edit_mode`, starting from what the profile holds."""
    profile = await profile_of(ctx)
    if profile is None:
        return BEGIN
    ctx.clear_flow_data()
    ctx.data["reg_mode"] = edit_mode
    ctx.data["reg"] = {
        "skk_number": profile.skk_number, "skills": list(profile.skills or []),
        "jenjang": profile.jenjang, "valid_until": profile.skk_valid_until.isoformat(),
        "media": list(profile.skk_media or []), "areas": list(profile.areas or []),
    }
    return MODES[edit_mode][0]


@dataclass(kw_only=True)
class Prefilled(ChooseMany):
    """Choose several, starting with `initial` already ticked (editing an existing list)."""

    initial: Callable[[Context], Awaitable[list[str]]]

    async def enter(self, ctx: Context) -> Next:
        if self.store not in ctx.data:
            ctx.data[self.store] = list(await self.initial(ctx))
        return await super().enter(ctx)


# --- begin ---------------------------------------------------------------------------------


class Begin(Confirm):
    """What registration needs and what is stored; a registered warga is checked first."""

    exits = (STATUS, HOME, START)

    async def enter(self, ctx: Context) -> Next:
        user = await ctx.user()
        if user is not None:
            if await profile_of(ctx) is not None:
                ctx.data["_role"] = "tukang"
                ctx.say("tukang_reg.already")
                return STATUS
            s = await ctx.db()
            open_jobs = (await s.execute(select(Job.code).where(
                Job.warga_id == user.id, col(Job.status).in_(OPEN_JOBS)).order_by(col(Job.id))
            )).scalars().all()
            if open_jobs:
                ctx.say("tukang_reg.open_jobs", codes=", ".join(open_jobs))
                return HOME
        elif not (ctx.data.get("name") and ctx.data.get("phone")):
            return START  # only reachable through first contact, which collects these
        ctx.data["reg_mode"] = "full"
        reg(ctx)
        return await super().enter(ctx)


async def _begin_yes(ctx: Context) -> Next:
    user = await ctx.user()
    if user is not None and not user.phone and not reg(ctx).get("phone"):
        return "tukang_reg.phone"
    return "tukang_reg.skk"


async def _cancel(ctx: Context) -> Next:
    """Nothing is stored; a person who is not registered yet starts over as a stranger."""
    ctx.say("tukang_reg.cancelled")
    ctx.clear_flow_data()
    return START if ctx.conv.user_id is None else HOME


async def _valid_phone(ctx: Context, text: str) -> str:
    phone = normalize_phone(text)
    if phone is None:
        raise Reprompt("tukang_reg.phone_invalid", example=EXAMPLE_PHONE)
    return phone


async def _after_phone(ctx: Context, phone: str) -> Next:
    reg(ctx)["phone"] = phone
    return "tukang_reg.skk"


async def _phone_vars(ctx: Context) -> dict[str, Any]:
    return {"example": EXAMPLE_PHONE}


# --- SKK number -----------------------------------------------------------------------------


def _keep(key: str, field_name: str) -> Callable[[Context], Awaitable[list[Choice]]]:
    """A "keep what I had" button when editing (the value is shown on the button)."""

    async def options(ctx: Context) -> list[Choice]:
        value = reg(ctx).get(field_name)
        if not value:
            return []
        if field_name == "valid_until":
            if date.fromisoformat(value) < ctx.today:
                return []  # an expired date cannot be kept
            value = dmy(value)
        return [Choice("keep", ctx.t(key, value=value))]

    return options


def _kept(current: str) -> Callable[[Context, Choice], Awaitable[Next]]:
    async def on_choice(ctx: Context, choice: Choice) -> Next:
        if choice.id != "keep":
            raise Reprompt("help.text")
        return next_step(ctx, current)

    return on_choice


async def _valid_skk(ctx: Context, text: str) -> str:
    number = re.sub(r"\s+", "", text).upper()
    if not SKK_PATTERN.fullmatch(number) or sum(ch.isdigit() for ch in number) < 4:
        raise Reprompt("tukang_reg.skk_invalid")
    s = await ctx.db()
    taken = (await s.execute(select(pk(TukangProfile.id)).where(
        TukangProfile.skk_number == number,
        TukangProfile.user_id != (ctx.conv.user_id or 0)).limit(1))).first()
    if taken is not None:
        raise Reprompt("tukang_reg.skk_taken")
    return number


async def _after_skk(ctx: Context, number: str) -> Next:
    reg(ctx)["skk_number"] = number
    return next_step(ctx, "tukang_reg.skk")


# --- skills, jenjang, date ---------------------------------------------------------------------


async def skill_options(ctx: Context) -> list[Choice]:
    rows = (await (await ctx.db()).execute(
        select(Skill).where(col(Skill.active).is_(True)).order_by(col(Skill.name)))).scalars()
    return [Choice(s.code, s.name) for s in rows]


async def _initial_skills(ctx: Context) -> list[str]:
    return list(reg(ctx).get("skills") or [])


async def _after_skills(ctx: Context, codes: list[str]) -> Next:
    reg(ctx)["skills"] = codes
    return next_step(ctx, "tukang_reg.skills")


async def _jenjang_options(ctx: Context) -> list[Choice]:
    current = reg(ctx).get("jenjang")
    out = []
    for n in range(1, 10):
        group = "operator" if n <= 3 else ("teknisi" if n <= 6 else "ahli")
        label = ctx.t("tukang_reg.jenjang_label", n=n, group=ctx.t(f"tukang_reg.group_{group}"))
        out.append(Choice(str(n), ("✅ " if current == n else "") + label))
    return out


async def _after_jenjang(ctx: Context, choice: Choice) -> Next:
    if choice.id not in {str(n) for n in range(1, 10)}:
        raise Reprompt("help.choose")
    reg(ctx)["jenjang"] = int(choice.id)
    return next_step(ctx, "tukang_reg.jenjang")


async def _valid_date(ctx: Context, text: str) -> str:
    d = parse_date(text)
    if d is None:
        raise Reprompt("tukang_reg.date_invalid")
    now = ctx.today
    if d < now:
        raise Reprompt("tukang_reg.date_past", date=dmy(d))
    if d > now + timedelta(days=366 * SKK_YEARS + 31):  # five years, and a month of slack
        raise Reprompt("tukang_reg.date_far", years=SKK_YEARS)
    return d.isoformat()


async def _valid_vars(ctx: Context) -> dict[str, Any]:
    """An example date that is still ahead: the end of the year after next."""
    return {"example": dmy(date(ctx.today.year + 2, 12, 31))}


async def _after_date(ctx: Context, iso: str) -> Next:
    reg(ctx)["valid_until"] = iso
    return next_step(ctx, "tukang_reg.valid")


# --- the certificate photo ---------------------------------------------------------------------


@dataclass(kw_only=True)
class SkkPhotos(Photos):
    """A photo or PDF of the SKK; when editing, the one already sent can be kept."""

    async def choices(self, ctx: Context) -> list[Choice]:
        base = await super().choices(ctx)
        if reg(ctx).get("media") and not ctx.data.get(self.store):
            return [Choice("keep", ctx.t("tukang_reg.keep_photo")), *base]
        return base

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is not None and msg.choice.id == "keep" and reg(ctx).get("media"):
            ctx.data.pop(self.store, None)
            return next_step(ctx, self.name)
        if any(not (m.is_image or m.content_type == "application/pdf") for m in msg.media):
            raise Reprompt("tukang_reg.photo_wrong_type")
        return await super().handle(ctx, msg)


async def _after_photo(ctx: Context, paths: list[str]) -> Next:
    reg(ctx)["media"] = paths
    return next_step(ctx, "tukang_reg.photo")


# --- areas -----------------------------------------------------------------------------------


async def _initial_areas(ctx: Context) -> list[str]:
    areas = reg(ctx).get("areas")
    if areas:
        return list(areas)
    home = ctx.data.get("kecamatan")
    if not home:
        user = await ctx.user()
        home = user.kecamatan_code if user else None
    return [home] if home else []


async def _after_areas(ctx: Context, codes: list[str]) -> Next:
    reg(ctx)["areas"] = codes
    return next_step(ctx, "tukang_reg.areas")


# --- summary and submit ---------------------------------------------------------------------


async def _summary_vars(ctx: Context) -> dict[str, Any]:
    r = reg(ctx)
    user = await ctx.user()
    profile = await profile_of(ctx)
    return {
        "name": user.name if user else ctx.data.get("name", ""),
        "phone": r.get("phone") or (user.phone if user else ctx.data.get("phone")) or "-",
        "skk_number": r.get("skk_number", "-"),
        "skills": ", ".join(await skill_names(ctx, list(r.get("skills") or []))) or "-",
        "jenjang": r.get("jenjang", "-"),
        "valid_until": dmy(r.get("valid_until")),
        "files": len(r.get("media") or []),
        "areas": ", ".join(await kecamatan_names(ctx, list(r.get("areas") or []))) or "-",
        "recheck": profile is not None and profile.status == "active",
    }


def _complete(r: dict[str, Any]) -> bool:
    return all(r.get(k) for k in ("skk_number", "skills", "jenjang", "valid_until", "media",
                                  "areas"))


async def _submit(ctx: Context) -> Next:
    r = reg(ctx)
    if not _complete(r):  # defensive: a state edited by hand, or an old conversation
        ctx.say("tukang_reg.incomplete")
        ctx.data["reg_mode"] = "full"
        return MODES["full"][0]
    valid_until = date.fromisoformat(r["valid_until"])
    if valid_until < ctx.today:  # kept from an old profile while the days went by
        ctx.data["reg_fix"] = True
        ctx.say("tukang_reg.date_past", date=dmy(valid_until))
        return "tukang_reg.valid"
    s = await ctx.db()
    user = await ctx.user()
    if user is None:
        if not (ctx.data.get("name") and ctx.data.get("phone")):
            return START
        user = await create_user(ctx, role="tukang", kecamatan_code=ctx.data.get("kecamatan"))
    else:
        if r.get("phone"):
            user.phone, user.phone_verified = r["phone"], False
        if user.consent_at is None:
            user.consent_at = ctx.now
        user.role = "tukang"
        user.updated_at = ctx.now
        ctx.data["_role"] = "tukang"
    profile = await profile_of(ctx)
    edit_mode = mode(ctx)
    if (profile is not None and edit_mode == "skills" and profile.status == "active"
            and set(r["skills"]) <= set(profile.skills or [])):
        # only removing skills: nothing new for the Dinas to check
        profile.skills = list(r["skills"])
        await ctx.audit("tukang.skills_reduced", "tukang_profile", profile.id,
                        skills=profile.skills)
        ctx.clear_flow_data()
        ctx.say("tukang_reg.skills_saved")
        return STATUS
    if profile is None:
        profile = TukangProfile(user_id=user.id or 0, skk_number=r["skk_number"],
                                jenjang=int(r["jenjang"]), skk_valid_until=valid_until,
                                skk_media=list(r["media"]), skills=list(r["skills"]),
                                areas=list(r["areas"]), available=True, status="pending",
                                submitted_at=ctx.now)
        s.add(profile)
    else:
        profile.skk_number = r["skk_number"]
        profile.jenjang = int(r["jenjang"])
        profile.skk_valid_until = valid_until
        profile.skk_media = list(r["media"])
        profile.skills = list(r["skills"])
        profile.areas = list(r["areas"])
        profile.status = "pending"
        profile.submitted_at = ctx.now
        profile.decided_by = profile.decided_at = profile.decision_reason = None
    await s.flush()
    await ctx.audit("tukang.submit", "tukang_profile", profile.id, mode=edit_mode)
    ctx.clear_flow_data()
    ctx.say("tukang_reg.submitted", name=user.name)
    return HOME


async def _fix_options(ctx: Context) -> list[Choice]:
    steps = set(MODES[mode(ctx)])
    parts = [Choice(step, ctx.t(key)) for step, key in PARTS if step in steps]
    return [*parts, Choice("cancel", ctx.t("tukang_reg.part_cancel"))]


async def _fix(ctx: Context, choice: Choice) -> Next:
    if choice.id == "cancel":
        return await _cancel(ctx)
    if choice.id not in MODES[mode(ctx)]:
        raise Reprompt("help.choose")
    ctx.data["reg_fix"] = True
    return choice.id


async def _to_fix(ctx: Context) -> Next:
    return "tukang_reg.fix"


def register(registry: Registry) -> None:
    registry.add(
        Begin(name=BEGIN, key="tukang_reg.intro", on_yes=_begin_yes, on_no=_cancel,
              yes_label="tukang_reg.start", no_label="tukang_reg.not_now",
              goes_to=("tukang_reg.phone", "tukang_reg.skk", START, HOME)),
        Text(name="tukang_reg.phone", key="tukang_reg.ask_phone", validate=_valid_phone,
             then=_after_phone, vars=_phone_vars, help="tukang_reg.phone_help",
             goes_to=("tukang_reg.skk",)),
        Text(name="tukang_reg.skk", key="tukang_reg.ask_skk", validate=_valid_skk,
             then=_after_skk, options=_keep("tukang_reg.keep_value", "skk_number"),
             on_choice=_kept("tukang_reg.skk"), help="tukang_reg.skk_help",
             back=previous("tukang_reg.skk"),
             goes_to=following("tukang_reg.skk")),
        Prefilled(name="tukang_reg.skills", key="tukang_reg.ask_skills", options=skill_options,
                  then=_after_skills, initial=_initial_skills, store="reg_skills_sel",
                  back=previous("tukang_reg.skills"),
                  goes_to=following("tukang_reg.skills")),
        ChooseOne(name="tukang_reg.jenjang", key="tukang_reg.ask_jenjang",
                  options=_jenjang_options, then=_after_jenjang,
                  help="tukang_reg.jenjang_help", back=previous("tukang_reg.jenjang"),
                  goes_to=following("tukang_reg.jenjang")),
        Text(name="tukang_reg.valid", key="tukang_reg.ask_valid", validate=_valid_date,
             then=_after_date, options=_keep("tukang_reg.keep_value", "valid_until"),
             on_choice=_kept("tukang_reg.valid"), help="tukang_reg.valid_help",
             vars=_valid_vars, help_vars=_valid_vars, back=previous("tukang_reg.valid"),
             goes_to=following("tukang_reg.valid")),
        SkkPhotos(name="tukang_reg.photo", key="tukang_reg.ask_photo", then=_after_photo,
                  minimum=1, maximum=2, allow_pdf=True, store="reg_photo_sel",
                  help="tukang_reg.photo_help", back=previous("tukang_reg.photo"),
                  goes_to=following("tukang_reg.photo")),
        Prefilled(name="tukang_reg.areas", key="tukang_reg.ask_areas",
                  options=kecamatan_options, then=_after_areas, initial=_initial_areas,
                  store="reg_areas_sel", back=previous("tukang_reg.areas"),
                  goes_to=following("tukang_reg.areas")),
        Confirm(name=CONFIRM, key="tukang_reg.summary", vars=_summary_vars, on_yes=_submit,
                on_no=_to_fix, yes_label="tukang_reg.send", no_label="tukang_reg.change",
                back=previous(CONFIRM),
                goes_to=(MODES["full"][0], "tukang_reg.valid", "tukang_reg.fix", START,
                         STATUS, HOME)),
        ChooseOne(name="tukang_reg.fix", key="tukang_reg.ask_fix", options=_fix_options,
                  then=_fix, back=CONFIRM, goes_to=(START, HOME, *MODE_STEPS)),
    )
    registry.start_payload("tukang", BEGIN)
    registry.menu_entry(MenuEntry("daftar_tukang", "tukang_reg.menu_item", BEGIN,
                                  roles=("warga",), position=70))
