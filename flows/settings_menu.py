"""Pengaturan: language, broadcasts, "Data saya", correcting name and kecamatan, erasure.

The personal-data rights of UU 27/2022 in the chat itself: see everything held (from
flows/privacy.py `export_user_data`, the same export the Dinas gives on request), correct it,
and have it erased (`erase_user`, refused with the reason while a job or complaint is open).
After erasure the conversation starts over: the person is a stranger to the bot again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flows.context import Context
from flows.parsing import mask_phone
from flows.people import name_validator
from flows.render import LOCALES
from flows.start import kecamatan_options
from flows.steps import HOME, START, ChooseOne, Confirm, Next, Text, keyed
from flows.table import MenuEntry, Registry
from flows.types import Choice, Reprompt
from storage.clock import local
from storage.models import Kecamatan

HOME_STEP = "settings.home"
CHUNK = 3500  # characters per "Data saya" message, under Telegram's 4096
AUDIT_SHOWN = 20  # the access history can be long: the newest entries, and counts of the rest
SKIP_FIELDS = {"data", "payload"}  # conversation internals: buttons shown, step bookkeeping


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


def _value(ctx: Context, v: Any) -> str:
    if isinstance(v, bool):
        return ctx.t("choice.yes" if v else "choice.no")
    if isinstance(v, str) and len(v) >= 16 and v[4:5] == "-" and "T" in v:
        try:
            return local(datetime.fromisoformat(v)).strftime("%d-%m-%Y %H:%M")
        except ValueError:
            return v
    if isinstance(v, list):
        return ", ".join(_value(ctx, x) for x in v) or "-"
    if isinstance(v, dict):
        return "; ".join(f"{k}={_value(ctx, x)}" for k, x in v.items())
    return str(v)


FIRST = ("code", "name", "phone", "status", "role", "text", "description", "channel", "address")


def _fields(ctx: Context, row: dict[str, Any]) -> str:
    """One row as "field: value; ...", the telling fields first, empty ones left out."""
    keys = [k for k in FIRST if k in row] + sorted(k for k in row if k not in FIRST)
    return "; ".join(f"{k}: {_value(ctx, row[k])}" for k in keys
                     if k not in SKIP_FIELDS and row[k] not in (None, "", [], {}))


Line = tuple[bool, str]  # (is a heading, text)


def data_lines(ctx: Context, export: dict[str, Any]) -> list[Line]:
    """The export as readable lines: a heading per part, one line per row."""
    lines: list[Line] = []
    for section, value in export.items():
        if section == "user_id":
            continue
        lines.append((True, ctx.t("settings.data_heading", section=section)))
        if value in (None, [], {}):
            lines.append((False, ctx.t("settings.data_empty")))
            continue
        if section == "audit" and isinstance(value, list):
            counts: dict[str, int] = {}
            for row in value:
                counts[str(row.get("action"))] = counts.get(str(row.get("action")), 0) + 1
            lines.append((False, ctx.t("settings.data_audit_counts", total=len(value),
                                       counts=", ".join(f"{a} ×{n}"
                                                        for a, n in sorted(counts.items())))))
            lines += [(False, f"• {_value(ctx, r.get('at'))} {r.get('action')} "
                              f"{r.get('channel') or ''}".rstrip())
                      for r in value[-AUDIT_SHOWN:]]
            continue
        rows = value if isinstance(value, list) else [value]
        lines += [(False, "• " + (_fields(ctx, row) if isinstance(row, dict)
                                  else _value(ctx, row))) for row in rows]
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
    parts = chunks(data_lines(ctx, export))
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
    return [*await kecamatan_options(ctx), Choice("back", ctx.t("settings.item_back"))]


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
    from flows.privacy import ErasureRefused, erase_user

    user = await ctx.require_user()
    try:
        await erase_user(await ctx.db(), user.id or 0, ctx.now, channel=ctx.conv.channel)
    except ErasureRefused as refused:
        ctx.say("settings.delete_refused", reason=refused.reason)
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
