"""First contact: greeting, privacy notice and consent, name, phone, kecamatan.

Nothing about the person is stored before they agree: answers live in the conversation's
data until the user row is created at the end, and a refusal clears them. Refusing closes only
what needs personal data (booking, complaints, tukang registration): the public menu
(`PUBLIC`) still opens the construction information, help and the Dinas's contact, and takes
a consent given later.

A number a platform vouches for (WhatsApp's sender, a contact shared on Telegram) is used as
it is, a foreign one too (flows/parsing.py `normalize_phone`): nobody is asked for an
Indonesian number they do not have.
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
from flows.privacy import data_administrator, dinas_contact
from flows.steps import HOME, START, ChooseOne, Next, Text, keyed, words
from flows.table import Registry
from flows.types import Choice, Message, Reprompt

TUKANG_REGISTRATION = "tukang_reg.begin"
PUBLIC = "start.public"  # what someone who declined may still use
INFO = "info.start"
INFO_WORDS = {"info", "informasi", "information"}


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
            if words(msg.text) in INFO_WORDS:  # public information needs no consent
                return INFO
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
        ctx.data["declined"] = True
        return PUBLIC
    return "start.name"


# --- the public menu: for someone who declined ------------------------------------------------


async def _public_vars(ctx: Context) -> dict[str, Any]:
    """The refusal is acknowledged once (with what stays open and whom to call); afterwards the
    menu just asks."""
    return {"declined": bool(ctx.data.pop("declined", False)), **dinas_contact(ctx.config)}


async def _public_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "info":
        return INFO
    if choice.id == "help":
        ctx.say("help.main", **dinas_contact(ctx.config))
        return PUBLIC
    if choice.id == "privacy":
        ctx.say("start.privacy_full", **await _administrator(ctx))
        return PUBLIC
    # "Setuju dan daftar": consent given now, by someone who has read the notice; who came
    # straight to the information ("info" as a first message) reads it first
    return "start.name" if ctx.data.get("greeted") else START


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
    """A typed number: Indonesian however written, or foreign with its country code."""
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


async def kecamatan_options(ctx: Context, own: str | None = None) -> list[Choice]:
    """Every kecamatan by name, numbered the same for everyone (people type the number from
    memory); the person's own, `own`, is marked in its fixed place, never moved first."""
    return [Choice(code, ctx.t("start.kecamatan_own", name=name) if code == own else name)
            for code, name in await kecamatan_list(await ctx.db(), ctx.now)]


async def _kecamatan_options(ctx: Context) -> list[Choice]:
    return await kecamatan_options(ctx)


async def _after_kecamatan(ctx: Context, choice: Choice) -> Next:
    # "_start" is only set for a payload the registry knows (flows/tukang_reg.py registers it)
    if ctx.data.get("_start") == "tukang":
        ctx.data["kecamatan"] = choice.id
        return TUKANG_REGISTRATION
    user = await create_user(ctx, role="warga", kecamatan_code=choice.id)
    ctx.clear_flow_data()
    ctx.say("start.registered", name=user.name)
    return HOME


async def _before_kecamatan(ctx: Context) -> Next:
    """"kembali" at the kecamatan: the phone question, or the name when a platform vouched for
    the number (that question was never asked)."""
    return "start.name" if ctx.data.get("phone_verified") else "start.phone"


def register(registry: Registry) -> None:
    registry.add(
        Welcome(name=START, key="start.welcome", then=_consent,
                goes_to=(START, PUBLIC, INFO, "start.name"),
                vars=_administrator,
                options=keyed(("agree", "choice.agree"), ("disagree", "choice.disagree"),
                              ("privacy", "choice.privacy"))),
        Text(name="start.name", key="start.ask_name", validate=_valid_name, then=_after_name,
             options=_name_options, on_choice=_profile_name, help="start.name_help",
             back=START, goes_to=("start.kecamatan", "start.phone")),
        PhoneStep(name="start.phone", key="start.ask_phone", validate=_phone_from,
                  then=_after_phone, request_phone=True, help="start.phone_help",
                  vars=_phone_vars, back="start.name", goes_to=("start.kecamatan",)),
        ChooseOne(name="start.kecamatan", key="start.ask_kecamatan", options=_kecamatan_options,
                  then=_after_kecamatan, back=_before_kecamatan,
                  goes_to=(TUKANG_REGISTRATION, HOME, "start.name", "start.phone")),
        ChooseOne(name=PUBLIC, key="start.no_consent", vars=_public_vars,
                  options=keyed(("info", "start.public_info"), ("help", "start.public_help"),
                                ("agree", "start.public_agree"),
                                ("privacy", "choice.privacy")),
                  then=_public_chosen, goes_to=(INFO, PUBLIC, START, "start.name")),
    )
