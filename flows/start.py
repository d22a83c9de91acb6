"""First contact: greeting, privacy notice and consent, name, phone, kecamatan.

Nothing about the person is stored before they agree: answers live in the conversation's
data until the user row is created at the end, and a refusal clears them.
"""

from __future__ import annotations

from typing import Any

from flows.context import Context
from flows.offers import kecamatan_list
from flows.parsing import EXAMPLE_PHONE, clean_name, clip, normalize_phone
from flows.people import (
    account_owner,
    attach_account,
    create_user,
    find_verified_user,
    name_validator,
)
from flows.privacy import data_administrator
from flows.steps import HOME, START, ChooseOne, Next, Text, keyed
from flows.table import Registry
from flows.types import Choice, Message, Reprompt

TUKANG_REGISTRATION = "tukang_reg.begin"


class Welcome(ChooseOne):
    """The consent question; any first message ("halo") is answered with the greeting."""

    exits = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        if await self._known(ctx):
            return HOME
        return await super().enter(ctx)

    async def _known(self, ctx: Context) -> bool:
        """An account the Dinas or the demo seed made: tie the conversation to it."""
        owner = await account_owner(ctx) if ctx.conv.user_id is None else None
        if owner is None:
            return False
        await attach_account(ctx, owner)
        ctx.say("start.welcome_back", name=owner.name)
        return True

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if await self._known(ctx):
            return HOME
        if msg.phone:
            ctx.data["phone"], ctx.data["phone_verified"] = msg.phone, True
            known = await find_verified_user(ctx, msg.phone)
            if known is not None:
                await attach_account(ctx, known)
                ctx.say("start.welcome_back", name=known.name)
                return HOME
        if msg.profile_name:
            ctx.data["profile_name"] = clip(msg.profile_name, 80, mark="")
        if msg.choice is None:
            if not ctx.data.get("greeted"):
                await self.prompt(ctx)
                return None
            raise Reprompt(self.help)
        return await self.then(ctx, msg.choice)

    async def prompt(self, ctx: Context) -> None:
        ctx.data["greeted"] = True
        await super().prompt(ctx)


async def _administrator(ctx: Context) -> dict[str, Any]:
    """The notice names the data administrator and how to reach them (flows/privacy.py)."""
    return await data_administrator(await ctx.db(), ctx.config)


async def _consent(ctx: Context, choice: Choice) -> Next:
    if choice.id == "privacy":
        ctx.say("start.privacy_full", **await _administrator(ctx))
        return START
    if choice.id != "agree":
        for key in ("name", "phone", "phone_verified", "profile_name"):
            ctx.data.pop(key, None)
        ctx.say("start.no_consent")
        return None
    return "start.name"


async def _name_options(ctx: Context) -> list[Choice]:
    profile = ctx.data.get("profile_name")
    if profile and clean_name(profile):
        return [Choice("profile", ctx.t("start.use_profile_name", name=profile))]
    return []


_valid_name = name_validator("start.name_invalid")


async def _after_name(ctx: Context, name: str) -> Next:
    ctx.data["name"] = name
    return "start.kecamatan" if ctx.data.get("phone") else "start.phone"


async def _profile_name(ctx: Context, choice: Choice) -> Next:
    return await _after_name(ctx, clean_name(ctx.data.get("profile_name", "")) or "")


async def _phone_from(ctx: Context, text: str) -> tuple[str, bool]:
    phone = normalize_phone(text)
    if phone is None:
        raise Reprompt("start.phone_invalid", example=EXAMPLE_PHONE)
    return phone, False


class PhoneStep(Text):
    """Takes a shared contact (verified by the platform) or a typed Indonesian number."""

    exits = (HOME, "start.kecamatan")

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.phone:
            known = await find_verified_user(ctx, msg.phone)
            if known is not None:
                await attach_account(ctx, known)
                ctx.say("start.welcome_back", name=known.name)
                return HOME
            return await _after_phone(ctx, (msg.phone, True))
        return await super().handle(ctx, msg)


async def _phone_vars(ctx: Context) -> dict[str, str]:
    return {"example": EXAMPLE_PHONE}


async def _after_phone(ctx: Context, value: tuple[str, bool]) -> Next:
    ctx.data["phone"], ctx.data["phone_verified"] = value
    return "start.kecamatan"


async def kecamatan_options(ctx: Context) -> list[Choice]:
    return [Choice(code, name) for code, name in await kecamatan_list(await ctx.db(), ctx.now)]


async def _after_kecamatan(ctx: Context, choice: Choice) -> Next:
    # "_start" is only set for a payload the registry knows (flows/tukang_reg.py registers it)
    if ctx.data.get("_start") == "tukang":
        ctx.data["kecamatan"] = choice.id
        return TUKANG_REGISTRATION
    user = await create_user(ctx, role="warga", kecamatan_code=choice.id)
    ctx.clear_flow_data()
    ctx.say("start.registered", name=user.name)
    return HOME


def register(registry: Registry) -> None:
    registry.add(
        Welcome(name=START, key="start.welcome", then=_consent, goes_to=(START, "start.name"),
                vars=_administrator,
                options=keyed(("agree", "choice.agree"), ("disagree", "choice.disagree"),
                              ("privacy", "choice.privacy"))),
        Text(name="start.name", key="start.ask_name", validate=_valid_name, then=_after_name,
             options=_name_options, on_choice=_profile_name, help="start.name_help",
             goes_to=("start.kecamatan", "start.phone")),
        PhoneStep(name="start.phone", key="start.ask_phone", validate=_phone_from,
                  then=_after_phone, request_phone=True, help="start.phone_help",
                  vars=_phone_vars, goes_to=("start.kecamatan",)),
        ChooseOne(name="start.kecamatan", key="start.ask_kecamatan", options=kecamatan_options,
                  then=_after_kecamatan, goes_to=(TUKANG_REGISTRATION, HOME)),
    )
