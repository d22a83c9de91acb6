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
from bot.startup import StartupError, bind_http
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
    try:
        polls_elsewhere = settings.telegram_enabled and not settings.telegram_webhook_url \
            and not await rt.worker.leases.take("poller:telegram")
    except BaseException:
        polls_elsewhere = None
    if polls_elsewhere is not False:
        sock.close()
        await rt.worker.leases.close()
        await rt.close()
        if polls_elsewhere is None:
            raise
        raise StartupError("proses bot lain sudah mengambil pesan Telegram (long polling) dari "
                           "basis data ini; Telegram hanya melayani satu: hentikan yang lain, "
                           "atau atur TELEGRAM_WEBHOOK_URL di semua proses (docs/scale.md)")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    background = [asyncio.create_task(rt.worker.run(), name="delivery")]
    # updates (and timers) only once the worker is registered and the other processes know
    # of it (Step 4: until then one of them may hand its replies straight over)
    ready = asyncio.create_task(rt.worker.ready.wait())
    await asyncio.wait([ready, background[0]], return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        sock.close()
        await rt.close()
        background[0].result()  # the worker's start-up error
        raise StartupError("pengirim pesan berhenti saat mulai")
    background.append(asyncio.create_task(rt.scheduler.run(), name="scheduler"))
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
    settle_heap()
    log.info("SIJAKON bot running on %s", ", ".join(c.sender.channel for c in channels))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, *inbound, background[0]], return_when=asyncio.FIRST_COMPLETED)
    # a channel that ended by itself could not start (a webhook in the way, a token refused),
    # or the delivery worker failed: the process stops with that line rather than serving on
    # without it (a supervisor restarts it)
    failed = next((t.exception() for t in (*inbound, background[0]) if t.done()
                   and not t.cancelled() and t.exception() is not None), None)
    stopping.cancel()
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
    if failed is not None:
        raise failed
