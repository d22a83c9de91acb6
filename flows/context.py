"""What a step sees: the conversation, a lazily opened database savepoint, `say` and `notify`.

Steps never send. `say` and `notify` only add rows to an `Outgoing` collector; the engine
writes them as outbox rows in the same transaction as the step's domain changes, or drops
them if the step fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from flows.outbox import PRIORITY_REPLY, Outgoing
from flows.render import render, to_plain
from flows.types import Choice, Reply
from storage.clock import local

if TYPE_CHECKING:
    from storage.models import User
    from storage.reads import Read

log = logging.getLogger(__name__)

# a task left half-way (flows.engine `_keep_draft`): kept when the flow's data is cleared
DRAFT = "_draft"
INTERNAL_KEYS = ("_tag", "_choices", "_role", DRAFT)


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowConfig:
    """Settings the conversation logic needs, handed in by bot/ (flows never read env)."""

    offer_ttl: timedelta = timedelta(hours=3)
    # several tukang asked: the warga's time to confirm one who said yes (waking time), after
    # which the first to say yes is chosen (SIJAKON_CHOOSE_MINUTES)
    choose_within: timedelta = timedelta(hours=1)
    idle_reset: timedelta = timedelta(days=3)
    data_dir: Path = Path("data")
    max_text: int = 4000
    page_size: int = 5
    locale: str = "id"
    # sent outbox rows are kept this long, then pruned (flows.timers.prune_outbox)
    outbox_keep: timedelta = timedelta(days=120)
    # retention of the rest (flows.timers, storage/retention.py; docs/admin-guide.md)
    dedupe_keep: timedelta = timedelta(days=2)
    conversation_keep: timedelta = timedelta(days=30)
    job_media_keep: timedelta = timedelta(days=180)
    complaint_media_keep: timedelta = timedelta(days=365)
    tukang_media_keep: timedelta = timedelta(days=365)
    # the data administrator named while no `pdp` officer is active (SIJAKON_PDP_NAME/_CONTACT;
    # flows.privacy.data_administrator); empty: the notice names the Dinas itself
    pdp_name: str = ""
    pdp_contact: str = ""
    # Pasal 9 (flows/deadlines.py, flows/complaints.py): the Dinas's holiday override file,
    # the officers' chat as (channel, address) for notifications, and the working days a
    # removed tukang has to file a keberatan
    holidays_file: Path | None = None
    officer_chat: tuple[str, str] | None = None
    objection_days: int = 10
    # the Dinas's office, named in help and wherever the bot cannot help further
    # (SIJAKON_DINAS_*; flows.privacy.dinas_contact); empty: left out of the message
    dinas_address: str = ""
    dinas_phone: str = ""
    dinas_hours: str = ""
    # local (WIB) hours in which offers, reminders and surveys go out (SIJAKON_WAKING_HOURS)
    waking_hours: tuple[time, time] = (time(6, 0), time(21, 0))


@dataclass(slots=True)
class ConvState:
    """One conversation row, held in memory while its messages are handled."""

    id: int
    channel: str
    address: str
    user_id: int | None
    flow: str
    step: str
    data: dict[str, Any]
    locale: str
    version: int
    updated_at: datetime | None = None

    @property
    def tag(self) -> str:
        return str(self.data.get("_tag", 0))


@dataclass(slots=True)
class Context:
    """The world of one step call."""

    conv: ConvState
    now: datetime
    out: Outgoing
    config: FlowConfig
    open_session: Callable[[], Awaitable[AsyncSession]]
    inbound_channel: str = ""
    # a `Read` on the batch's driver connection (the engine's); without it, through the session
    read_rows: Callable[[Read, dict[str, Any]], Awaitable[list[tuple[Any, ...]]]] | None = None
    _session: AsyncSession | None = None
    _user: User | None = None
    said: int = 0
    extras: dict[str, Any] = field(default_factory=dict)
    # options a step's `enter` read for the prompt it is about to send (read once, not twice)
    held: dict[str, list[Any]] = field(default_factory=dict)
    # files of this message a step that may keep files did not use: deleted with the batch
    dropped: list[str] = field(default_factory=list)

    # --- data ----------------------------------------------------------------------------
    @property
    def today(self) -> date:
        """The date in Batam now (WIB): what "today" means to the people we talk to."""
        return local(self.now).date()

    @property
    def data(self) -> dict[str, Any]:
        return self.conv.data

    @property
    def locale(self) -> str:
        return self.conv.locale

    async def db(self) -> AsyncSession:
        """The session; its savepoint is opened on first use so idle steps cost nothing."""
        if self._session is None:
            self._session = await self.open_session()
        return self._session

    async def rows(self, read: Read, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a `Read` (storage/reads.py): compiled once, on the driver when it can."""
        if self.read_rows is not None:
            return await self.read_rows(read, params)
        return [tuple(r) for r in await (await self.db()).execute(read.stmt, params)]

    async def user(self) -> User | None:
        if self.conv.user_id is None:
            return None
        if self._user is None or self._user.id != self.conv.user_id:
            from storage.models import User

            self._user = await (await self.db()).get(User, self.conv.user_id)
        return self._user

    async def require_user(self) -> User:
        user = await self.user()
        if user is None:
            raise LookupError(f"conversation {self.conv.id} has no user")
        return user

    # --- output --------------------------------------------------------------------------
    def t(self, key: str, **vars: Any) -> str:
        """Render a message key in this conversation's language (for labels and parts)."""
        return render(key, self.conv.locale, **vars)

    def say(
        self,
        key: str,
        *,
        choices: list[Choice] | None = None,
        media: list[str] | None = None,
        request_phone: bool = False,
        **vars: Any,
    ) -> None:
        """Answer the person who wrote; choices become this step's buttons."""
        text = render(key, self.conv.locale, **vars)
        # labels are plain text on every platform; a label made with ctx.t arrives escaped
        pairs = [(f"{self.conv.tag}:{c.id}", to_plain(c.label)) for c in choices or []]
        if choices:
            self.conv.data["_choices"] = [list(p) for p in pairs]
        reply = Reply(text=text, choices=pairs, media=list(media or []),
                      request_phone=request_phone)
        self.out.add(self.conv.channel, self.conv.address, self.conv.user_id, key, reply,
                     PRIORITY_REPLY)
        self.said += 1

    async def notify(
        self,
        user_id: int,
        key: str,
        *,
        actions: list[Choice] | None = None,
        media: list[str] | None = None,
        template: dict[str, Any] | None = None,
        hold_until: datetime | None = None,
        **vars: Any,
    ) -> bool:
        """Tell another person something; `actions` are buttons that work from any step;
        `hold_until` keeps it until then (flows.outbox.waking_due).

        Returns False when the person has no channel account to reach.
        """
        return await self.out.notify(await self.db(), user_id, key, actions=actions,
                                     media=media, template=template,
                                     hold_until=hold_until, **vars)

    async def audit(self, action: str, subject_type: str = "", subject_id: int | None = None,
                    **detail: Any) -> None:
        """Record a domain event in the access history, inside the same transaction."""
        from storage.models import AuditLog

        actor = f"user:{self.conv.user_id}" if self.conv.user_id else "anon"
        (await self.db()).add(AuditLog(actor=actor, action=action, subject_type=subject_type,
                                       subject_id=subject_id, detail=detail,
                                       channel=self.conv.channel, at=self.now))

    def presented(self) -> list[tuple[str, str]]:
        """The (payload, label) pairs last shown in this conversation."""
        return [(str(a), str(b)) for a, b in self.conv.data.get("_choices", [])]

    def clear_flow_data(self) -> None:
        for k in [k for k in self.conv.data if k not in INTERNAL_KEYS]:
            del self.conv.data[k]
