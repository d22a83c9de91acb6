"""The real `sijakon-bot run` as a subprocess against the stand-ins, for tests that kill it,
stop it, restart it, or run several behind a load balancer.

Nothing of the bot is imported or patched: each process gets its settings as environment
variables (README, "Configuration"), a working directory without a `.env`, and its own log
file. What a test uses:

- `database(kind, tmp)`: a database URL, a SQLite file or a fresh PostgreSQL database
  (created and dropped as tests/conftest.py does; `PG_AVAILABLE` says whether one answers).
  `migrate(url)` brings it to the head revision first, so processes started together do not
  race to create the schema.
- `Stage`: the Telegram and Twilio stand-ins the processes talk to; `stage.env(...)` the
  channel settings for a process (Telegram `webhook` or `polling`, WhatsApp on or off; the
  webhook URL Telegram is told to post to, e.g. the balancer's).
- `start_processes(n, url, root, env)`: n processes on one database (instances p1, p2...),
  started together and waited for until each is healthy.
- `BotProcess`: `start()`, `await wait_healthy()` (`/healthz` answers 200: the delivery worker
  is registered and the web server takes webhooks), `kill()` (SIGKILL), `await stop()`
  (SIGTERM, the exit code and how long it took), `await restart()` (same instance name, port,
  database and data directory); `log()` is what it printed in all its lives.
- `Balancer`: a round-robin HTTP proxy on 127.0.0.1 in front of several processes' ports; a
  backend that refuses the connection is skipped (as nginx's `proxy_next_upstream error`), a
  backend that dies mid-request gives 502 (a POST is never sent twice by the balancer).
- `Webhooks`: posts a `Post` (a Telegram update with its secret header, or a signed Twilio
  form) to a base URL and, with `deliver`, posts it again until it gets a 200, as the
  platforms do; it counts what it posted.
- `TelegramChat` / `WhatsAppChat`: one person on a platform: `post(text)` is what the platform
  would post when they write (Telegram in polling mode: `push(text)`), `received()` the texts
  that reached them, in order, and `arrivals()` when each arrived (time.monotonic).
- `OutboxProbe`: the outbox rows not yet sent (`queued`/`sending`), read from the database
  (what a killed process left behind) and `wait_sent(ids)`.

A sketch: two processes on PostgreSQL behind the balancer, Telegram and WhatsApp webhooks::

    stage = Stage.start()
    balancer = await Balancer([]).start()
    hooks = Webhooks(balancer.url)
    async with database("postgresql", tmp_path) as url:
        await migrate(url)
        env = stage.env(telegram="webhook", whatsapp=True,
                        telegram_webhook_url=balancer.url + TELEGRAM_PATH)
        bots = await start_processes(2, url, tmp_path, env)
        balancer.backends = [b.port for b in bots]
        budi = TelegramChat(stage.telegram, 7001)
        siti = WhatsAppChat(stage.twilio, "+6281234567890")
        await hooks.deliver(budi.post("/start"))   # posted again until a 200
        await hooks.deliver(siti.post("halo"))
        ...                                         # budi.received(), siti.received()
        bots[0].kill()                              # the balancer skips it from now on
        code, seconds = await bots[1].stop()        # SIGTERM
        for bot in bots:
            bot.close()
    await hooks.close()
    await balancer.close()
    stage.stop()

tests/test_process_crash.py uses all of it with one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from standins import free_port
from standins.telegram import Person, StandIn
from standins.twilio import TwilioStandIn
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _pg_admin

BIN = Path(sys.executable).parent
TELEGRAM_PATH = "/telegram/webhook"
WHATSAPP_PATH = "/twilio/whatsapp"
TG_SECRET = "crash-test_webhook-secret"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-processes"
WA_FROM = "whatsapp:+14155238886"
# the public URL Twilio signs (behind the TLS proxy the processes see another one)
WA_WEBHOOK_URL = "https://bot.example.go.id" + WHATSAPP_PATH


# --- the database ------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def database(kind: str, tmp: Path) -> AsyncIterator[str]:
    """The URL of an empty database: `sqlite` (a file under `tmp`) or `postgresql` (a fresh
    database, dropped afterwards, also when processes are still connected)."""
    if kind == "sqlite":
        await asyncio.to_thread(tmp.mkdir, parents=True, exist_ok=True)
        yield f"sqlite+aiosqlite:///{tmp / 'sijakon.db'}"
        return
    if kind != "postgresql":
        raise ValueError(f"no database kind {kind!r}")
    name = f"sijakon_proc_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def migrate(url: str) -> None:
    """Bring the database to the head revision (the bot would on start; several processes
    starting at once on an empty database would each try)."""
    from storage.db import Database

    db = Database(url)
    try:
        await db.migrate()
    finally:
        await db.close()


# --- the platforms -----------------------------------------------------------------------------
@dataclass
class Stage:
    """The stand-ins of Telegram's Bot API and Twilio, shared by every process."""

    telegram: StandIn
    twilio: TwilioStandIn

    @classmethod
    def start(cls, **telegram_options: Any) -> Stage:
        return cls(StandIn(**telegram_options).start(),
                   TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start())

    def stop(self) -> None:
        self.telegram.stop()
        self.twilio.stop()

    def env(self, *, telegram: str | None = "webhook", whatsapp: bool = True,
            telegram_webhook_url: str = "", **more: str) -> dict[str, str]:
        """Channel settings: Telegram in `webhook` or `polling` mode (None: off), WhatsApp
        on or off. `telegram_webhook_url` is where Telegram is told to post (a balancer's URL
        plus TELEGRAM_PATH); without it each process is told its own URL. `more`: further
        settings by their variable names."""
        env: dict[str, str] = {}
        if telegram is not None:
            env |= {"TELEGRAM_BOT_TOKEN": self.telegram.token,
                    "TELEGRAM_BASE_URL": self.telegram.base_url}
            if telegram == "webhook":
                env |= {"TELEGRAM_WEBHOOK_URL": telegram_webhook_url,
                        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET}
            elif telegram != "polling":
                raise ValueError(f"telegram is 'webhook', 'polling' or None, not {telegram!r}")
        if whatsapp:
            env |= {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                    "TWILIO_WHATSAPP_FROM": WA_FROM, "TWILIO_API_BASE_URL": self.twilio.url,
                    "TWILIO_WEBHOOK_URL": WA_WEBHOOK_URL}
        return env | more


# --- one bot process ---------------------------------------------------------------------------
_OURS = ("SIJAKON_", "TELEGRAM_", "TWILIO_", "WHATSAPP_")


class BotProcess:
    """`sijakon-bot run` in a subprocess; every life has the same instance name, HTTP port,
    database and data directory (`root/data`), so a restart is the same bot starting again."""

    def __init__(self, database_url: str, root: Path, instance: str, env: dict[str, str],
                 *, port: int | None = None) -> None:
        self.database_url = database_url
        self.root = root
        self.instance = instance
        self.port = port or free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / f"{instance}.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        self.env |= {"SIJAKON_DATABASE_URL": database_url,
                     "SIJAKON_DATA_DIR": str(root / "data"),
                     "SIJAKON_INSTANCE": instance, "SIJAKON_HTTP_HOST": "127.0.0.1",
                     "SIJAKON_HTTP_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.env |= env
        if self.env.get("TELEGRAM_WEBHOOK_URL") == "":
            self.env["TELEGRAM_WEBHOOK_URL"] = self.url + TELEGRAM_PATH
        self.proc: subprocess.Popen[bytes] | None = None
        self.lives = 0
        self.started_at = 0.0  # time.monotonic() of the last start()
        self.exits: list[int] = []  # the exit code of every life that ended

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.running, f"{self.instance} is running already"
        self.lives += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- life {self.lives} ---\n".encode())
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen([str(BIN / "sijakon-bot"), "run"], env=self.env,
                                         cwd=self.root, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)

    async def wait_healthy(self, within: float = 60.0) -> float:
        """Wait until `/healthz` answers 200; the seconds since `start()`. Fails with the log's
        tail if the process ends or `within` seconds pass first."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running:
                    raise AssertionError(f"{self.instance} ended with {self._reap()} before "
                                         f"it was healthy:\n{self.log()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(self.url + "/healthz")
                    if r.status_code == 200:
                        return time.monotonic() - self.started_at
                await asyncio.sleep(0.02)
        raise AssertionError(f"{self.instance} not healthy after {within} s:\n"
                             f"{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer: nothing of the process runs after it."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    async def stop(self, within: float = 30.0) -> tuple[int, float]:
        """SIGTERM, as systemd or docker stop; (exit code, seconds until it ended). Killed
        (and failed) if it has not ended `within` seconds."""
        assert self.proc is not None and self.running
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        while self.proc.poll() is None:
            if time.monotonic() - began > within:
                self.kill()
                raise AssertionError(f"{self.instance} still running {within} s after SIGTERM:"
                                     f"\n{self.log()[-3000:]}")
            await asyncio.sleep(0.02)
        return self._reap(), time.monotonic() - began

    async def restart(self, within: float = 60.0) -> float:
        """Start again (after `kill` or `stop`) and wait until healthy; seconds to health."""
        self.start()
        return await self.wait_healthy(within)

    def _reap(self) -> int:
        assert self.proc is not None
        code = self.proc.wait()
        if len(self.exits) < self.lives:
            self.exits.append(code)
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        """Kill it if it still runs (a test's `finally`)."""
        if self.running:
            self.kill()


async def start_processes(n: int, database_url: str, root: Path, env: dict[str, str], *,
                          prefix: str = "p", within: float = 60.0) -> list[BotProcess]:
    """Start `n` processes on one database (instances `p1`, `p2`...; each its own port and
    data directory under `root`), all at once, and wait until every one is healthy. Migrate
    the database first (`migrate`)."""
    bots = [BotProcess(database_url, root / f"{prefix}{i}", f"{prefix}{i}", env)
            for i in range(1, n + 1)]
    for bot in bots:
        bot.start()
    try:
        await asyncio.gather(*(b.wait_healthy(within) for b in bots))
    except BaseException:
        for bot in bots:
            bot.close()
        raise
    return bots


# --- a round-robin balancer ----------------------------------------------------------------------
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
        "trailer", "content-length"}


class Balancer:
    """A small HTTP/1.1 reverse proxy on 127.0.0.1: each request goes to the next backend port
    in turn. A backend refusing the connection (dead, not started) is skipped for the next;
    when all refuse, 502. A backend that accepted the request and then failed (killed
    mid-request) or did not answer within `timeout` gives 502 / 504: the POST is not sent
    again by the balancer (the platform redelivers). `backends` may be changed at any time;
    `forwarded` counts the requests each port answered."""

    def __init__(self, backends: Iterable[int], *, timeout: float = 15.0) -> None:
        self.backends = list(backends)
        self.timeout = timeout
        self.forwarded: dict[int, int] = {}
        self.refused = 0  # connections refused by a backend (skipped to the next)
        self.failed = 0  # 502/504 given
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._client = httpx.AsyncClient(timeout=timeout,
                                         limits=httpx.Limits(max_keepalive_connections=0))
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, port: int = 0) -> Balancer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the balancer first"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for writer in self._open.values():
            writer.close()  # an idle keep-alive connection ends its loop
        if self._open:
            _, late = await asyncio.wait(list(self._open), timeout=2.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, target, headers, body, keep = request
                status, out_headers, content = await self._forward(method, target, headers,
                                                                   body)
                head = [f"HTTP/1.1 {status} {_reason(status)}"]
                head += [f"{k}: {v}" for k, v in out_headers]
                head += [f"Content-Length: {len(content)}",
                         "Connection: " + ("keep-alive" if keep else "close")]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + content)
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # close(): asyncio would log a cancelled connection callback as an error
        finally:
            self._open.pop(task, None)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _forward(self, method: str, target: str, headers: list[tuple[str, str]],
                       body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP]
        ports = list(self.backends)
        if ports:
            first = next(self._turn) % len(ports)
            ports = ports[first:] + ports[:first]
        for port in ports:
            try:
                r = await self._client.request(method, f"http://127.0.0.1:{port}{target}",
                                               headers=sent, content=body)
            except httpx.ConnectError:
                self.refused += 1
                continue  # nothing reached it: the next one may take the request
            except httpx.TimeoutException:
                self.failed += 1
                return 504, [], b"backend timed out"
            except httpx.HTTPError:
                self.failed += 1
                return 502, [], b"backend failed"
            self.forwarded[port] = self.forwarded.get(port, 0) + 1
            kept = [(k, v) for k, v in r.headers.multi_items()
                    if k.lower() not in _HOP and k.lower() != "content-encoding"]
            return r.status_code, kept, r.content
        self.failed += 1
        return 502, [], b"no backend"


async def _read_request(reader: asyncio.StreamReader) -> tuple[
        str, str, list[tuple[str, str]], bytes, bool] | None:
    """One request (method, target, headers, body, keep-alive), or None at the end."""
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, version = line.decode("latin-1").split()
    headers: list[tuple[str, str]] = []
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    found = {k.lower(): v for k, v in headers}
    if found.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
        body = b"".join(parts)
    else:
        body = await reader.readexactly(int(found.get("content-length", "0") or 0))
    connection = found.get("connection", "").lower()
    keep = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    return method, target, headers, body, keep


def _reason(status: int) -> str:
    from http import HTTPStatus

    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Unknown"


# --- what the platforms post --------------------------------------------------------------------
@dataclass(frozen=True)
class Post:
    """One webhook post as a platform makes it; posted again unchanged to redeliver."""

    path: str
    key: str  # the platform's id: Telegram's update_id, Twilio's MessageSid
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


@dataclass
class Delivery:
    """How one post went: the attempts, and each answer (an HTTP status, or None: no answer,
    the connection was refused, reset or timed out)."""

    post: Post
    answers: list[int | None] = field(default_factory=list)
    done_at: float = 0.0  # time.monotonic() of the 200

    @property
    def attempts(self) -> int:
        return len(self.answers)


class Webhooks:
    """Posts webhooks to `base_url` (a process, or a balancer) as Telegram and Twilio do:
    `deliver` posts until the answer is 200, waiting `backoff` between tries (growing to
    `max_backoff`); every delivery is kept in `deliveries`."""

    def __init__(self, base_url: str, *, timeout: float = 15.0, backoff: float = 0.05,
                 max_backoff: float = 0.5, give_up: float = 120.0) -> None:
        self.base_url = base_url
        self.backoff, self.max_backoff, self.give_up = backoff, max_backoff, give_up
        self.client = httpx.AsyncClient(timeout=timeout)
        self.deliveries: list[Delivery] = []

    async def post(self, post: Post) -> int | None:
        """One try: the HTTP status, or None when nothing answered."""
        try:
            r = await self.client.post(self.base_url + post.path, json=post.json,
                                       data=post.form, headers=post.headers)
        except httpx.HTTPError:
            return None
        return r.status_code

    async def deliver(self, post: Post) -> Delivery:
        """Post until a 200 (redelivering the same update / MessageSid)."""
        delivery = Delivery(post)
        self.deliveries.append(delivery)
        began, wait = time.monotonic(), self.backoff
        while True:
            status = await self.post(post)
            delivery.answers.append(status)
            if status == 200:
                delivery.done_at = time.monotonic()
                return delivery
            if time.monotonic() - began > self.give_up:
                raise AssertionError(f"{post.key} not taken after {self.give_up} s: "
                                     f"{delivery.answers[-5:]}")
            await asyncio.sleep(wait)
            wait = min(self.max_backoff, wait * 2)

    @property
    def redeliveries(self) -> int:
        """Posts made again because the first got no 200."""
        return sum(d.attempts - 1 for d in self.deliveries)

    async def close(self) -> None:
        await self.client.aclose()


class TelegramChat:
    """A Telegram user in a private chat with the bot (webhook mode)."""

    channel = "telegram"

    def __init__(self, server: StandIn, user_id: int, first_name: str = "Budi") -> None:
        self.server = server
        self.person = Person(server, user_id, first_name)
        self.address = str(user_id)

    def post(self, text: str) -> Post:
        """Webhook mode: the post Telegram makes when this person writes `text`."""
        update = self.person.text(text)
        # the secret the processes register (`Stage.env`); a post that comes before the
        # process registered its webhook waits inside it until its Telegram side is ready
        return Post(TELEGRAM_PATH, str(update["update_id"]),
                    {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}, json=update)

    def push(self, text: str) -> int:
        """Polling mode: queue the update for getUpdates; its update_id (the stand-in's
        `wait_confirmed(update_id)` says when the polling process committed it)."""
        update = self.person.text(text)
        self.server.push(update)
        return int(update["update_id"])

    def received(self) -> list[str]:
        return self.server.texts(self.person.id)

    def arrivals(self) -> list[float]:
        """When each of `received()` arrived at the platform (time.monotonic)."""
        return [c.at for c in self.server.sent(self.person.id)]


class WhatsAppChat:
    """A WhatsApp user writing to the Twilio number (webhooks signed for WA_WEBHOOK_URL)."""

    channel = "whatsapp"

    def __init__(self, twilio: TwilioStandIn, phone: str, profile_name: str = "Budi") -> None:
        self.twilio = twilio
        self.address = "whatsapp:" + phone
        self.profile_name = profile_name

    def post(self, text: str) -> Post:
        form, headers = self.twilio.inbound(WA_WEBHOOK_URL, self.address, text, to=WA_FROM,
                                            profile_name=self.profile_name)
        return Post(WHATSAPP_PATH, form["MessageSid"], headers, form=form)

    def received(self) -> list[str]:
        return self.twilio.texts(self.address)

    def arrivals(self) -> list[float]:
        """When each of `received()` arrived at the platform (time.monotonic)."""
        return self.twilio.arrivals_to(self.address)


# --- the outbox, read from outside ----------------------------------------------------------------
class OutboxProbe:
    """Reads the outbox of a database the processes use (never writes): which rows are not
    sent yet, and when given rows were."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url

    async def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1]

            def read() -> list[tuple[Any, ...]]:
                with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
                    return conn.execute(re.sub(r"\$\d+", "?", sql), args).fetchall()

            return await asyncio.to_thread(read)
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg", "postgresql"))
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    async def unsent(self) -> set[int]:
        """Ids of the rows queued or being sent (a killed process's are still `sending`)."""
        rows = await self._query("SELECT id FROM outbox WHERE status IN ('queued', 'sending')")
        return {int(r[0]) for r in rows}

    async def wait_sent(self, ids: set[int], within: float = 30.0,
                        every: float = 0.02) -> float | None:
        """Wait until none of `ids` is queued or being sent any more: the `time.monotonic()`
        at which that was seen, or None after `within` seconds."""
        began = time.monotonic()
        while True:
            if not ids & await self.unsent():
                return time.monotonic()
            if time.monotonic() - began > within:
                return None
            await asyncio.sleep(every)

    async def rows_to(self, channel: str, address: str) -> int:
        """How many rows were ever written for one person (sent or not)."""
        rows = await self._query("SELECT count(*) FROM outbox WHERE channel = $1 "
                                 "AND address = $2", (channel, address))
        return int(rows[0][0])
