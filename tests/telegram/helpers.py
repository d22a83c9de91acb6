"""The real Telegram adapter, engine and delivery worker against the stand-in Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.delivery import DeliveryWorker
from bot.runtime import Runtime, flow_config
from bot.scheduler import Scheduler
from bot.settings import Settings, load_settings
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.web import build_app
from flows.engine import Engine
from flows.registry import Registry
from storage.db import Database
from tests.harness import StepClock
from tests.telegram.standin import TOKEN, Call, StandIn

SECRET = "s3cret_Webhook-token"
WEBHOOK_URL = "https://sijakon.example.go.id/telegram/webhook"


@dataclass
class TgHarness:
    """One bot process in a test: deliver updates the way the mode does, drain the outbox,
    and read what the stand-in received."""

    server: StandIn
    db: Database
    clock: StepClock
    settings: Settings
    tg: TelegramChannel
    rt: Runtime
    mode: str
    client: httpx.AsyncClient | None = None
    _seen: dict[int, int] = field(default_factory=dict)

    async def deliver(self, update: dict[str, Any], *,
                      secret: str | None = SECRET) -> int:
        """Give the bot one update; returns once it was handled (HTTP status in webhook mode)."""
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
        return await self.rt.worker.drain()

    async def act(self, update: dict[str, Any], chat_id: int | None = None) -> list[Call]:
        """Deliver, send what the engine queued, and return what the chat got since last time."""
        await self.deliver(update)
        await self.drain()
        chat = chat_id if chat_id is not None else _chat_of(update)
        return self.new(chat)

    def new(self, chat_id: int) -> list[Call]:
        sent = self.server.sent(chat_id)
        start = self._seen.get(chat_id, 0)
        self._seen[chat_id] = len(sent)
        return sent[start:]


def _chat_of(update: dict[str, Any]) -> int:
    for key in ("message", "edited_message"):
        if key in update:
            return int(update[key]["chat"]["id"])
    return int(update["callback_query"]["from"]["id"])


def make_settings(server: StandIn, data_dir: Path, mode: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None, "telegram_bot_token": TOKEN, "telegram_base_url": server.base_url,
        "sijakon_data_dir": data_dir, "telegram_chat_rate_per_second": 30,
        "telegram_chat_burst": 20}
    if mode == "webhook":
        values |= {"telegram_webhook_url": WEBHOOK_URL, "telegram_webhook_secret": SECRET}
    return load_settings(**(values | overrides))


@contextlib.asynccontextmanager
async def telegram_bot(db: Database, data_dir: Path, *, mode: str = "polling",
                       registry: Registry | None = None, server: StandIn | None = None,
                       clock: StepClock | None = None,
                       **overrides: Any) -> AsyncIterator[TgHarness]:
    """Start the Telegram channel (polling task, or the webhook app) against a stand-in."""
    own_server = server is None
    server = server or StandIn().start()
    clock = clock or StepClock()
    settings = make_settings(server, data_dir, mode, **overrides)
    config = flow_config(settings)
    tg = TelegramChannel(settings, clock=clock, poll_timeout=1)
    worker = DeliveryWorker(db, [tg.sender], clock=clock)
    engine = Engine(db, clock=clock, config=config, registry=registry, on_output=worker.wake)
    rt = Runtime(settings, db, engine, worker, Scheduler(db, config, clock=clock), clock)
    client = None
    if mode == "webhook":
        app = build_app(rt, tg.routes(rt))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://127.0.0.1")
    task = asyncio.create_task(tg.run(rt))
    try:
        await asyncio.wait_for(tg.ready.wait(), 10)
        yield TgHarness(server, db, clock, settings, tg, rt, mode, client)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.stop()
        await tg.sender.close()
        if client is not None:
            await client.aclose()
        if own_server:
            server.stop()
