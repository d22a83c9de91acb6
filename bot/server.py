"""`sijakon-bot run`: the channels, the web app, the delivery worker and the scheduler.

Each adapter module offers `channel(settings, clock=...) -> Channel` (bot/channel.py). A
channel may run a loop (Telegram long polling) and may add routes to the one Starlette app
(Telegram webhook, Twilio webhooks), which is served on SIJAKON_HTTP_HOST:SIJAKON_HTTP_PORT
with /healthz and /metrics beside them: always, so a polling-only bot is watched too.

Stops cleanly on SIGINT/SIGTERM: no new updates are taken, the update in hand finishes, and
unsent outbox rows stay queued for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import datetime

import uvicorn

from bot.channel import Channel
from bot.heap import settle_heap
from bot.runtime import build_runtime, setup_logging
from bot.settings import Settings
from bot.startup import bind_http
from bot.web import build_app
from storage.clock import utcnow

log = logging.getLogger(__name__)


def configured_channels(settings: Settings, *,
                        clock: Callable[[], datetime]) -> list[Channel]:
    """The channels the settings turn on, each taking its time from `clock`."""
    found: list[Channel] = []
    if settings.telegram_enabled:
        from bot import telegram

        found.append(telegram.channel(settings, clock=clock))
    if settings.whatsapp_enabled:
        from bot import whatsapp

        found.append(whatsapp.channel(settings, clock=clock))
    return found


async def serve(settings: Settings, *, stop: asyncio.Event | None = None,
                clock: Callable[[], datetime] = utcnow) -> None:
    setup_logging(fmt=settings.sijakon_log_format)
    # the port first: taken, it is one line before the database or a channel starts (uvicorn
    # would bind last, log and sys.exit(3)); uvicorn serves on this socket and closes it
    sock = bind_http(settings)
    try:
        channels = configured_channels(settings, clock=clock)
        rt = await build_runtime(settings, [c.sender for c in channels], clock=clock)
    except BaseException:
        sock.close()
        raise
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    inbound: list[asyncio.Task[None]] = [
        asyncio.create_task(c.run(rt), name=f"channel-{c.sender.channel}")
        for c in channels if c.run is not None]
    routes = [r for c in channels if c.routes is not None for r in c.routes(rt)]
    server = uvicorn.Server(uvicorn.Config(build_app(rt, routes),
                                           host=settings.sijakon_http_host,
                                           port=settings.sijakon_http_port,
                                           log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    inbound.append(asyncio.create_task(server.serve(sockets=[sock]), name="web"))
    background = [asyncio.create_task(rt.worker.run(), name="delivery"),
                  asyncio.create_task(rt.scheduler.run(), name="scheduler")]
    settle_heap()
    log.info("SIJAKON bot running on %s", ", ".join(c.sender.channel for c in channels))
    await stop.wait()
    log.info("stopping: no new updates; finishing the one in hand")
    server.should_exit = True
    for task in inbound:
        if task.get_name() != "web":
            task.cancel()
    await asyncio.gather(*inbound, return_exceptions=True)
    rt.scheduler.stop()
    rt.worker.stop()
    await asyncio.gather(*background, return_exceptions=True)
    await rt.close()
