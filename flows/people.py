"""Creating people and joining their channel accounts; what counts as a name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import col, select

from flows.context import Context
from flows.parsing import clean_name
from flows.types import Reprompt
from storage.models import ChannelAccount, User


async def find_verified_user(ctx: Context, phone: str) -> User | None:
    """An active user whose number a platform vouched for (never a merely typed one)."""
    s = await ctx.db()
    return (await s.execute(
        select(User).where(User.phone == phone, col(User.phone_verified).is_(True),
                           User.status == "active").order_by(col(User.id)).limit(1)
    )).scalar_one_or_none()


async def account_owner(ctx: Context) -> User | None:
    """The active person this (channel, address) already belongs to, if any.

    A tukang created by the Dinas or by `sijakon-admin demo seed` has a channel account but
    no conversation yet; their first message must reach them, not start a new registration.
    """
    s = await ctx.db()
    return (await s.execute(
        select(User).join(ChannelAccount, col(ChannelAccount.user_id) == User.id)
        .where(ChannelAccount.channel == ctx.conv.channel,
               ChannelAccount.address == ctx.conv.address, User.status == "active")
    )).scalar_one_or_none()


async def attach_account(ctx: Context, user: User) -> None:
    """Tie this conversation's (channel, address) to `user` and remember who they are."""
    s = await ctx.db()
    conv = ctx.conv
    account = (await s.execute(
        select(ChannelAccount).where(ChannelAccount.channel == conv.channel,
                                     ChannelAccount.address == conv.address)
    )).scalar_one_or_none()
    if account is None:
        account = ChannelAccount(user_id=user.id or 0, channel=conv.channel, address=conv.address,
                                 last_seen_at=ctx.now, last_inbound_at=ctx.now, created_at=ctx.now)
        s.add(account)
    else:
        account.user_id = user.id or 0
        account.reachable = True
    conv.user_id = user.id
    conv.locale = user.locale
    conv.data["_role"] = user.role
    await s.flush()


async def create_user(ctx: Context, *, role: str, kecamatan_code: str | None = None) -> User:
    """Make the person registered in onboarding (name/phone from the conversation data)."""
    s = await ctx.db()
    user = User(name=ctx.data["name"], phone=ctx.data.get("phone"),
                phone_verified=bool(ctx.data.get("phone_verified")), role=role,
                locale=ctx.conv.locale, kecamatan_code=kecamatan_code, consent_at=ctx.now,
                created_at=ctx.now, updated_at=ctx.now)
    s.add(user)
    await s.flush()
    await attach_account(ctx, user)
    await ctx.audit("user.register", "user", user.id, role=role)
    return user


def name_validator(invalid_key: str) -> Callable[[Context, str], Awaitable[str]]:
    """A Text step's validator for a person's name (`clean_name`), re-asking with
    `invalid_key`: onboarding and settings ask the same question in their own words."""

    async def valid_name(ctx: Context, text: str) -> str:
        name = clean_name(text)
        if name is None:
            raise Reprompt(invalid_key)
        return name

    return valid_name
