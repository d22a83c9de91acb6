"""WhatsApp through Twilio: signed webhooks in, the official `twilio` client out.

A thin adapter around the engine (DESIGN.md "The shape"):

- `POST /twilio/whatsapp`: an inbound message. The `X-Twilio-Signature` is checked against the
  configured public URL (TWILIO_WEBHOOK_URL; behind a TLS proxy the app sees another URL), media
  are downloaded with the account's credentials, the message goes through `Engine.handle`, and
  Twilio gets an empty TwiML answer once it is committed. Replies go through the outbox.
- `POST /twilio/status`: delivery statuses (signed the same way), translated into receipts
  for the delivery worker (`DeliveryWorker.receipt`), which move outbox rows on to delivered /
  read / failed / undelivered; STOP, blocked and invalid numbers mark the account unreachable.
- `GET /media/{token}`: our outbound photos, at an unguessable URL that expires (an HMAC over
  the file and the expiry, keyed by the auth token); only files under the media directory.

WhatsApp only lets a business write freely within 24 hours of the person's last message
(PLATFORM-FACTS.md). The delivery worker works that out when it claims a row
(`OutRow.window_open`, by `flows.outbox.window_cutoff`); outside the window a message goes as
an approved Content API template when one is configured for its key (WHATSAPP_TEMPLATES), or
waits (`Hold`) for the person's next message. A media download that fails is answered through
the engine like any reply ("file_failed"); so is a file too large ("file_too_large") or one
whose bytes are not a JPEG, PNG or PDF ("file_unsupported", bot/media.py); nothing of that
message is kept. Bodies are read with a hard cap (`bot.web.read_body`); a signed post we
cannot use (fields missing) is answered 200 and logged once, so Twilio never retries it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import mimetypes
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import requests
from pydantic import ValidationError
from requests.adapters import HTTPAdapter
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from bot import media as media_store
from bot.channel import Channel
from bot.delivery import Hold, OutRow, Permanent, ReceiptStatus, Retryable, SendError
from bot.runtime import Runtime
from bot.settings import Settings, WhatsAppTemplate
from bot.web import BadBody, read_body, refuse
from flows.parsing import clean_text, normalize_phone
from flows.render import render, to_whatsapp
from flows.types import Inbound, Media

log = logging.getLogger(__name__)

# Pacing (bench/delivery.py, docs/PERFORMANCE.md "Delivery pacing"). The worker's token bucket
# lets at most burst + rate messages leave in any one second; Twilio counts them when they
# arrive, and the time from leaving to arriving jitters (a thread hop, the GIL, the network).
# So: pace at 97% of WHATSAPP_RATE_PER_SECOND, keep burst + rate a little under it, and spend
# the rest of the headroom on a burst above one token, so a late wake-up of the pacing loop
# is caught up instead of lost (with a burst of exactly one, every millisecond late was
# throughput gone: 87% of 80/s).
PACING_MARGIN = 0.97
ARRIVAL_JITTER = 0.013  # seconds of sending left unused in every second (one message at 80/s)
CHANNEL = "whatsapp"
INBOUND_PATH = "/twilio/whatsapp"
STATUS_PATH = "/twilio/status"
MEDIA_PATH = "/media"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

BODY_LIMIT = 1600  # Twilio's limit for one message body
MAX_MEDIA = 10  # files per message in, per outbox row out (sent one file per message)
MAX_FORM_BYTES = 256 * 1024
TWILIO_API = "https://api.twilio.com"
DOWNLOAD_TIMEOUT = 8.0  # Twilio waits at most 15 s for our answer

# Twilio error codes (https://www.twilio.com/docs/api/errors)
OUTSIDE_WINDOW = 63016
UNREACHABLE = {21610: "recipient sent STOP", 63003: "channel could not find the recipient",
               21211: "invalid number", 21614: "not a WhatsApp number"}
RATE_LIMITED = {20429, 63018}

# Twilio's MessageStatus -> the receipt it is (queued, sending, accepted...: nothing we track)
_RECEIPTS: dict[str, ReceiptStatus] = {"sent": "sent", "delivered": "delivered", "read": "read",
                                       "failed": "failed", "undelivered": "undelivered"}


def public_base(settings: Settings) -> str | None:
    """Where Twilio reaches us: WHATSAPP_PUBLIC_BASE_URL, else TWILIO_WEBHOOK_URL's base."""
    if settings.whatsapp_public_base_url:
        return settings.whatsapp_public_base_url
    url = (settings.twilio_webhook_url or "").rstrip("/")
    if url.endswith(INBOUND_PATH):
        return url[: -len(INBOUND_PATH)] or None
    return None


def _secret(settings: Settings) -> str:
    token = settings.twilio_auth_token
    return token.get_secret_value() if token is not None else ""


# --- signed media links --------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MediaSigner:
    """Unguessable, expiring links to files under the media directory (for Twilio to fetch)."""

    def __init__(self, secret: str, media_dir: Path, ttl: timedelta,
                 clock: Callable[[], datetime]) -> None:
        self._key = hashlib.sha256(b"sijakon-media\x00" + secret.encode()).digest()
        self.media_dir = media_dir
        self.ttl = ttl
        self.clock = clock

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def _root(self) -> Path:
        return self.media_dir.resolve()

    def token(self, path: str) -> str | None:
        """A token for `path`, or None when it is not an existing file under the media dir."""
        root = self._root()
        full = Path(path).resolve()
        if not full.is_relative_to(root) or not full.is_file():
            return None
        expires = int((self.clock() + self.ttl).timestamp())
        body = f"{expires}.{_b64(full.relative_to(root).as_posix().encode())}"
        return f"{body}.{self._sign(body)}"

    def resolve(self, token: str) -> Path | None:
        """The file a token names, if the signature is ours and it has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            return None
        body = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(body), parts[2]):
            return None
        if self.clock().timestamp() > int(parts[0]):
            return None
        try:
            rel = _unb64(parts[1]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        root = self._root()
        full = (root / rel).resolve()
        if not full.is_relative_to(root) or not full.is_file():
            return None
        return full


# --- outbound ------------------------------------------------------------------------------

_local = threading.local()


class _HttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, remembering each thread's last Retry-After header (the
    library's exceptions drop the headers, and a 429 should wait as long as Twilio asks).

    Its connection pool is sized for the sender's threads: the library keeps cores + 4 (6 on
    two cores), so at 80/s with Twilio ~0.2 s away (16 requests in flight) every request over
    that opened a new TLS connection and threw it away. The environment (HTTPS_PROXY,
    NO_PROXY, REQUESTS_CA_BUNDLE) is read once here rather than twice for every message
    (requests' `trust_env`: ~0.5 ms of CPU a message, a tenth of the bot's; bench/delivery.py)."""

    def __init__(self, base: str, connections: int, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        session = self.session
        assert session is not None  # pool_connections=True
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connections)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.proxies = requests.utils.get_environ_proxies(base)
        session.verify = (os.environ.get("REQUESTS_CA_BUNDLE")
                          or os.environ.get("CURL_CA_BUNDLE") or True)
        session.trust_env = False

    def request(self, *args: Any, **kwargs: Any) -> TwilioResponse:
        _local.retry_after = None
        response = super().request(*args, **kwargs)
        value = response.headers.get("Retry-After") if response.headers else None
        if value:
            try:
                _local.retry_after = max(0.0, float(value))
            except ValueError:
                _local.retry_after = None
        return response


def pacing(limit: float) -> tuple[float, float]:
    """(rate, burst) for the delivery worker's bucket under `limit` messages a second. At most
    burst + rate leave in any one second: that stays under `limit` by ARRIVAL_JITTER, and the
    headroom left over is burst above one token (1.4 at 80/s: a wake-up 5 ms late is caught
    up). Under ~66/s there is none: burst 1, and still never more than `limit` in a second."""
    rate = limit * PACING_MARGIN
    spare = max(1.0, rate * ARRIVAL_JITTER)
    return rate, max(1.0, limit - spare - rate)


def _error(exc: TwilioRestException) -> Exception:
    """Sort one Twilio refusal: retry later, wait for the person, or give up on the address."""
    code = int(exc.code) if isinstance(exc.code, int | str) and str(exc.code).isdigit() else None
    what = f"twilio {code or '-'} (HTTP {exc.status})"  # never the message: it holds the number
    if code == OUTSIDE_WINDOW:
        return Hold(f"{what}: outside the 24h window")
    if code in UNREACHABLE:
        return Permanent(f"{what}: {UNREACHABLE[code]}")
    retry_after = getattr(_local, "retry_after", None)
    if exc.status == 429 or code in RATE_LIMITED:
        return Retryable(what, retry_after, whole_channel=True)
    if exc.status >= 500:
        return Retryable(what, retry_after)
    if exc.status in (401, 403):  # our credentials: every message would fail the same way
        return Retryable(what, whole_channel=True)
    return Retryable(what)  # a refusal we do not know: bounded retries, then failed


def numbered(choices: list[tuple[str, str]]) -> str:
    """Choices as lines people answer by typing the number (or the label)."""
    return "\n".join(f"{i}. {to_whatsapp(label)}" for i, (_, label) in enumerate(choices, 1))


def split_body(text: str, limit: int = BODY_LIMIT) -> list[str]:
    """Cut a long text into messages at paragraph, then line, then word boundaries."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n\n", 0, limit), rest.rfind("\n", 0, limit),
                  rest.rfind(" ", 0, limit))
        if cut <= limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return [p for p in parts if p] or [""]


def template_variables(template: WhatsAppTemplate, reply_vars: dict[str, Any],
                       choices: list[tuple[str, str]], text: str = "") -> dict[str, str]:
    """The {{1}}, {{2}}... of a Content API template from a message's variables and buttons."""
    out: dict[str, str] = {}
    for i, name in enumerate(template.variables, 1):
        value: Any = None
        kind, _, arg = name.partition(":")
        if kind in ("choice", "label") and arg.isdigit():
            n = int(arg)
            if 0 < n <= len(choices):
                value = choices[n - 1][0] if kind == "choice" else to_whatsapp(choices[n - 1][1])
        elif name == "message:text":
            value = to_whatsapp(text)
        else:
            value = reply_vars.get(name)
        text = str(value).strip() if value is not None else ""
        out[str(i)] = text or "-"  # WhatsApp refuses empty template variables
    return out


class WhatsAppSender:
    """Sends outbox rows with `client.messages.create`, minding the 24-hour window (which the
    claimed row brings: `OutRow.window_open`). `clock` dates the media links."""

    channel = CHANNEL
    chat_rate: float | None = None
    chat_burst = 1

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime],
                 signer: MediaSigner | None = None, timeout: float = 15.0) -> None:
        self.settings = settings
        self.rate, self.burst = pacing(settings.whatsapp_rate_per_second)
        # the twilio client is synchronous: its own threads, enough for ~2 s of sends, so a
        # busy default pool (6 threads on 2 cores) never bunches sends into 429s
        workers = max(8, int(self.rate * 2))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twilio")
        self.clock = clock
        self.sender = settings.twilio_whatsapp_from or ""
        self.base = public_base(settings)
        self.templates = dict(settings.whatsapp_templates)
        self.signer = signer or MediaSigner(_secret(settings), settings.media_dir,
                                            timedelta(minutes=settings.whatsapp_media_ttl_minutes),
                                            clock)
        base = (settings.twilio_api_base_url or TWILIO_API).rstrip("/")
        self.client = Client(settings.twilio_account_sid, _secret(settings),
                             http_client=_HttpClient(base, workers, timeout=timeout))
        if settings.twilio_api_base_url:
            self.client.api.base_url = base

    async def send(self, row: OutRow) -> str | None:
        callback = f"{self.base}{STATUS_PATH}?row={row.id}" if self.base else None
        common: dict[str, Any] = {"from_": self.sender, "to": row.address}
        if callback:
            common["status_callback"] = callback
        meta = row.reply.template or {}
        template = self._template_for(row, meta)
        # outside the window only a notification (it carries its variables) can go, as a template
        if not row.window_open and (template is None or not meta):
            raise Hold("outside 24h window")
        if template is not None and (not row.window_open or template.in_session):
            variables = template_variables(template, dict(meta.get("vars") or {}),
                                           row.reply.choices, row.reply.text)
            return await self._create(content_sid=template.content_sid,
                                      content_variables=json.dumps(variables), **common)
        body = to_whatsapp(row.reply.text)
        if row.reply.choices:
            body = f"{body}\n\n{numbered(row.reply.choices)}"
        urls = self._media_urls(row.reply.media)
        if len(urls) < len(row.reply.media[:MAX_MEDIA]):
            body = f"{body}\n\n{render('whatsapp.media_skipped', row.locale)}"
        # WhatsApp keeps one attachment per message: the text goes with the first file, each
        # further file as its own message, in order; only the last one asks for a status
        parts = split_body(body)
        plain: dict[str, Any] = {"from_": self.sender, "to": row.address}
        sends: list[dict[str, Any]] = [{"body": part} for part in parts]
        if urls:
            sends[-1]["media_url"] = [urls[0]]
            sends += [{"media_url": [url]} for url in urls[1:]]
        # a retry sends only what did not go before (`parts_sent`, recorded on the row)
        done = min(row.parts_sent, len(sends) - 1)
        try:
            for i, one in enumerate(sends[done:-1], start=done):
                await self._create(**one, **plain)
                done = i + 1
            return await self._create(**sends[-1], **common)
        except SendError as exc:
            if len(sends) > 1:
                exc.parts_done = done
            raise

    def _template_for(self, row: OutRow, meta: dict[str, Any]) -> WhatsAppTemplate | None:
        """The row's own template (a broadcast's content SID), else the one configured for
        its message key in WHATSAPP_TEMPLATES."""
        sid = meta.get("content_sid")
        if isinstance(sid, str) and sid:
            try:
                return WhatsAppTemplate(content_sid=sid,
                                        variables=[str(v) for v in meta.get("variables") or []])
            except ValidationError:
                log.warning("outbox %s names a malformed content SID; using the settings", row.id)
        return self.templates.get(str(meta.get("key") or row.key))

    def _media_urls(self, paths: list[str]) -> list[str]:
        if not self.base:
            return []
        urls = []
        for path in paths[:MAX_MEDIA]:
            token = self.signer.token(path)
            if token is not None:
                urls.append(f"{self.base}{MEDIA_PATH}/{token}")
        return urls

    async def _create(self, **kwargs: Any) -> str | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._create_sync, kwargs)

    def _create_sync(self, kwargs: dict[str, Any]) -> str | None:
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise _error(exc) from None
        except requests.Timeout:
            raise Retryable("twilio timeout") from None
        except requests.RequestException as exc:
            raise Retryable(f"twilio unreachable: {type(exc).__name__}") from None
        except TwilioException as exc:
            raise Retryable(f"twilio: {type(exc).__name__}") from None
        return message.sid


# --- inbound -------------------------------------------------------------------------------


class BadRequest(Exception):
    """A signed post we cannot use (fields missing or malformed): answered 200 and logged
    once (a 4xx/5xx only makes Twilio report or retry it), nothing stored."""


async def _read_form(request: Request) -> dict[str, str] | None:
    """The posted form (the last value of a repeated field, as Starlette's form), or None when
    it is not a form we can read. `bot.web.BodyTooLarge` past MAX_FORM_BYTES, sent with a
    Content-Length or not: the body is counted as it arrives (`bot.web.read_body`)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return None
    body = await read_body(request, MAX_FORM_BYTES)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):  # not a form Twilio would send
        return None


def _signed(validator: RequestValidator, request: Request, params: dict[str, str],
            url: str) -> bool:
    """Twilio's signature over `url` and the form, checked with Twilio's own validator."""
    signature = request.headers.get("x-twilio-signature")
    if not signature:
        return False
    algorithm = get_signature_algorithm(
        request.headers.get("x-twilio-webhooks-signature-settings"))
    try:
        return bool(validator.validate(url, params, signature, algorithm))
    except Exception:
        return False


def _location(params: dict[str, str]) -> tuple[float, float] | None:
    try:
        lat, lon = float(params["Latitude"]), float(params["Longitude"])
    except (KeyError, ValueError):
        return None
    if -90 <= lat <= 90 and -180 <= lon <= 180:
        return (lat, lon)
    return None


Fetched = Media | Literal["too_large", "unsupported", "failed"]


class MediaFetcher:
    """Downloads what people send (Twilio media URLs need the account's Basic auth), streamed
    to disk and judged by content (`bot.media.fetch`)."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime],
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.auth = (settings.twilio_account_sid or "", _secret(settings))
        trusted = {"api.twilio.com"}
        if settings.twilio_api_base_url:
            trusted.add(httpx.URL(settings.twilio_api_base_url).host)
        self.trusted = trusted
        self.transport = transport

    def _auth_for(self, url: str) -> tuple[str, str] | None:
        """Our credentials only go to Twilio (or the configured stand-in)."""
        host = httpx.URL(url).host
        ok = host in self.trusted or host.endswith(".twilio.com")
        return self.auth if ok else None

    async def fetch_all(self, items: list[tuple[str, str]]) -> list[Fetched]:
        """What became of each of [(url, declared content type)], in order: a `Media` (a kept
        file, or a voice note or video passed on without one), or why not."""
        async def one(client: httpx.AsyncClient, url: str, ctype: str) -> Fetched:
            try:
                return await self._fetch(client, url, ctype)
            except media_store.TooLarge:
                return "too_large"
            except media_store.Unsupported as exc:
                log.info("whatsapp media refused: %s", exc)
                return "unsupported"
            except (httpx.HTTPError, OSError, ValueError) as exc:
                log.warning("whatsapp media download failed: %s", type(exc).__name__)
                return "failed"

        # side by side, and all within one deadline: Twilio waits at most 15 s for our answer
        async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True,
                                     transport=self.transport) as client:
            tasks = [asyncio.create_task(one(client, url, ctype)) for url, ctype in items]
            done, pending = await asyncio.wait(tasks, timeout=DOWNLOAD_TIMEOUT + 1)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        return [t.result() if t in done and not t.cancelled() else "failed" for t in tasks]

    async def _fetch(self, client: httpx.AsyncClient, url: str, declared: str) -> Media:
        kind = media_store.classify(declared)
        if kind == "refuse":  # a vCard, a document of a type we never keep: not downloaded
            raise media_store.Unsupported(media_store.bare_type(declared))
        if kind == "not_a_file":  # a voice note or a video: the step answers it
            return media_store.passed_on(declared)
        return await media_store.fetch(client, url, self.settings.media_dir,
                                       max_bytes=self.settings.sijakon_max_media_bytes,
                                       now=self.clock(), auth=self._auth_for(url))


def parse_inbound(params: dict[str, str]) -> tuple[Inbound, list[tuple[str, str]]]:
    """The Inbound for a Twilio form (media still to download) and the media to fetch."""
    sid = params.get("MessageSid", "").strip()
    sender = params.get("From", "").strip()
    if not re.fullmatch(r"[A-Za-z]{2}[0-9a-fA-F]{32}", sid):
        raise BadRequest("MessageSid missing or malformed")
    if not sender.startswith("whatsapp:") or len(sender) > 64:
        raise BadRequest("From is not a WhatsApp address")
    try:
        count = int(params.get("NumMedia") or 0)
    except ValueError:
        raise BadRequest("NumMedia is not a number") from None
    to_fetch = []
    for i in range(max(0, min(count, MAX_MEDIA))):
        url = params.get(f"MediaUrl{i}", "")
        if url.startswith(("http://", "https://")):
            to_fetch.append((url, params.get(f"MediaContentType{i}", "")))
    # a pressed quick-reply button (ButtonPayload) or list item (ListId) is our choice payload;
    # a button without a payload still says its label, which matches the shown choices
    choice = (params.get("ButtonPayload") or params.get("ListId") or "").strip() or None
    text = clean_text(params.get("Body", ""))
    if not text.strip() and choice is None:
        text = clean_text(params.get("ButtonText") or params.get("ListTitle") or "") or text
    profile = clean_text(params.get("ProfileName") or "").strip() or None
    inbound = Inbound(channel=CHANNEL, address=sender, external_id=f"wa:{sid}", text=text,
                      choice=choice, phone=normalize_phone(sender),
                      location=_location(params), profile_name=profile)
    return inbound, to_fetch


# --- the web routes -------------------------------------------------------------------------


class WhatsAppWeb:
    """The three routes, sharing the settings, the validator and the media signer."""

    def __init__(self, rt: Runtime, sender: WhatsAppSender,
                 fetcher: MediaFetcher | None = None) -> None:
        self.rt = rt
        self.settings = rt.settings
        self.sender = sender
        self.validator = RequestValidator(_secret(rt.settings))
        self.fetcher = fetcher or MediaFetcher(rt.settings, clock=rt.clock)
        self.base = public_base(rt.settings)

    def routes(self) -> list[BaseRoute]:
        return [Route(INBOUND_PATH, self.inbound, methods=["POST"]),
                Route(STATUS_PATH, self.status, methods=["POST"]),
                Route(MEDIA_PATH + "/{token}", self.media, methods=["GET"])]

    def _inbound_url(self, request: Request) -> str:
        return self.settings.twilio_webhook_url or str(request.url)

    def _status_url(self, request: Request) -> str:
        if not self.base:
            return str(request.url)
        query = request.url.query
        return f"{self.base}{STATUS_PATH}" + (f"?{query}" if query else "")

    async def inbound(self, request: Request) -> Response:
        try:
            params = await _read_form(request)
        except BadBody as exc:
            log.warning("whatsapp webhook body refused: %s", type(exc).__name__)
            return refuse(exc)
        if params is None:
            return PlainTextResponse("bad request", status_code=400)
        if not _signed(self.validator, request, params, self._inbound_url(request)):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            inbound, to_fetch = parse_inbound(params)
        except BadRequest as exc:  # Twilio's, but not a message we can use: never retried
            log.warning("whatsapp webhook dropped: %s", exc)
            return _twiml()
        # a redelivery we already handled: do not download its media again
        if await self.rt.engine.already_handled(CHANNEL, inbound.external_id):
            return _twiml()
        if to_fetch:
            inbound = self._with_media(inbound, await self.fetcher.fetch_all(to_fetch))
        try:
            await self.rt.engine.handle(inbound)
        except Exception:
            log.exception("whatsapp message %s could not be stored", inbound.external_id)
            return PlainTextResponse("try again", status_code=500)
        return _twiml()

    def _with_media(self, inbound: Inbound, fetched: list[Fetched]) -> Inbound:
        """The message with its files, or, when one of them cannot be kept, the event that
        tells the person why (too large, then failed, then not a JPEG/PNG/PDF), with nothing
        of the message kept: never some of the files, never a file-less "image"."""
        kept = [f for f in fetched if isinstance(f, Media)]
        cap = self.settings.sijakon_max_media_bytes
        if "too_large" in fetched:  # told the size limit, as on Telegram
            media_store.discard(kept)
            return dataclasses.replace(inbound, event="file_too_large", limit_bytes=cap)
        if "failed" in fetched:  # the person is told to send it again
            media_store.discard(kept)
            return dataclasses.replace(inbound, event="file_failed")
        if "unsupported" in fetched:  # "kirim foto JPG/PNG atau PDF"
            media_store.discard(kept)
            return dataclasses.replace(inbound, event="file_unsupported")
        return dataclasses.replace(inbound, media=tuple(kept))

    async def status(self, request: Request) -> Response:
        try:
            params = await _read_form(request)
        except BadBody as exc:
            return refuse(exc)
        if params is None:
            return PlainTextResponse("bad request", status_code=400)
        if not _signed(self.validator, request, params, self._status_url(request)):
            return PlainTextResponse("forbidden", status_code=403)
        sid = params.get("MessageSid", "").strip()
        state = params.get("MessageStatus", "").strip().lower()
        if not sid or not state:  # Twilio's, but nothing we can use: never retried
            log.warning("whatsapp status callback without MessageSid/MessageStatus dropped")
            return Response(status_code=204)
        code_text = params.get("ErrorCode", "").strip()
        receipt = _receipt(state, int(code_text) if code_text.isdigit() else None)
        if receipt is not None:
            status, error, unreachable = receipt
            row_id = request.query_params.get("row", "")
            await self.rt.worker.receipt(CHANNEL, sid, status,
                                         row_id=int(row_id) if row_id.isdigit() else None,
                                         error=error, unreachable=unreachable)
        return Response(status_code=204)

    async def media(self, request: Request) -> Response:
        path = self.sender.signer.resolve(request.path_params.get("token", ""))
        if path is None:
            return PlainTextResponse("not found", status_code=404)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        # the extension is the type the content proved (bot/media.py); nosniff keeps it so
        return FileResponse(path, media_type=ctype,
                            headers={"Cache-Control": "private, no-store",
                                     "X-Content-Type-Options": "nosniff"})


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


def _receipt(state: str, code: int | None
             ) -> tuple[ReceiptStatus, str | None, str | None] | None:
    """A status callback as (receipt status, last error, unreachable reason), or None for a
    status we do not track (queued, sending, accepted...)."""
    status = _RECEIPTS.get(state)
    if status not in ("failed", "undelivered"):
        return None if status is None else (status, None, None)
    if code == OUTSIDE_WINDOW:  # delivered nothing; it goes again after the next message
        return "waiting", f"twilio {code}: outside the 24h window", None
    if code in UNREACHABLE:
        return status, f"twilio {code}: {UNREACHABLE[code]}", UNREACHABLE[code]
    return status, f"twilio {code or status}", None


# business-initiated messages that matter most when the person has been quiet for a day
NEEDS_TEMPLATE = ("offer.new", "admin.statement_requested", "admin.complaint_decided_tukang",
                  "admin.tukang_activated")


def channel(settings: Settings, *, clock: Callable[[], datetime]) -> Channel:
    """The WhatsApp channel for `sijakon-bot run`: the sender and the three web routes."""
    sender = WhatsAppSender(settings, clock=clock)
    missing = [k for k in NEEDS_TEMPLATE if k not in sender.templates]
    if missing:
        # without them these wait for the person's next message (24-hour window): an offer
        # would expire unseen, a statement request (Pasal 9) would not reach the tukang
        log.warning("WhatsApp: no approved template for %s; outside the 24-hour window these "
                    "messages wait (docs/whatsapp.md)", ", ".join(missing))

    def routes(rt: Runtime) -> list[BaseRoute]:
        return WhatsAppWeb(rt, sender).routes()

    return Channel(sender=sender, routes=routes)
