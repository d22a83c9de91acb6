"""The Telegram and WhatsApp drivers of the harness (tests/harness.py), and how to start each
channel against its stand-in.

- `telegram(db, data_dir, mode=...)`: the real Telegram adapter (polling task or webhook app),
  engine and delivery worker against `standins.telegram.StandIn`; people are
  `standins.telegram.Person`s, their updates go in the way the mode does.
- `whatsapp(db, data_dir, standin, clock)`: the real Starlette app with the WhatsApp routes,
  engine and delivery worker, the real `twilio` client pointed at `standins.twilio`, and
  webhooks signed with Twilio's own `RequestValidator`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.delivery import DeliveryWorker, OutRow
from bot.media import discard_paths
from bot.runtime import Runtime, flow_config
from bot.scheduler import Scheduler
from bot.settings import Settings, load_settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.web import build_app
from bot.whatsapp import INBOUND_PATH, WhatsAppSender
from bot.whatsapp import channel as whatsapp_channel
from flows.context import Context
from flows.engine import Engine
from flows.registry import Registry, load_flows
from flows.render import to_plain
from flows.steps import Next, Photos
from flows.types import Reply
from standins import telegram as tg_standin
from standins.telegram import Call, Person, StandIn
from standins.twilio import TwilioStandIn
from storage.db import Database
from storage.models import Outbox
from tests.harness import Harness, Sent, StepClock

TG_SECRET = "s3cret_Webhook-token"
TG_WEBHOOK_URL = "https://sijakon.example.go.id/telegram/webhook"

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-5f1c2a"
FROM = "whatsapp:+14155238886"
PUBLIC = "https://bot.example.go.id"
WA_WEBHOOK_URL = PUBLIC + INBOUND_PATH
APP_SEES = "http://10.0.0.5:8080"  # behind the TLS proxy the app sees another URL
TEMPLATE_SID = "HX" + "a1" * 16


# --- Telegram: the real adapter against the stand-in Bot API -------------------------------
class OnRuntime:
    """A driver around one bot process, `rt` (its engine and clock are the harness's)."""

    rt: Runtime

    @property
    def engine(self) -> Engine:
        return self.rt.engine

    @property
    def clock(self) -> StepClock:
        assert isinstance(self.rt.clock, StepClock)
        return self.rt.clock


@dataclass
class TelegramDriver(OnRuntime):
    """One bot process: updates go in the way the mode does (the stand-in's getUpdates, or
    the webhook with its secret); the real delivery worker sends to the stand-in."""

    server: StandIn
    settings: Settings
    tg: TelegramChannel
    rt: Runtime
    mode: str
    client: httpx.AsyncClient | None = None
    channel: str = "telegram"
    people: dict[str, Person] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(5001))
    _read: int = 0

    def person(self, who: str, first_name: str | None = None, *,
               language_code: str | None = "id") -> Person:
        """The Telegram user behind `who` (a chat id, or a name given the next free id)."""
        if who not in self.people:
            numeric = who.lstrip("-").isdigit()
            person = Person(self.server, int(who) if numeric else next(self._ids),
                            first_name or ("Budi" if numeric else who.title()))
            if language_code is None:
                del person.user["language_code"]
            else:
                person.user["language_code"] = language_code
            self.people[who] = person
            self._names[str(person.id)] = who
        return self.people[who]

    def account(self, who: str) -> tuple[str, str]:
        return self.channel, str(self.person(who).id)

    async def deliver(self, update: dict[str, Any], *, secret: str | None = TG_SECRET) -> int:
        """Give the bot one update; returns once it was handled (the webhook's HTTP status;
        200 when polling)."""
        if self.mode == "polling":
            self.server.push(update)
            ok = await asyncio.to_thread(self.server.wait_confirmed, update["update_id"])
            assert ok, f"update {update['update_id']} was never confirmed by the bot"
            return 200
        assert self.client is not None
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        response = await self.client.post(WEBHOOK_PATH, json=update, headers=headers)
        return response.status_code

    async def drain(self) -> int:
        """Let the delivery worker send what is due."""
        return await self.rt.worker.drain()

    async def put(self, who: str, text: str, extra: dict[str, Any]) -> int:
        if extra:
            raise TypeError(f"Telegram text takes no extras {sorted(extra)}: build the update "
                            "with h.driver.person(who) and h.deliver(update)")
        return await self.deliver(self.person(who).text(text))

    async def tap(self, who: str, sent: Sent, payload: str, number: int) -> int:
        return await self.deliver(self.person(who).callback(payload, sent.raw))

    async def picture(self, who: str, data: bytes | str | Path, content_type: str,
                      caption: str) -> int:
        content = data if isinstance(data, bytes) else \
            await asyncio.to_thread(Path(data).read_bytes)
        person = self.person(who)
        if content_type == "image/jpeg":  # a photo; anything else comes as a document
            return await self.deliver(person.photo(content, caption or None))
        name = Path(data).name if not isinstance(data, bytes) else \
            f"file.{content_type.rsplit('/', 1)[-1]}"
        return await self.deliver(person.document(content, name, content_type))

    async def received(self) -> list[tuple[str, Sent]]:
        await self.drain()
        calls = self.server.sent()
        new, self._read = calls[self._read:], len(calls)
        return [(self._names.get(str(c.chat_id), str(c.chat_id)), _telegram_sent(c))
                for c in new]

    async def close(self) -> None:
        await self.engine.stop()


def _telegram_sent(call: Call) -> Sent:
    buttons = [(str(b.get("callback_data", "")), str(b["text"]))
               for row in call.markup.get("inline_keyboard", []) for b in row]
    if call.method == "sendMediaGroup":
        media = [str(m.get("media")) for m in call.params.get("media") or []]
    elif call.method in ("sendPhoto", "sendDocument"):
        media = [str(call.params.get("photo") or call.params.get("document") or "upload")]
    else:
        media = []
    return Sent(to_plain(call.text), buttons, media, call)


def photo_registry(received: list[list[str]]) -> Registry:
    """The real flows plus a test-only Photos step, "test.photos" (up to 3), which keeps what
    it collected in `received` and says "Selesai": for the adapters' media tests."""

    async def then(ctx: Context, paths: list[str]) -> Next:
        received.append(paths)
        ctx.say("choice.done")
        return None

    return load_flows().extended(
        Photos(name="test.photos", key="help.photos", then=then, maximum=3))


def telegram_settings(server: StandIn, data_dir: Path, mode: str, **overrides: Any) -> Settings:
    """Settings for a bot talking to the stand-in (webhook mode: our URL and secret)."""
    values: dict[str, Any] = {
        "_env_file": None, "telegram_bot_token": tg_standin.TOKEN,
        "telegram_base_url": server.base_url, "sijakon_data_dir": data_dir,
        "telegram_chat_rate_per_second": 30, "telegram_chat_burst": 20}
    if mode == "webhook":
        values |= {"telegram_webhook_url": TG_WEBHOOK_URL, "telegram_webhook_secret": TG_SECRET}
    return load_settings(**(values | overrides))


@contextlib.asynccontextmanager
async def telegram(db: Database, data_dir: Path, *, mode: str = "polling",
                   registry: Registry | None = None, server: StandIn | None = None,
                   clock: StepClock | None = None, **overrides: Any) -> AsyncIterator[Harness]:
    """The Telegram channel running (its polling task, or the webhook app) against a
    stand-in; keyword arguments override settings, `registry` swaps the flows."""
    own_server = server is None
    server = server or StandIn().start()
    clock = clock or StepClock()
    settings = telegram_settings(server, data_dir, mode, **overrides)
    config = flow_config(settings)
    tg = TelegramChannel(settings, clock=clock, poll_timeout=1)
    worker = DeliveryWorker(db, [tg.sender], clock=clock)
    engine = Engine(db, clock=clock, config=config, registry=registry, on_output=worker.wake,
                    handoff=worker,
                    discard=partial(discard_paths, media_dir=settings.media_dir))
    rt = Runtime(settings, db, engine, worker, Scheduler(db, config, clock=clock), clock)
    client = None
    if mode == "webhook":
        app = build_app(rt, tg.routes(rt))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://127.0.0.1")
    task = asyncio.create_task(tg.run(rt))
    try:
        await asyncio.wait_for(tg.ready.wait(), 10)
        yield Harness(TelegramDriver(server, settings, tg, rt, mode, client))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.stop()
        await tg.sender.close()
        if client is not None:
            await client.aclose()
        if own_server:
            server.stop()


# --- WhatsApp: signed Twilio webhooks into the real app, the real twilio client out ---------
def wa(phone: str) -> str:
    return f"whatsapp:{phone}"


@dataclass
class WhatsAppDriver(OnRuntime):
    """The real Starlette app with the WhatsApp routes, the engine and delivery worker, and the
    real `twilio` client pointed at the stand-in."""

    rt: Runtime
    standin: TwilioStandIn
    client: httpx.AsyncClient
    sender: WhatsAppSender
    channel: str = "whatsapp"
    phones: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, str | None] = field(default_factory=dict)
    last_sid: str = ""
    _names: dict[str, str] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _read: int = 0

    def phone(self, who: str) -> str:
        """The WhatsApp number of `who` (a number itself, or a name given the next one)."""
        if who not in self.phones:
            phone = who if who.startswith("+") else f"+628113000{next(self._numbers):04d}"
            self.phones[who] = phone
            self._names[wa(phone)] = who
        return self.phones[who]

    def account(self, who: str) -> tuple[str, str]:
        return self.channel, wa(self.phone(who))

    def sign(self, url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
        return RequestValidator(token).compute_signature(url, params)

    async def post(self, who: str, body: str = "", *, sid: str | None = None,
                   profile: str | None = "", signature: str | None = "auto",
                   url: str = WA_WEBHOOK_URL, **extra: str) -> httpx.Response:
        """`who` writes on WhatsApp: a webhook as Twilio signs and posts it. The profile name
        stays what it was for that person (Twilio sends it every time)."""
        phone = self.phone(who)
        if profile == "":
            profile = self.profiles.get(phone, "Budi Santoso")
        self.profiles[phone] = profile
        self.last_sid = sid or "SM" + uuid.uuid4().hex
        params = {"MessageSid": self.last_sid, "SmsSid": self.last_sid,
                  "AccountSid": ACCOUNT_SID, "From": wa(phone), "To": FROM, "Body": body,
                  "NumMedia": "0", "WaId": phone.lstrip("+"), "ApiVersion": "2010-04-01",
                  **extra}
        if profile is not None:
            params["ProfileName"] = profile
        headers = {}
        if signature == "auto":
            headers["X-Twilio-Signature"] = self.sign(url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.client.post(INBOUND_PATH, data=params, headers=headers)

    async def status(self, sent: Sent, state: str, error_code: str = "",
                     *, signed: bool = True) -> httpx.Response:
        """Twilio reports on a message: posted to the status_callback URL we gave it."""
        callback = sent.raw.get("StatusCallback")
        params = {"MessageSid": sent.raw.sid, "MessageStatus": state,
                  "AccountSid": ACCOUNT_SID, "To": sent.raw.to, "From": FROM,
                  "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        headers = {"X-Twilio-Signature": self.sign(callback, params)} if signed else {}
        parsed = urlparse(callback)
        return await self.client.post(f"{parsed.path}?{parsed.query}", data=params,
                                      headers=headers)

    async def payload(self, who: str, label: str) -> str:
        """The choice payload behind `label` on the newest message to `who` showing it (what
        a quick-reply button would carry)."""
        async with self.rt.db.read() as s:
            rows = (await s.execute(select(Outbox).where(Outbox.address == wa(self.phone(who)))
                                    .order_by(Outbox.id.desc()))).scalars().all()
        for row in rows:
            for payload, shown in (row.payload or {}).get("choices", []):
                if shown == label:
                    return str(payload)
        raise AssertionError(f"no choice {label!r} shown to {who}")

    async def put(self, who: str, text: str, extra: dict[str, Any]) -> httpx.Response:
        return await self.post(who, text, **extra)

    async def tap(self, who: str, sent: Sent, payload: str, number: int) -> httpx.Response:
        return await self.post(who, str(number))  # numbered lines: the person types the number

    async def picture(self, who: str, data: bytes | str | Path, content_type: str,
                      caption: str) -> httpx.Response:
        content = data if isinstance(data, bytes) else \
            await asyncio.to_thread(Path(data).read_bytes)
        url = self.standin.add_media(content, content_type)
        return await self.post(who, caption, NumMedia="1", MediaUrl0=url,
                               MediaContentType0=content_type)

    async def deliver(self, params: dict[str, str]) -> httpx.Response:
        """A form exactly as given, signed for the public URL."""
        return await self.client.post(INBOUND_PATH, data=params, headers={
            "X-Twilio-Signature": self.sign(WA_WEBHOOK_URL, params)})

    async def received(self) -> list[tuple[str, Sent]]:
        await self.rt.worker.drain()
        sent = list(self.standin.sent)
        new, self._read = sent[self._read:], len(sent)
        return [(self._names.get(s.to, s.to),
                 Sent(s.body, _numbered(s.body), list(s.media), s)) for s in new]

    async def close(self) -> None:
        await self.client.aclose()
        await self.engine.stop()


def claimed(phone: str, reply: Reply, row_id: int = 1, *, key: str = "test.x") -> OutRow:
    """An outbox row as the worker hands it to the WhatsApp sender, to someone who just wrote
    (the window is open)."""
    return OutRow(row_id, "whatsapp", wa(phone), None, key, reply, 0, 1, None, window_open=True)


def _numbered(body: str) -> list[tuple[str, str]]:
    """The options of a WhatsApp text: its last paragraph, when that is lines 1., 2., ..."""
    lines = body.rsplit("\n\n", 1)[-1].splitlines()
    found = [re.fullmatch(rf"{i}\. (.+)", line) for i, line in enumerate(lines, 1)]
    if not lines or not all(found):
        return []
    return [(str(i), m.group(1)) for i, m in enumerate(found, 1) if m]


async def whatsapp(db: Database, data_dir: Path, standin: TwilioStandIn, clock: StepClock, *,
                   registry: Registry | None = None, **overrides: Any) -> Harness:
    """The WhatsApp channel against `standin`; keyword arguments override settings,
    `registry` swaps the flows. Close it with `await h.close()`."""
    values: dict[str, Any] = {
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
        "twilio_whatsapp_from": FROM, "twilio_api_base_url": standin.url,
        "twilio_webhook_url": WA_WEBHOOK_URL, "sijakon_data_dir": data_dir,
        "whatsapp_templates": {}}
    settings = Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    ch = whatsapp_channel(settings, clock=clock)
    sender = ch.sender
    assert isinstance(sender, WhatsAppSender) and ch.routes is not None
    config = flow_config(settings)
    worker = DeliveryWorker(db, [sender], clock=clock)
    engine = Engine(db, registry=registry, clock=clock, config=config, on_output=worker.wake,
                    handoff=worker,
                    discard=partial(discard_paths, media_dir=settings.media_dir))
    rt = Runtime(settings, db, engine, worker, Scheduler(db, config, clock=clock), clock)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(rt, ch.routes(rt))),
                               base_url=APP_SEES)
    return Harness(WhatsAppDriver(rt, standin, client, sender))


def twilio_standin() -> TwilioStandIn:
    """A started Twilio stand-in for our test account."""
    return TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()


