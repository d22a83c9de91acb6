"""Collecting outgoing messages and writing them as outbox rows.

The engine, the scheduler and the admin CLI all produce messages the same way: into an
`Outgoing`, then `write` inside their own transaction. Nothing here sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.deadlines import Waking
from flows.render import DEFAULT_LOCALE, render, to_plain
from flows.types import Reply
from storage.clock import as_utc
from storage.models import ChannelAccount, Conversation, Outbox, User

PRIORITY_REPLY = 0
PRIORITY_NOTIFY = 1
PRIORITY_BROADCAST = 2

WINDOW = timedelta(hours=24)  # WhatsApp's customer-service window (PLATFORM-FACTS)
WINDOW_MARGIN = timedelta(minutes=2)  # our clock and Twilio's differ a little
TALKING = timedelta(minutes=30)  # someone who wrote this recently is awake: nothing waits


async def waking_due(session: AsyncSession, user_id: int, now: datetime,
                     hours: Waking) -> datetime | None:
    """When a message that can wait (an offer) should reach someone: None for now, in waking
    hours or while they are talking to the bot (`TALKING`); else the next waking start, so
    nobody's phone buzzes with a job at 23:00. A message from them releases it at once
    (storage/hotpath.py RELEASE)."""
    start = hours.add(now, timedelta())
    if start <= now:
        return None
    rcpt = await find_recipient(session, user_id)
    if rcpt is not None:
        seen = (await session.execute(select(Conversation.updated_at).where(
            Conversation.channel == rcpt.channel, Conversation.address == rcpt.address))
        ).scalar()
        if seen is not None and as_utc(seen) > now - TALKING:
            return None
    return start


def window_cutoff(now: datetime) -> datetime:
    """WhatsApp's 24-hour rule, the one place it lives: a person whose last message came
    after this time may get free text; anyone else only an approved template (or the message
    waits for them to write). The delivery worker and the broadcast enqueue both ask here."""
    return now - WINDOW + WINDOW_MARGIN


@dataclass(slots=True)
class OutRow:
    channel: str
    address: str
    user_id: int | None
    key: str
    payload: dict[str, Any]
    priority: int
    reply: Reply | None = None  # what `payload` was made from (the engine hands it over)
    due: datetime | None = None  # held until then (the night: `waking_due`); None: now

    def as_params(self, now: datetime) -> dict[str, Any]:
        return {"channel": self.channel, "address": self.address, "user_id": self.user_id,
                "key": self.key, "payload": self.payload, "priority": self.priority,
                "status": "queued", "attempts": 0, "next_attempt_at": self.due or now,
                "created_at": now}


@dataclass(slots=True)
class Sendable:
    """An outbox row leased to a delivery worker, with what the sender needs to know about its
    recipient: their language, and whether they wrote within WhatsApp's 24-hour window
    (`window_cutoff`; their account's last inbound message, or for someone still
    registering, their conversation's last change). The worker's claim makes these; so does
    the engine for a reply it hands over (`Handoff`)."""

    id: int
    channel: str
    address: str
    user_id: int | None
    key: str
    reply: Reply
    priority: int
    attempts: int
    broadcast_id: int | None
    locale: str = DEFAULT_LOCALE
    window_open: bool = False
    digest: int = 0  # hash of the stored payload text: the same message again (loop guard)
    parts_sent: int = 0  # parts of a multi-part message delivered before: a retry skips them


class Handoff(Protocol):
    """The delivery worker as the engine sees it.

    A reply to someone who just wrote is written leased to the worker ("sending") and handed
    over after the commit, instead of written "queued" for the worker to claim back: the
    claim's UPDATE, its read of the recipient and the payload's decoding are skipped, and the
    reply leaves at once. If the process dies before the handover, the lease runs out and the
    row is claimed like any other; at most the rows in flight can go twice (as with a claim).
    """

    lease: timedelta
    owner: int | None  # the worker's id in the database (Worker), once it has one

    def accepts(self, channel: str, n: int) -> bool:
        """Whether `n` more rows of `channel` may be handed over now: the worker runs, has room
        and has nothing due in the database for the channel (else order could break); a
        refusal lasts until the worker has claimed what is due."""

    def take(self, rows: list[Sendable]) -> None:
        """The committed rows, to send."""


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: int
    channel: str
    address: str
    locale: str


async def find_recipient(session: AsyncSession, user_id: int) -> Recipient | None:
    """The account to reach a person on: reachable first, then the one they used last."""
    row = (await session.execute(
        select(ChannelAccount.channel, ChannelAccount.address, User.locale)
        .join(User, col(User.id) == col(ChannelAccount.user_id))
        .where(ChannelAccount.user_id == user_id, User.status == "active")
        .order_by(col(ChannelAccount.reachable).desc(),
                  col(ChannelAccount.last_seen_at).desc().nulls_last(),
                  col(ChannelAccount.id).desc())
        .limit(1)
    )).first()
    if row is None:
        return None
    return Recipient(user_id, row.channel, row.address, row.locale)


@dataclass(slots=True)
class Outgoing:
    """Messages made during one unit of work, and the action buttons shown to others."""

    rows: list[OutRow] = field(default_factory=list)
    # (channel, address) -> [[payload, label], ...]: so typing "1" answers the newest buttons
    presented: dict[tuple[str, str], list[list[str]]] = field(default_factory=dict)

    def add(self, channel: str, address: str, user_id: int | None, key: str, reply: Reply,
            priority: int, due: datetime | None = None) -> None:
        self.rows.append(OutRow(channel, address, user_id, key, reply.to_payload(), priority,
                                reply, due))

    async def notify(
        self,
        session: AsyncSession,
        user_id: int,
        key: str,
        *,
        actions: list[Any] | None = None,
        media: list[str] | None = None,
        template: dict[str, Any] | None = None,
        priority: int = PRIORITY_NOTIFY,
        hold_until: datetime | None = None,
        **vars: Any,
    ) -> bool:
        """Queue `key` for a person; `actions` are Choice(action payload, label key);
        `hold_until` keeps it until then (`waking_due`)."""
        rcpt = await find_recipient(session, user_id)
        if rcpt is None:
            return False
        text = render(key, rcpt.locale, **vars)
        pairs = [(f"!{c.id}", to_plain(render(c.label, rcpt.locale))) for c in actions or []]
        reply = Reply(text=text, choices=pairs, media=list(media or []),
                      template=template or {"key": key,
                                            "vars": {k: _plain(v) for k, v in vars.items()}})
        self.add(rcpt.channel, rcpt.address, user_id, key, reply, priority, hold_until)
        if pairs:
            self.presented[(rcpt.channel, rcpt.address)] = [list(p) for p in pairs]
        return True

    def extend(self, other: Outgoing) -> None:
        self.rows.extend(other.rows)
        self.presented.update(other.presented)

    async def write(self, session: AsyncSession, now: datetime) -> None:
        """Write everything collected (for writers other than the engine's batch)."""
        if self.rows:
            await session.execute(insert(Outbox), [r.as_params(now) for r in self.rows])
        for (channel, address), pairs in self.presented.items():
            conv = (await session.execute(
                select(Conversation).where(Conversation.channel == channel,
                                           Conversation.address == address).with_for_update()
            )).scalar_one_or_none()
            if conv is not None and takes_typed_actions(conv.step, conv.data or {}):
                conv.data = {**(conv.data or {}), "_choices": pairs}
        self.rows.clear()
        self.presented.clear()


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def takes_typed_actions(step: str, data: dict[str, Any]) -> bool:
    """Whether a typed number should now answer a notification's buttons.

    Only at the menu, or at a step showing no options: someone half-way through a question
    with options keeps them (their "2" must not decline an offer or drop a draft booking);
    the notification's buttons still work when pressed, and from the menu.
    """
    return step in ("menu.home", "start.welcome") or not data.get("_choices")
