"""The conversation test harness: transcripts through the real engine and outbox.

    t = Transcript(db)
    await t.send("budi", "halo")
    assert "Selamat datang" in t.last("budi")
    await t.press("budi", "Setuju")
    await t.assert_step("budi", "start.name")

`send`/`press` go through `Engine.handle` (one transaction, dedupe, state, outbox); `replies`
reads what the outbox holds for a person since the last look, so a test sees exactly what the
person would be sent. Failures print the transcript so far.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from flows.context import FlowConfig
from flows.engine import Engine
from flows.render import to_plain
from flows.types import Inbound, Media, Reply
from storage.db import Database
from storage.models import Conversation, Outbox


class StepClock:
    """A clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 WIB

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Sent:
    """One message a person received."""

    id: int
    text: str
    choices: list[tuple[str, str]]
    media: list[str]
    key: str
    priority: int
    reply: Reply

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.choices]


@dataclass
class Transcript:
    db: Database
    clock: StepClock = field(default_factory=StepClock)
    config: FlowConfig = field(default_factory=FlowConfig)
    channel: str = "console"
    engine: Engine | None = None
    log: list[str] = field(default_factory=list)
    _seen: dict[tuple[str, str], int] = field(default_factory=dict)
    _inbox: dict[tuple[str, str], list[Sent]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = Engine(self.db, clock=self.clock, config=self.config)

    # --- doing ---------------------------------------------------------------------------
    def _addr(self, who: str) -> tuple[str, str]:
        return (self.channel, who) if ":" not in who else tuple(who.split(":", 1))  # type: ignore[return-value]

    async def send(self, who: str, text: str = "", *, media: tuple[Media, ...] = (),
                   phone: str | None = None, choice: str | None = None,
                   external_id: str | None = None, **extra: Any) -> bool:
        """`who` says `text` (or sends media / a button payload); returns False if a repeat."""
        channel, address = self._addr(who)
        ext = external_id or f"t{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        self.log.append(f"{who} > {text or choice or [m.path for m in media]}")
        assert self.engine is not None
        fresh = await self.engine.handle(Inbound(channel=channel, address=address,
                                                 external_id=ext, text=text, media=media,
                                                 phone=phone, choice=choice, **extra))
        await self._collect()
        return fresh

    async def press(self, who: str, label: str, *, in_message: int = -1) -> None:
        """Press the button labelled `label` on the newest message of `who` that has it
        (or on `in_message`, an index into everything `who` received)."""
        channel, address = self._addr(who)
        inbox = self._inbox.get((channel, address), [])
        candidates = inbox if in_message == -1 else [inbox[in_message]]
        for sent in reversed(candidates):
            for payload, lbl in sent.choices:
                if lbl == label or lbl.removeprefix("✅ ") == label:
                    await self.send(who, choice=payload)
                    return
        raise AssertionError(f"{who} has no button {label!r}.\n{self.show()}")

    # --- seeing --------------------------------------------------------------------------
    async def _collect(self) -> None:
        async with self.db.read() as s:
            last = max(self._seen.values(), default=0)
            rows = (await s.execute(select(Outbox).where(Outbox.id > last)
                                    .order_by(Outbox.id))).scalars().all()
        for row in rows:
            reply = Reply.from_payload(row.payload or {})
            sent = Sent(row.id or 0, to_plain(reply.text), reply.choices, reply.media, row.key,
                        row.priority, reply)
            self._inbox.setdefault((row.channel, row.address), []).append(sent)
            self._seen[(row.channel, row.address)] = row.id or 0
            tail = f"  {sent.labels}" if sent.choices else ""
            self.log.append(f"    [{row.address}] {sent.text[:160]!r}{tail}")

    async def refresh(self) -> None:
        """Pick up messages written by someone else (scheduler, admin CLI)."""
        await self._collect()

    def all(self, who: str) -> list[Sent]:
        return list(self._inbox.get(self._addr(who), []))

    def replies(self, who: str) -> list[Sent]:
        """Messages `who` got since the last call to `replies` for them."""
        key = self._addr(who)
        inbox = self._inbox.get(key, [])
        mark = f"_read_{key}"
        start = getattr(self, mark, 0)
        setattr(self, mark, len(inbox))
        return inbox[start:]

    def texts(self, who: str) -> list[str]:
        return [s.text for s in self.replies(who)]

    def last(self, who: str) -> Sent:
        inbox = self._inbox.get(self._addr(who), [])
        if not inbox:
            raise AssertionError(f"{who} received nothing.\n{self.show()}")
        return inbox[-1]

    def got(self, who: str, fragment: str) -> Sent:
        """The newest message to `who` containing `fragment` (case-insensitive)."""
        for sent in reversed(self._inbox.get(self._addr(who), [])):
            if fragment.casefold() in sent.text.casefold():
                return sent
        raise AssertionError(f"{who} never got {fragment!r}.\n{self.show()}")

    async def step(self, who: str) -> str:
        channel, address = self._addr(who)
        async with self.db.read() as s:
            conv = (await s.execute(select(Conversation).where(
                Conversation.channel == channel, Conversation.address == address))).scalar_one()
            return conv.step

    async def assert_step(self, who: str, name: str) -> None:
        actual = await self.step(who)
        if actual != name:
            raise AssertionError(f"{who} is at step {actual!r}, not {name!r}.\n{self.show()}")

    def show(self) -> str:
        return "Transcript:\n" + "\n".join(self.log[-60:])


async def register_warga(t: Transcript, who: str, name: str = "Budi Santoso",
                         phone: str = "081234567890", kecamatan: str = "Batam Kota") -> None:
    """Walk `who` through first contact to the menu."""
    await t.send(who, "halo")
    await t.press(who, "Setuju")
    await t.send(who, name)
    await t.send(who, phone)
    await t.press(who, kecamatan)
    await t.assert_step(who, "menu.home")
    t.replies(who)
