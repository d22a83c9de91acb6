"""Pengaturan: language, broadcasts, "Data saya", correcting name and kecamatan, erasure.

The personal-data rights of UU 27/2022 in the chat itself: see everything held (from
flows/privacy.py `export_user_data`, the same export the Dinas gives on request), correct it,
and have it erased (`erase_user`, refused with the reason while a job or complaint is open).
After erasure the conversation starts over: the person is a stranger to the bot again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select

from flows.context import Context
from flows.info import topic_title
from flows.offers import kecamatan_list
from flows.parsing import clip, mask_phone
from flows.people import name_validator
from flows.privacy import published_profile_line
from flows.render import LOCALES
from flows.start import kecamatan_options
from flows.steps import HOME, START, ChooseOne, Confirm, Next, Text, keyed
from flows.table import MenuEntry, Registry
from flows.types import Choice, Reprompt
from storage.clock import local
from storage.models import Category, Job, Kecamatan, Skill

HOME_STEP = "settings.home"
CHUNK = 3500  # characters per "Data saya" message, under Telegram's 4096
AUDIT_SHOWN = 20  # the access history can be long: the newest entries, and counts of the rest


async def _home_options(ctx: Context) -> list[Choice]:
    user = await ctx.require_user()
    pairs = [
        ("language", "settings.item_language"),
        ("broadcast", "settings.item_broadcast_on" if user.broadcast_opt_out
         else "settings.item_broadcast_off"),
        ("data", "settings.item_data"),
        ("name", "settings.item_name"),
        ("kecamatan", "settings.item_kecamatan"),
        ("delete", "settings.item_delete"),
        ("menu", "settings.item_menu"),
    ]
    return [Choice(i, ctx.t(k)) for i, k in pairs]


async def _home_vars(ctx: Context) -> dict[str, Any]:
    user = await ctx.require_user()
    s = await ctx.db()
    kec = await s.get(Kecamatan, user.kecamatan_code) if user.kecamatan_code else None
    return {"name": user.name, "phone": mask_phone(user.phone),
            "kecamatan": kec.name if kec else "-",
            "language": ctx.t(f"settings.lang_{user.locale}") if user.locale in LOCALES
            else user.locale,
            "broadcast": not user.broadcast_opt_out}


# the settings that are a step of their own ("menu" leaves the settings)
_HOME_CHOICES = {"language": "settings.language", "name": "settings.name",
                 "kecamatan": "settings.kecamatan", "delete": "settings.delete", "menu": HOME}


async def _home_chosen(ctx: Context, choice: Choice) -> Next:
    user = await ctx.require_user()
    if choice.id == "broadcast":
        user.broadcast_opt_out = not user.broadcast_opt_out
        user.updated_at = ctx.now
        await ctx.audit("broadcast.opt_out" if user.broadcast_opt_out else "broadcast.opt_in",
                        "user", user.id)
        ctx.say("settings.broadcast_now_off" if user.broadcast_opt_out
                else "settings.broadcast_now_on")
        return HOME_STEP
    if choice.id == "data":
        await _show_data(ctx)
        return HOME_STEP
    return _HOME_CHOICES.get(choice.id, HOME_STEP)


# --- language -------------------------------------------------------------------------------


async def _language(ctx: Context, choice: Choice) -> Next:
    if choice.id not in LOCALES:
        raise Reprompt("help.choose")
    user = await ctx.require_user()
    user.locale = choice.id
    user.updated_at = ctx.now
    ctx.conv.locale = choice.id  # this very reply is already in the new language
    await ctx.audit("user.locale", "user", user.id, locale=choice.id)
    ctx.say("settings.language_set")
    return HOME_STEP


# --- Data saya --------------------------------------------------------------------------------
# A card a person can read: what we hold, in words, with names instead of codes (kecamatan,
# category, skill), times in WIB and no bookkeeping of ours (ids, versions, flags, buttons
# shown). Everything of `export_user_data` that describes the person is on it; the full export
# with every field is what the Dinas gives on request (`sijakon-admin privacy export`).

Line = tuple[bool, str]  # (is a heading, text)


def _when(v: Any) -> str:
    """An ISO time of the export as people in Batam read it (WIB)."""
    if not v:
        return "-"
    try:
        return local(datetime.fromisoformat(str(v))).strftime("%d-%m-%Y %H:%M")
    except ValueError:
        return str(v)


def _day(v: Any) -> str:
    return _when(v)[:10] if v else "-"


@dataclass
class _Names:
    """Codes of the export as words: kecamatan, categories, skills, jobs."""

    kecamatan: dict[str, str]
    categories: dict[int, str]
    skills: dict[str, str]
    jobs: dict[int, str]

    def kec(self, code: Any) -> str:
        return self.kecamatan.get(str(code), "-") if code else "-"

    def job(self, job_id: Any) -> str:
        return self.jobs.get(int(job_id), "-") if job_id else "-"


async def _names(ctx: Context, export: dict[str, Any]) -> _Names:
    s = await ctx.db()
    kec = dict(await kecamatan_list(s, ctx.now))
    cats = {int(r[0]): str(r[1]) for r in await s.execute(select(Category.id, Category.name))}
    skills = {str(r[0]): str(r[1]) for r in await s.execute(select(Skill.code, Skill.name))}
    jobs = {int(j["id"]): str(j["code"]) for j in export.get("jobs") or []}
    wanted = {int(r["job_id"]) for part in ("offers", "ratings", "complaints")
              for r in export.get(part) or [] if r.get("job_id")} - set(jobs)
    if wanted:
        jobs |= {int(r[0]): str(r[1]) for r in await s.execute(
            select(Job.id, Job.code).where(col(Job.id).in_(sorted(wanted))))}
    return _Names(kec, cats, skills, jobs)


def _quote(ctx: Context, text: Any, limit: int = 200) -> str:
    return f" — “{clip(str(text), limit)}”" if text else ""


async def data_lines(ctx: Context, export: dict[str, Any]) -> list[Line]:
    """The export as a card: a heading per part that holds something, one line per item."""
    names = await _names(ctx, export)

    def w(word: str) -> str:
        """A field, status or action in words; one the messages do not name reads as itself
        ("complaint.submit" -> "complaint submit")."""
        fallback = word.split(".", 1)[-1].replace(".", " ").replace("_", " ")
        return ctx.t("settings.data_word", word=word, fallback=fallback)

    def yes(v: Any) -> str:
        return ctx.t("choice.yes" if v else "choice.no")

    lines: list[Line] = []

    def part(section: str, items: list[str]) -> None:
        if items:
            lines.append((True, w("section." + section)))
            lines.extend((False, x) for x in items)

    p = export.get("profile") or {}
    profile = [
        f"{w('field.name')}: {p.get('name') or '-'}",
        f"{w('field.phone')}: {p.get('phone') or '-'}"
        + (f" ({w('field.verified')})" if p.get("phone") and p.get("phone_verified") else ""),
        f"{w('field.role')}: {w('role.' + str(p.get('role')))}",
        f"{w('field.kecamatan')}: {names.kec(p.get('kecamatan_code'))}",
        f"{w('field.language')}: " + (ctx.t(f"settings.lang_{p.get('locale')}")
                                      if p.get("locale") in LOCALES else str(p.get("locale"))),
        f"{w('field.broadcast')}: " + w("on" if not p.get("broadcast_opt_out") else "off"),
    ]
    if p.get("topics"):
        profile.append(f"{w('field.topics')}: "
                       + ", ".join(topic_title(str(x), ctx.locale) for x in p["topics"]))
    profile += [f"{w('field.consent')}: {_when(p.get('consent_at'))}",
                f"{w('field.registered')}: {_day(p.get('created_at'))}"]
    part("profile", profile)

    part("channel_accounts", [
        f"• {w('channel.' + str(a.get('channel')))} {a.get('address')}"
        f" · {w('field.last_seen')} {_when(a.get('last_seen_at'))}"
        + ("" if a.get("reachable", True) else f" · {w('field.unreachable')}")
        for a in export.get("channel_accounts") or []])

    convs = export.get("conversations") or []
    if convs:
        last = max(str(c.get("updated_at") or "") for c in convs)
        part("conversations", [ctx.t("settings.data_conversations", count=len(convs),
                                     last=_when(last))])

    t = export.get("tukang_profile")
    if t:
        part("tukang_profile", [
            f"{w('field.status')}: {w('status.' + str(t.get('status')))}",
            f"{w('field.skk')}: {t.get('skk_number')} · {w('field.jenjang')} {t.get('jenjang')}"
            f" · {w('field.valid_until')} {_day(t.get('skk_valid_until'))}",
            f"{w('field.skills')}: " + (", ".join(names.skills.get(str(x), str(x))
                                                  for x in t.get("skills") or []) or "-"),
            f"{w('field.areas')}: " + (", ".join(names.kec(x) for x in t.get("areas") or [])
                                       or "-"),
            f"{w('field.available')}: {yes(t.get('available'))}",
            f"{w('field.skk_photos')}: {len(t.get('skk_media') or [])}",
            published_profile_line(t, ctx.t),
        ] + ([f"{w('field.decision')}: {t['decision_reason']}"]
             if t.get("decision_reason") else []))

    part("jobs", [
        f"• {j.get('code')} · {names.categories.get(int(j.get('category_id') or 0), '-')}"
        f" · {names.kec(j.get('kecamatan_code'))} · {w('status.' + str(j.get('status')))}"
        f" · {_day(j.get('created_at'))}"
        + (f" · {w('role.tukang')}" if j.get("role") == "tukang" else "")
        + (f" · {j['address']}" if j.get("address") else "")
        + _quote(ctx, j.get("description"))
        for j in export.get("jobs") or []])
    part("offers", [
        f"• {names.job(o.get('job_id'))} · {w('status.' + str(o.get('status')))}"
        f" · {_day(o.get('created_at'))}" + _quote(ctx, o.get("decline_reason"))
        for o in export.get("offers") or []])
    part("ratings", [
        f"• {names.job(r.get('job_id'))} · {'★' * int(r.get('score') or 0)}"
        f" · {w('rating.' + str(r.get('role')))}" + _quote(ctx, r.get("comment"))
        for r in export.get("ratings") or []])
    part("complaints", [
        f"• {c.get('code')} ({names.job(c.get('job_id'))}) · "
        f"{w('status.' + str(c.get('status')))} · {_day(c.get('created_at'))}"
        + (f" · {w('complaint.' + str(c.get('role')))}" if c.get("role") == "respondent"
           else "")
        + _quote(ctx, c.get("text") if c.get("role") == "complainant" else c.get("statement"))
        for c in export.get("complaints") or []])
    part("objections", [
        f"• {o.get('code')} · {w('status.' + str(o.get('status')))} · "
        f"{_day(o.get('created_at'))}" + _quote(ctx, o.get("text"))
        for o in export.get("objections") or []])
    part("survey_responses", [
        f"• {x.get('period')} · {_day(x.get('created_at'))}" + _quote(ctx, x.get("suggestion"))
        for x in export.get("survey_responses") or []])

    audit = export.get("audit") or []
    if audit:
        counts: dict[str, int] = {}
        for row in audit:
            counts[str(row.get("action"))] = counts.get(str(row.get("action")), 0) + 1
        part("audit", [
            ctx.t("settings.data_audit_counts", total=len(audit),
                  counts=", ".join(f"{w('action.' + a)} ×{n}"
                                   for a, n in sorted(counts.items()))),
            *(f"• {_when(r.get('at'))} {w('action.' + str(r.get('action')))}"
              + (f" ({w('channel.' + str(r['channel']))})" if r.get("channel") else "")
              for r in audit[-AUDIT_SHOWN:])])
    return lines


def chunks(lines: list[Line], size: int = CHUNK) -> list[list[Line]]:
    """Lines grouped into messages of at most `size` characters (a longer line is split)."""
    out: list[list[Line]] = []
    current: list[Line] = []
    used = 0
    for heading, text in lines:
        pieces = [text[i:i + size] for i in range(0, len(text), size)] or [""]
        for piece in pieces:
            if current and used + len(piece) + 1 > size:
                out.append(current)
                current, used = [], 0
            current.append((heading, piece))
            used += len(piece) + 1
    if current:
        out.append(current)
    return out


async def _show_data(ctx: Context) -> None:
    from flows.privacy import data_administrator, export_user_data

    user = await ctx.require_user()
    session = await ctx.db()
    export = await export_user_data(session, user.id or 0)
    await ctx.audit("privacy.view", "user", user.id, by="self")
    parts = chunks(await data_lines(ctx, export))
    ctx.say("settings.data_intro", parts=len(parts),
            **await data_administrator(session, ctx.config))
    for part in parts:
        ctx.say("settings.data_part", lines=[{"heading": h, "text": x} for h, x in part])


# --- corrections ----------------------------------------------------------------------------


_valid_name = name_validator("settings.name_invalid")


async def _save_name(ctx: Context, name: str) -> Next:
    user = await ctx.require_user()
    old = user.name
    user.name, user.updated_at = name, ctx.now
    await ctx.audit("user.correct", "user", user.id, field="name", changed=old != name)
    ctx.say("settings.name_saved", name=name)
    return HOME_STEP


async def _cancel_option(ctx: Context) -> list[Choice]:
    return [Choice("back", ctx.t("settings.item_back"))]


async def _back(ctx: Context, choice: Choice) -> Next:
    return HOME_STEP


async def _kecamatan_options(ctx: Context) -> list[Choice]:
    """The same numbered list as everywhere, the person's own kecamatan marked in its place."""
    user = await ctx.require_user()
    return [*await kecamatan_options(ctx, own=user.kecamatan_code),
            Choice("back", ctx.t("settings.item_back"))]


async def _save_kecamatan(ctx: Context, choice: Choice) -> Next:
    if choice.id == "back":
        return HOME_STEP
    user = await ctx.require_user()
    s = await ctx.db()
    kec = await s.get(Kecamatan, choice.id)
    if kec is None:
        raise Reprompt("help.choose")
    user.kecamatan_code, user.updated_at = kec.code, ctx.now
    await ctx.audit("user.correct", "user", user.id, field="kecamatan")
    ctx.say("settings.kecamatan_saved", kecamatan=kec.name)
    return HOME_STEP


# --- erasure ----------------------------------------------------------------------------------


async def _erase(ctx: Context) -> Next:
    from flows.privacy import ErasureRefused, dinas_contact, erase_user

    user = await ctx.require_user()
    try:
        await erase_user(await ctx.db(), user.id or 0, ctx.now, channel=ctx.conv.channel)
    except ErasureRefused as refused:
        ctx.say("settings.delete_refused", reason=refused.reason,
                blocks=[{"kind": k, "codes": ", ".join(c)} for k, c in refused.blocks],
                **dinas_contact(ctx.config))
        return HOME_STEP
    # The person is a stranger now: no user, no flow data, the default language next time.
    conv = ctx.conv
    conv.user_id = None
    ctx._user = None
    tag = conv.data.get("_tag", 0)
    conv.data.clear()
    conv.data["_tag"] = tag
    ctx.say("settings.erased")
    conv.locale = ctx.config.locale
    conv.step, conv.flow = START, "start"
    return None


async def _keep(ctx: Context) -> Next:
    ctx.say("settings.delete_kept")
    return HOME_STEP


def register(registry: Registry) -> None:
    registry.add(
        ChooseOne(name=HOME_STEP, key="settings.home", vars=_home_vars, options=_home_options,
                  then=_home_chosen,
                  goes_to=(HOME_STEP, HOME, *_HOME_CHOICES.values())),
        ChooseOne(name="settings.language", key="settings.ask_language", then=_language,
                  options=keyed(("id", "settings.lang_id"), ("en", "settings.lang_en")),
                  goes_to=(HOME_STEP,)),
        Text(name="settings.name", key="settings.ask_name", validate=_valid_name,
             then=_save_name, options=_cancel_option, on_choice=_back,
             help="settings.name_help", goes_to=(HOME_STEP,)),
        ChooseOne(name="settings.kecamatan", key="settings.ask_kecamatan",
                  options=_kecamatan_options, then=_save_kecamatan, goes_to=(HOME_STEP,)),
        Confirm(name="settings.delete", key="settings.delete_confirm", on_yes=_erase,
                on_no=_keep, yes_label="settings.delete_yes", no_label="settings.delete_no",
                goes_to=(HOME_STEP, START)),  # erasure moves the stranger to START itself
    )
    registry.menu_entry(MenuEntry("pengaturan", "settings.menu_item", HOME_STEP,
                                  roles=("warga", "tukang"), position=90))
