"""The webhook's secret check, and `sijakon-bot run` (bot.server.serve) with Telegram."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from bot.server import serve
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from standins import free_port
from standins.telegram import Person, StandIn
from storage.db import Database
from tests.channels import TG_SECRET, telegram, telegram_settings
from tests.harness import stored


async def test_webhook_refuses_missing_or_wrong_secret(db: Database, tmp_path: Path) -> None:
    """No secret, a wrong one, or one differing in case: 403, and nothing is stored or sent."""
    async with telegram(db, tmp_path, mode="webhook") as h:
        update = h.driver.person("9001", "Budi").text("/start")
        assert await h.driver.deliver(update, secret=None) == 403
        assert await h.driver.deliver(update, secret="wrong") == 403
        assert await h.driver.deliver(update, secret=TG_SECRET.upper()) == 403
        assert await h.driver.deliver(update, secret=TG_SECRET + "x") == 403
        await h.refresh()
        assert await stored(db) == (0, 0, 0)
        assert h.all("9001") == []
        # the real secret: handled and committed before the 200
        assert await h.driver.deliver(update) == 200
        assert await stored(db) == (1, 1, 1)


async def test_webhook_acknowledges_garbage_and_rejects_wrong_method(db: Database, tmp_path: Path) -> None:
    """A body that is not an update, with our secret, is acknowledged (200: a 4xx/5xx would
    make Telegram deliver it again; tests/telegram/test_odd_inputs.py), a GET gets 405;
    neither reaches the engine."""
    async with telegram(db, tmp_path, mode="webhook") as h:
        client = h.driver.client
        assert client is not None
        headers = {SECRET_HEADER: TG_SECRET}
        r = await client.post(WEBHOOK_PATH, content=b"{not json", headers=headers)
        assert r.status_code == 200
        r = await client.post(WEBHOOK_PATH, json=[1, 2], headers=headers)
        assert r.status_code == 200
        r = await client.get(WEBHOOK_PATH, headers=headers)
        assert r.status_code == 405
        r = await client.post("/telegram/webhook/" + "123456:TOKEN", json={}, headers=headers)
        assert r.status_code == 404
        assert await stored(db) == (0, 0, 0)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_a_reply_wakes_the_idle_delivery_worker(db: Database, tmp_path: Path,
                                                      mode: str) -> None:
    """The worker has caught up and would look again only in an hour; an update comes in and
    its reply still goes out, because the engine's commit wakes the worker."""
    async with telegram(db, tmp_path, mode=mode) as h:
        worker, server = h.driver.rt.worker, h.driver.server
        running = asyncio.create_task(worker.run(poll=3600))
        try:
            await asyncio.wait_for(worker.idle.wait(), 30)
            assert await h.driver.deliver(h.driver.person("9200").text("/start")) == 200
            arrived = await asyncio.to_thread(server.wait_sent, 9200, 60)
            assert arrived is not None, "the reply waited for the worker's next poll"
            assert "SIJAKON" in server.sent(9200)[0].text
        finally:
            worker.stop()
            await running


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_run_serves_telegram_and_stops_cleanly(tmp_path: Path, mode: str) -> None:
    """`sijakon-bot run`: an update in, the welcome out through the worker; then a clean stop
    that leaves the webhook registered (Telegram keeps updates for the next start)."""
    server = StandIn().start()
    port = free_port()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # serve() sets up logging its own way
    try:
        settings = telegram_settings(server, tmp_path, mode, sijakon_http_port=port)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop=stop))
        budi = Person(server, 9100, "Budi")
        update = budi.text("/start tukang")
        if mode == "polling":
            server.push(update)
        else:
            async with httpx.AsyncClient() as client:
                for _ in range(500):  # until uvicorn listens
                    try:
                        r = await client.post(f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                                              json=update, headers={SECRET_HEADER: TG_SECRET})
                        break
                    except httpx.ConnectError:
                        await asyncio.sleep(0.01)
                assert r.status_code == 200
                health = await client.get(f"http://127.0.0.1:{port}/healthz")
                assert health.json()["ok"] is True
        assert await asyncio.to_thread(server.wait_sent, 9100, 10) is not None
        assert "SIJAKON" in server.sent(9100)[0].text
        stop.set()
        await asyncio.wait_for(task, 15)
        if mode == "webhook":
            assert server.webhook["url"] and not server.requests("deleteWebhook")
        else:
            assert server.confirmed > update["update_id"]
    finally:
        server.stop()
        root.handlers[:] = handlers
        root.setLevel(level)
