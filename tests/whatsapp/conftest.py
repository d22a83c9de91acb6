"""The WhatsApp lab: the real Starlette app with the WhatsApp routes, the real engine and
delivery worker, the real `twilio` client pointed at a local stand-in, and webhooks signed with
Twilio's own `RequestValidator`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.delivery import DeliveryWorker
from bot.runtime import Runtime, flow_config
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.web import build_app
from bot.whatsapp import INBOUND_PATH, WhatsAppSender, channel
from flows.engine import Engine
from flows.registry import Registry
from storage.db import Database
from storage.models import Outbox
from tests.harness import StepClock
from tests.whatsapp.standin import Sent, TwilioStandIn

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-5f1c2a"
FROM = "whatsapp:+14155238886"
PUBLIC = "https://bot.example.go.id"
WEBHOOK_URL = PUBLIC + INBOUND_PATH
APP_SEES = "http://10.0.0.5:8080"  # behind the TLS proxy the app sees another URL
TEMPLATE_SID = "HX" + "a1" * 16


def wa(phone: str) -> str:
    return f"whatsapp:{phone}"


@dataclass
class WhatsAppLab:
    rt: Runtime
    standin: TwilioStandIn
    client: httpx.AsyncClient
    clock: StepClock
    sender: WhatsAppSender
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(AUTH_TOKEN))
    last_sid: str = ""
    profiles: dict[str, str | None] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        return self.rt.db

    def sign(self, url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
        return RequestValidator(token).compute_signature(url, params)

    async def post(self, phone: str, body: str = "", *, sid: str | None = None,
                   profile: str | None = "", signature: str | None = "auto",
                   url: str = WEBHOOK_URL, **extra: str) -> httpx.Response:
        """`phone` writes on WhatsApp: a webhook as Twilio signs and posts it. The profile
        name stays what it was for that phone (like Twilio sends it every time)."""
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
        callback = sent.get("StatusCallback")
        params = {"MessageSid": sent.sid, "MessageStatus": state, "AccountSid": ACCOUNT_SID,
                  "To": sent.to, "From": FROM, "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        headers = {"X-Twilio-Signature": self.sign(callback, params)} if signed else {}
        parsed = urlparse(callback)
        return await self.client.post(f"{parsed.path}?{parsed.query}", data=params,
                                      headers=headers)

    async def deliver(self) -> list[Sent]:
        """Let the delivery worker send what is due; returns what reached the stand-in."""
        await self.rt.worker.drain()
        return self.standin.new()

    async def texts(self, phone: str) -> list[str]:
        return [s.body for s in await self.deliver() if s.to == wa(phone)]

    async def payload(self, phone: str, label: str) -> str:
        """The choice payload behind `label` on the newest message to `phone` showing it."""
        async with self.db.read() as s:
            rows = (await s.execute(select(Outbox).where(Outbox.address == wa(phone))
                                    .order_by(Outbox.id.desc()))).scalars().all()
        for row in rows:
            for payload, shown in (row.payload or {}).get("choices", []):
                if shown == label:
                    return str(payload)
        raise AssertionError(f"no choice {label!r} shown to {phone}")

    async def register(self, phone: str, name: str = "Budi Santoso",
                       kecamatan: str = "Batam Kota") -> None:
        """First contact over WhatsApp, to the menu."""
        await self.post(phone, "halo", profile=name)
        await self.post(phone, "1")
        await self.post(phone, "1")  # the profile name offered
        await self.post(phone, kecamatan)
        await self.deliver()


LabFactory = Callable[..., Any]


@pytest.fixture
async def make_lab(db: Database, tmp_path: Path,
                   clock: StepClock) -> AsyncIterator[LabFactory]:
    """Builds a lab; keyword arguments override settings, `registry` swaps the flows."""
    standin = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    labs: list[WhatsAppLab] = []

    async def build(registry: Registry | None = None, **overrides: Any) -> WhatsAppLab:
        values: dict[str, Any] = {
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_whatsapp_from": FROM, "twilio_api_base_url": standin.url,
            "twilio_webhook_url": WEBHOOK_URL, "sijakon_data_dir": tmp_path / "data",
            "whatsapp_templates": {}}
        values.update(overrides)
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        ch = channel(settings, clock=clock)
        sender = ch.sender
        assert isinstance(sender, WhatsAppSender)
        config = flow_config(settings)
        worker = DeliveryWorker(db, [sender], clock=clock)
        engine = Engine(db, registry=registry, clock=clock, config=config,
                        on_output=worker.wake)
        rt = Runtime(settings, db, engine, worker, Scheduler(db, config, clock=clock), clock)
        assert ch.routes is not None
        app = build_app(rt, ch.routes(rt))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP_SEES)
        lab = WhatsAppLab(rt, standin, client, clock, sender)
        labs.append(lab)
        return lab

    yield build
    for lab in labs:
        await lab.client.aclose()
        await lab.rt.engine.stop()
    standin.stop()


@pytest.fixture
async def lab(make_lab: LabFactory) -> WhatsAppLab:
    return await make_lab()
