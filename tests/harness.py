"""One conversation test harness for every channel: console, Telegram and WhatsApp.

    h = Harness.console(db)     # or `async with telegram(db, tmp_path) as h` (tests/channels.py)
    await h.send("budi", "halo")
    assert "Selamat datang" in h.last("budi").text
    await h.press("budi", "Setuju")
    await h.assert_step("budi", "start.name")
    await h.setup_state("budi", step="booking.time", data={...}, user={"name": "Budi"})

The verbs (`send`, `press`, `photo`, `replies`/`texts`/`last`/`got`/`all`, `step`/
`assert_step`, `setup_state`) are the same on every channel. A per-channel driver knows only
how a person's message gets in and what the person received:

- `EngineDriver` (console): `Engine.handle` directly; what the person got is what the outbox
  holds for them.
- `TelegramDriver` (tests/channels.py): an update (built by `standins.telegram.Person`)
  through the real Telegram adapter, in polling or webhook mode; what the person got is what
  the stand-in Bot API received (sendMessage, sendPhoto...) once the real delivery worker
  drained the outbox.
- `WhatsAppDriver` (tests/channels.py): a webhook signed with Twilio's `RequestValidator`,
  posted to the real Starlette app; what the person got is what the real `twilio` client sent
  to the stand-in.

People are test names ("budi"); each driver gives a name its address on that channel (the
name itself on the console, a chat id on Telegram, a phone number on WhatsApp), or takes an
address as the name ("5101" on Telegram, "+6281234567890" on WhatsApp, "telegram:777001"
on the console for another channel through the engine). Channel extras (Telegram's raw
`deliver(update)`, WhatsApp's signatures and `status(...)` callbacks) stay on `h.driver`.
Failures print the transcript so far.
"""

from __future__ import annotations

import itertools
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from flows.context import Context, ConvState, FlowConfig
from flows.engine import Engine
from flows.outbox import Outgoing
from flows.registry import Registry
from flows.render import to_plain
from flows.types import Inbound, Media, Reply
from storage.db import Database
from storage.models import ChannelAccount, Conversation, Outbox, ProcessedUpdate, User

BATAM_KOTA = "217110"  # where the people a test makes live, unless it says otherwise


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
    """One message a person received, as their channel showed it.

    `text` is what they read (plain text; on WhatsApp the body as it reads there, its *bold*
    markup and numbered options included); `choices` are (payload, label) of its buttons (on
    WhatsApp: (number, label) of its numbered lines); `raw` is the channel's own record: the
    outbox `Reply` (console), the Bot API `Call` (Telegram), the Twilio request (WhatsApp).
    `key` and `priority` come from the outbox row, on the console only.
    """

    text: str
    choices: list[tuple[str, str]]
    media: list[str]
    raw: Any = field(repr=False)
    key: str = ""
    priority: int = 0

    @property
    def labels(self) -> list[str]:
        return [label for _, label in self.choices]


class Driver(Protocol):
    """How a person's message gets in on one channel, and what people received there."""

    channel: str
    engine: Engine
    clock: StepClock

    def account(self, who: str) -> tuple[str, str]:
        """(channel, address) of a test name."""

    async def put(self, who: str, text: str, extra: dict[str, Any]) -> Any:
        """`who` writes `text` (with channel-specific `extra`); returns the channel's answer."""

    async def tap(self, who: str, sent: Sent, payload: str, number: int) -> Any:
        """`who` presses the button `payload` (the `number`-th) on the message `sent`."""

    async def picture(self, who: str, data: bytes | str | Path, content_type: str,
                      caption: str) -> Any:
        """`who` sends one picture (or file): bytes, or a path."""

    async def deliver(self, raw: Any) -> Any:
        """The channel's own shape of a message (an Inbound, an update, a form), as it is."""

    async def received(self) -> list[tuple[str, Sent]]:
        """(who, message) for everything people received since the last call, in order."""

    async def close(self) -> None:
        """Stop the channel's servers and clients."""


@dataclass
class Harness:
    """A conversation test on one channel: the same verbs whatever the driver."""

    driver: Driver
    log: list[str] = field(default_factory=list)
    _inbox: dict[str, list[Sent]] = field(default_factory=dict)
    _read: dict[str, int] = field(default_factory=dict)

    @classmethod
    def console(cls, db: Database, *, clock: StepClock | None = None,
                config: FlowConfig | None = None, engine: Engine | None = None,
                registry: Registry | None = None, channel: str = "console") -> Harness:
        """People talking to the engine directly (the console channel, or `channel`)."""
        clock = clock or StepClock()
        engine = engine or Engine(db, clock=clock, config=config or FlowConfig(),
                                  registry=registry)
        return cls(EngineDriver(engine, clock, channel))

    def __post_init__(self) -> None:
        self.engine: Engine = self.driver.engine
        self.clock: StepClock = self.driver.clock
        self.channel: str = self.driver.channel
        self.db: Database = self.engine.db
        self.config: FlowConfig = self.engine.config

    def __repr__(self) -> str:
        return f"<Harness on {self.channel}>"

    def account(self, who: str) -> tuple[str, str]:
        """(channel, address) of `who` on this harness's channel."""
        return self.driver.account(who)

    # --- doing ---------------------------------------------------------------------------
    async def send(self, who: str, text: str = "", **extra: Any) -> Any:
        """`who` writes `text`. `extra` is channel-specific (console: Inbound fields such as
        media, phone, choice, external_id, event; WhatsApp: form fields such as
        ButtonPayload, and profile, sid, signature). Returns what the channel answered:
        whether the message was new (console), the webhook's status (Telegram: 200 when
        polling), the webhook's response (WhatsApp)."""
        self.log.append(f"{who} > {text or extra}")
        answer = await self.driver.put(who, text, dict(extra))
        await self.refresh()
        return answer

    async def press(self, who: str, label: str, *, in_message: int = -1) -> Any:
        """Press the button labelled `label` on the newest message of `who` that has it
        (or on `in_message`, an index into everything `who` received)."""
        inbox = self._inbox.get(who, [])
        candidates = inbox if in_message == -1 else [inbox[in_message]]
        for sent in reversed(candidates):
            for number, (payload, shown) in enumerate(sent.choices, 1):
                if label in (shown, shown.removeprefix("✅ ")):
                    self.log.append(f"{who} > [{label}]")
                    answer = await self.driver.tap(who, sent, payload, number)
                    await self.refresh()
                    return answer
        raise AssertionError(f"{who} has no button {label!r}.\n{self.show()}")

    async def photo(self, who: str, item: bytes | str | Path, *,
                    content_type: str = "image/jpeg", caption: str = "") -> Any:
        """`who` sends a picture (or another file, by `content_type`): bytes or a path."""
        self.log.append(f"{who} > (file {content_type}) {caption}")
        answer = await self.driver.picture(who, item, content_type, caption)
        await self.refresh()
        return answer

    async def deliver(self, raw: Any) -> Any:
        """A message in the channel's own shape (an `Inbound`, a Telegram update, a Twilio
        form); returns what the channel answered."""
        self.log.append(f"(raw) > {str(raw)[:160]}")
        answer = await self.driver.deliver(raw)
        await self.refresh()
        return answer

    # --- seeing --------------------------------------------------------------------------
    async def refresh(self) -> list[Sent]:
        """Pick up what people received meanwhile (from the scheduler, the admin CLI, a
        notification written by the test); returns it, for everyone, in order."""
        new = []
        for who, sent in await self.driver.received():
            self._inbox.setdefault(who, []).append(sent)
            new.append(sent)
            tail = f"  {sent.labels}" if sent.choices else ""
            self.log.append(f"    [{who}] {sent.text[:160]!r}{tail}")
        return new

    def all(self, who: str) -> list[Sent]:
        """Everything `who` received."""
        return list(self._inbox.get(who, []))

    def replies(self, who: str) -> list[Sent]:
        """Messages `who` got since the last call to `replies` (or `texts`) for them."""
        inbox = self._inbox.get(who, [])
        start = self._read.get(who, 0)
        self._read[who] = len(inbox)
        return inbox[start:]

    def texts(self, who: str) -> list[str]:
        return [s.text for s in self.replies(who)]

    def last(self, who: str) -> Sent:
        inbox = self._inbox.get(who, [])
        if not inbox:
            raise AssertionError(f"{who} received nothing.\n{self.show()}")
        return inbox[-1]

    def got(self, who: str, fragment: str) -> Sent:
        """The newest message to `who` containing `fragment` (case-insensitive)."""
        for sent in reversed(self._inbox.get(who, [])):
            if fragment.casefold() in sent.text.casefold():
                return sent
        raise AssertionError(f"{who} never got {fragment!r}.\n{self.show()}")

    async def step(self, who: str) -> str:
        channel, address = self.account(who)
        async with self.db.read() as s:
            step = (await s.execute(select(Conversation.step).where(
                Conversation.channel == channel, Conversation.address == address))).scalar()
        if step is None:
            raise AssertionError(f"{who} has no conversation.\n{self.show()}")
        return str(step)

    async def assert_step(self, who: str, name: str) -> None:
        actual = await self.step(who)
        if actual != name:
            raise AssertionError(f"{who} is at step {actual!r}, not {name!r}.\n{self.show()}")

    def show(self) -> str:
        return f"Transcript ({self.channel}):\n" + "\n".join(self.log[-60:])

    # --- starting anywhere ---------------------------------------------------------------
    async def setup_state(self, who: str, *, step: str, data: Mapping[str, Any] | None = None,
                          user: int | bool | Mapping[str, Any] | None = None,
                          locale: str | None = None, ask: bool = True) -> int | None:
        """Put `who` at `step` with the answers `data`, as if they had talked their way there
        (praekelt's `AppTester.setup_state`); returns their user id.

        `user`: None for someone still registering; a user id; True, or a mapping of `User`
        fields, for a registered person made now with an account on this channel. With `ask`
        the step's question is sent (as the engine asks it again), so its buttons work;
        without, the conversation just stands there.
        """
        channel, address = self.account(who)
        now = self.clock()
        uid: int | None
        if user is None or user is False:
            uid = None
        elif isinstance(user, int) and user is not True:
            uid = user
        else:
            uid = await add_user(self.db, [{"channel": channel, "address": address}], at=now,
                                 **({} if user is True else dict(user)))
        values = dict(data or {})
        if uid is not None:
            async with self.db.read() as s:
                person = await s.get(User, uid)
            assert person is not None, f"no user {uid}"
            values.setdefault("_role", person.role)
            locale = locale or person.locale
        await put_conversation(self.db, channel, address, step=step, data=values,
                               user_id=uid, locale=locale or self.config.locale, at=now)
        self.log.append(f"{who} @ {step} {values}")
        if ask:
            await self._ask(channel, address, step)
            await self.refresh()
        return uid

    async def _ask(self, channel: str, address: str, name: str) -> None:
        """The step's question, asked by the step itself (its `prompt`), written like any
        reply: outbox rows, and the shown choices in the conversation data."""
        step = self.engine.registry.get(name)
        if step is None:
            raise AssertionError(f"there is no step {name!r}")
        now = self.clock()
        async with self.db.transaction() as s:
            row = (await s.execute(select(Conversation).where(
                Conversation.channel == channel, Conversation.address == address))).scalar_one()
            conv = ConvState(id=row.id or 0, channel=channel, address=address,
                             user_id=row.user_id, flow=row.flow, step=row.step,
                             data=dict(row.data or {}), locale=row.locale, version=row.version,
                             updated_at=now)

            async def session() -> Any:
                return s

            out = Outgoing()
            await step.prompt(Context(conv=conv, now=now, out=out, config=self.config,
                                      open_session=session, inbound_channel=channel))
            row.data = conv.data
            await out.write(s, now)

    async def close(self) -> None:
        await self.driver.close()


# --- what setup_state writes ---------------------------------------------------------------
_phones = itertools.count(1)


async def add_user(db: Database, accounts: Sequence[Mapping[str, Any]], *, at: datetime,
                   **fields: Any) -> int:
    """A person reachable on `accounts` (`ChannelAccount` columns: channel, address...),
    inserted directly at `at`; `fields` are `User` columns (a unique phone and a name from the
    first address unless given)."""
    values: dict[str, Any] = {
        "name": f"Orang {accounts[0]['address'].title()}",
        "phone": f"+62812000{next(_phones):05d}", "role": "warga", "kecamatan_code": BATAM_KOTA,
        "consent_at": at, "created_at": at, "updated_at": at} | fields
    async with db.transaction() as s:
        user = User(**values)
        s.add(user)
        await s.flush()
        assert user.id is not None
        for account in accounts:
            s.add(ChannelAccount(**({"user_id": user.id, "created_at": at, "last_seen_at": at,
                                     "last_inbound_at": at} | dict(account))))
        return user.id


async def put_conversation(db: Database, channel: str, address: str, *, step: str,
                           data: Mapping[str, Any], user_id: int | None, locale: str,
                           at: datetime) -> None:
    """The conversation row of (channel, address), standing at `step` with `data`. Buttons
    shown before go stale (the step's tag moves on), as when the engine enters a step."""
    async with db.transaction() as s:
        conv = (await s.execute(select(Conversation).where(
            Conversation.channel == channel, Conversation.address == address)
        )).scalar_one_or_none()
        if conv is None:
            conv = Conversation(channel=channel, address=address, updated_at=at)
            s.add(conv)
        tag = int((conv.data or {}).get("_tag", 0)) + 1
        conv.user_id, conv.flow, conv.step = user_id, step.split(".", 1)[0], step
        conv.data = {"_tag": tag, **data}
        conv.locale, conv.updated_at = locale, at


async def stored(db: Database) -> tuple[int, int, int]:
    """How many updates were taken in, conversations started and messages queued."""
    async with db.read() as s:
        return tuple([(await s.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (ProcessedUpdate, Conversation, Outbox)])  # type: ignore[return-value]


async def register_warga(h: Harness, who: str, name: str = "Budi Santoso",
                         phone: str = "081234567890", kecamatan: str = "Batam Kota") -> None:
    """Walk `who` through first contact to the menu, on any channel (WhatsApp vouches for the
    number, so it is only asked elsewhere)."""
    await h.send(who, "halo")
    await h.press(who, "Setuju")
    await h.send(who, name)
    if await h.step(who) == "start.phone":
        await h.send(who, phone)
    await h.press(who, kecamatan)
    await h.assert_step(who, "menu.home")
    h.replies(who)


# --- the console: the engine directly ------------------------------------------------------
@dataclass
class EngineDriver:
    """Messages straight into `Engine.handle`; what people got is read from the outbox."""

    engine: Engine
    clock: StepClock
    channel: str = "console"
    _last: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _media_dir: Path | None = None

    def account(self, who: str) -> tuple[str, str]:
        if ":" in who:
            channel, address = who.split(":", 1)
            return channel, address
        return self.channel, who

    def _who(self, channel: str, address: str) -> str:
        return address if channel == self.channel else f"{channel}:{address}"

    async def put(self, who: str, text: str, extra: dict[str, Any]) -> bool:
        channel, address = self.account(who)
        ext = extra.pop("external_id", None) or f"t{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        return await self.engine.handle(Inbound(channel=channel, address=address,
                                                external_id=ext, text=text, **extra))

    async def tap(self, who: str, sent: Sent, payload: str, number: int) -> bool:
        return await self.put(who, "", {"choice": payload})

    async def picture(self, who: str, data: bytes | str | Path, content_type: str,
                      caption: str) -> bool:
        if isinstance(data, bytes):  # saved like an adapter saves what people send
            if self._media_dir is None:
                self._media_dir = Path(tempfile.mkdtemp(prefix="sijakon-media-"))
            path = self._media_dir / f"{uuid.uuid4().hex}.{content_type.rsplit('/', 1)[-1]}"
            path.write_bytes(data)
        else:
            path = Path(data)
        size = path.stat().st_size if path.exists() else 0
        return await self.put(who, caption, {"media": (Media(str(path), content_type, size),)})

    async def deliver(self, raw: Inbound) -> bool:
        return await self.engine.handle(raw)

    async def received(self) -> list[tuple[str, Sent]]:
        async with self.engine.db.read() as s:
            rows = (await s.execute(select(Outbox).where(Outbox.id > self._last)
                                    .order_by(Outbox.id))).scalars().all()
        out = []
        for row in rows:
            reply = Reply.from_payload(row.payload or {})
            out.append((self._who(row.channel, row.address),
                        Sent(to_plain(reply.text), reply.choices, reply.media, reply, row.key,
                             row.priority)))
            self._last = row.id or self._last
        return out

    async def close(self) -> None:
        await self.engine.stop()
