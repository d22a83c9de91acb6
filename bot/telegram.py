"""Telegram through python-telegram-bot 22: updates in as `Inbound`, outbox rows out.

A thin adapter (DESIGN.md "The shape"): it turns a Telegram update into a transport-free
`Inbound` for `Engine.handle`, and an outbox row's `Reply` into Bot API calls. It knows
Telegram's limits (PLATFORM-FACTS.md) so nothing else has to: 4096-character messages,
1024-character captions, 64-byte `callback_data`, the shared-contact `user_id` check.

Updates come in one of two ways:

- **long polling** (default): our own `getUpdates` loop. Unlike PTB's `Updater`, which
  confirms a batch with the next `getUpdates` call before the batch is handled, the offset
  only moves past an update once the engine has committed it, so a crash loses nothing (the
  engine drops the repeat on the next start). One chat's updates are handled in order; several
  chats side by side, which lets the engine batch them into one transaction.
- **webhook** (`TELEGRAM_WEBHOOK_URL` set): a route of the project's Starlette app at
  `WEBHOOK_PATH` (never the token), registered with `secret_token`; a request without the right
  `X-Telegram-Bot-Api-Secret-Token` gets 403 and touches nothing, and 200 is answered only
  after the engine committed (anything else makes Telegram redeliver).

An update we cannot read (a shape of an older Bot API, a body that is no update) is answered
200 or confirmed past, and logged once: redelivering it would never help. Files are streamed
to disk and judged by their bytes (bot/media.py); text is cleaned of invisible control
characters (`flows.parsing.clean_text`) before the engine sees it.

Both parse with PTB (`get_updates`, `Update.de_json`) and hand the update straight on:
translate, then `Engine.handle`, as PTB's own `examples/customwebhookbot/starlettebot.py` does;
no `Application` in between. Everything the bot says goes through the engine and the outbox,
also the notices for edited messages, commands in groups and files we cannot take
(`Inbound.event`). The sender paces nothing itself: the delivery worker does (the chat and
overall token buckets), and PTB's `AIORateLimiter` is deliberately not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import mimetypes
import re
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from telegram import (
    Bot,
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot import media as media_store
from bot.channel import Channel
from bot.delivery import OutRow, Permanent, Retryable, SendError
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import StartupError
from bot.web import BadBody, read_body, refuse
from flows.engine import Engine, pick_locale
from flows.parsing import clean_text, normalize_phone
from flows.render import render, to_plain
from flows.types import Inbound, InboundEvent, Media

log = logging.getLogger(__name__)

CHANNEL = "telegram"
DEFAULT_API = "https://api.telegram.org"
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
COMMANDS = ("start", "menu", "batal", "bantuan", "stop")

TEXT_LIMIT = 4096  # characters (UTF-16 units) of a message
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64  # bytes of callback_data
MAX_PER_ROW = 8
LABEL_LIMIT = 48  # longer button labels are cut: Telegram would, less tidily
MEDIA_GROUP_MAX = 10
CHOSEN_DATA = "~"  # callback_data of the line that replaces a pressed keyboard
POLL_TIMEOUT = 30  # seconds a getUpdates call waits at Telegram for something new
INBOUND_POOL = 256  # connections for file downloads and button answers (PTB's default too)
MAX_UPDATE_TRIES = 3
MAX_UPDATE_BYTES = 1024 * 1024  # an update is a few KB (4096-character texts): more is no update
FILE_TIMEOUT = 30.0  # seconds for one file download (Telegram serves files up to 20 MB)
# Polling decodes each update on its own (`_get_updates`, through `Bot.do_api_request`): PTB's
# `get_updates` decodes the whole batch at once, so one update it cannot read (a poll in older
# JSON: TypeError) failed every call, logged the batch's contents and stopped the loop. PTB
# warns that `get_updates` exists when its endpoint goes through `do_api_request`: that one
# warning is silenced (`_poll`).
_GET_UPDATES_WARNING = r"Please use 'Bot\.get_updates'"
# Pace a little under the configured limits: Telegram counts when a message arrives, and
# network jitter can bring two paced sends closer together than they left (bench:
# bench/delivery.py --channel telegram on a busy machine: a few 429s at the limit, none at 98%).
PACING_MARGIN = 0.98

# BadRequest descriptions that mean the chat is gone for good (mark the account unreachable)
_GONE = ("chat not found", "user is deactivated", "bot was blocked", "peer_id_invalid",
         "bot can't initiate conversation", "user not found")
_COMMAND_MENTION = re.compile(r"^(/[A-Za-z0-9_]+)@[A-Za-z0-9_]+")
_TAG = re.compile(r"<(/?)(b|i)>")


# --- outbound: the sender ---------------------------------------------------------------------

def _units(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def _cut_point(word: str, limit: int) -> int:
    """Where to hard-cut an over-long word: within `limit`, never inside a tag or an entity."""
    cut = limit
    while _units(word[:cut]) > limit:
        cut -= 1
    head = word[:cut]
    for opener, closer in (("<", ">"), ("&", ";")):
        at = head.rfind(opener)
        if at > 0 and closer not in head[at:]:
            cut = min(cut, at)
    return max(1, cut)


def _fit(line: str, limit: int) -> list[str]:
    """One line as pieces of at most `limit`: on spaces, or hard cuts for endless words."""
    if _units(line) <= limit:
        return [line]
    pieces: list[str] = []
    current = ""
    for word in line.split(" "):
        while _units(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            cut = _cut_point(word, limit)
            pieces.append(word[:cut])
            word = word[cut:]
        candidate = f"{current} {word}" if current else word
        if _units(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = word
    if current:
        pieces.append(current)
    return pieces


def split_html(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split a long HTML message on line boundaries (then spaces), keeping <b>/<i> balanced:
    a tag open at a cut is closed at the end of one part and reopened at the next."""
    if _units(text) <= limit:
        return [text]
    room = limit - 16  # for the closing and reopening tags
    chunks: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        for piece in _fit(line, room):
            candidate = piece if current is None else f"{current}\n{piece}"
            if _units(candidate) <= room:
                current = candidate
            else:
                if current is not None:
                    chunks.append(current)
                current = piece
    if current is not None:
        chunks.append(current)
    balanced: list[str] = []
    open_tags: list[str] = []
    for chunk in chunks:
        prefix = "".join(f"<{t}>" for t in open_tags)
        for closing, tag in _TAG.findall(chunk):
            if not closing:
                open_tags.append(tag)
            elif tag in open_tags:
                open_tags.reverse()
                open_tags.remove(tag)
                open_tags.reverse()
        suffix = "".join(f"</{t}>" for t in reversed(open_tags))
        part = prefix + chunk + suffix
        if to_plain(part).strip():
            balanced.append(part)
    return balanced


def _short(label: str) -> str:
    """A button label: plain text (labels are rendered as HTML, buttons show it raw), cut."""
    label = " ".join(to_plain(label).split())
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


def per_row(labels: Sequence[str]) -> int:
    """Buttons per keyboard row: one for long labels, more the shorter they are (max 8)."""
    longest = max((len(label) for label in labels), default=0)
    if longest <= 3:
        return min(MAX_PER_ROW, 5)
    if longest <= 10:
        return 3
    if longest <= 20:
        return 2
    return 1


def fits_callback(payload: str) -> bool:
    return 1 <= len(payload.encode("utf-8")) <= CALLBACK_LIMIT


def inline_keyboard(choices: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """Choices as inline buttons, or None when a payload does not fit in 64 bytes."""
    if not choices or not all(fits_callback(p) for p, _ in choices):
        return None
    labels = [_short(label) for _, label in choices]
    width = per_row(labels)
    buttons = [InlineKeyboardButton(label, callback_data=payload)
               for label, (payload, _) in zip(labels, choices, strict=True)]
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def numbered(text: str, choices: Sequence[tuple[str, str]], locale: str) -> str:
    """The fallback when buttons cannot carry the payloads: numbered lines to type."""
    lines = [f"{i}. {_escape(to_plain(label))}" for i, (_, label) in enumerate(choices, start=1)]
    return "\n".join([text, "", *lines, "", render("telegram.type_number", locale)])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22.2+ warns that the type will become timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def classify(exc: TelegramError) -> SendError:
    """Sort a Bot API failure once (DESIGN.md "Errors sorted once")."""
    if isinstance(exc, RetryAfter):
        return Retryable("telegram 429 flood control", retry_after=_retry_seconds(exc))
    if isinstance(exc, Forbidden):
        return Permanent(f"telegram forbidden: {exc.message}")
    if isinstance(exc, ChatMigrated):
        return Permanent("telegram chat migrated")
    if isinstance(exc, BadRequest):  # a subclass of NetworkError: sort it first
        if any(s in exc.message.lower() for s in _GONE):
            return Permanent(f"telegram: {exc.message}")
        return Retryable(f"telegram bad request: {exc.message}")
    if isinstance(exc, InvalidToken):
        return Retryable("telegram rejected the token", retry_after=300, whole_channel=True)
    if isinstance(exc, TimedOut | NetworkError):
        return Retryable(f"telegram network: {exc.message}")
    return Retryable(f"telegram: {type(exc).__name__}")


def api_urls(settings: Settings) -> tuple[str, str]:
    """(base_url, base_file_url) in PTB's form: the token is appended to each."""
    base = (settings.telegram_base_url or DEFAULT_API).rstrip("/")
    return f"{base}/bot", f"{base}/file/bot"


def _token(settings: Settings) -> str:
    token = settings.telegram_bot_token
    if token is None or not token.get_secret_value():
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    return token.get_secret_value()


Part = Callable[[], Awaitable[Message | Sequence[Message]]]


class TelegramSender:
    """The delivery worker's sender for Telegram: one outbox row -> one or more API calls.

    It has its own `Bot` (and connection pool) so the web/polling side shutting down never
    cuts a send in flight. A row that needs several calls (a long text, photos then text)
    remembers how far it got, so a retry after a 429 sends only what is missing.
    """

    channel = CHANNEL

    def __init__(self, settings: Settings, *, bot: Bot | None = None) -> None:
        self.rate = settings.telegram_rate_per_second * PACING_MARGIN
        # a little overall burst lets the worker catch up after a late wake-up (bench)
        self.burst = max(1.0, min(3.0, self.rate / 15))
        self.chat_rate: float | None = settings.telegram_chat_rate_per_second * PACING_MARGIN
        self.chat_burst = settings.telegram_chat_burst
        if bot is None:
            base_url, base_file_url = api_urls(settings)
            pool = max(16, int(self.rate * 2))
            bot = Bot(_token(settings), base_url=base_url, base_file_url=base_file_url,
                      request=HTTPXRequest(connection_pool_size=pool, read_timeout=15,
                                           write_timeout=20, pool_timeout=5))
        self.bot = bot
        self._ready = False
        self._progress: dict[int, int] = {}  # outbox row id -> parts already delivered
        self._file_ids: dict[str, str] = {}  # local photo path -> Telegram file_id
        self._reply_keyboard: set[int] = set()  # chats showing the share-number keyboard

    async def start(self) -> None:
        """Connect before the first send, so the first message is not late by a getMe (a late
        first message makes the next ones arrive closer together than they were paced)."""
        if not self._ready:
            await self.bot.initialize()
            self._ready = True

    async def close(self) -> None:
        if self._ready:
            await self.bot.shutdown()
            self._ready = False

    async def send(self, row: OutRow) -> str | None:
        try:
            chat_id = int(row.address)
        except ValueError:
            raise Permanent("not a Telegram chat id") from None
        try:
            await self.start()
            parts = self._plan(row, chat_id)
            done = self._progress.get(row.id, 0)
            last: str | None = None
            for i in range(done, len(parts)):
                result = await parts[i]()
                self._progress[row.id] = i + 1
                first = result[0] if isinstance(result, Sequence) and result else result
                if isinstance(first, Message):
                    last = str(first.message_id)
        except TelegramError as exc:
            error = classify(exc)
            if isinstance(error, Permanent):
                self._progress.pop(row.id, None)
            raise error from None
        self._progress.pop(row.id, None)
        if len(self._progress) > 10_000:  # rows that failed for good; forget them
            self._progress.clear()
        return last

    def _plan(self, row: OutRow, chat_id: int) -> list[Part]:
        """The API calls for one row, in order: photos first, the text (and keyboard) last."""
        reply = row.reply
        text = reply.text
        markup: Any = None
        if reply.request_phone:
            rows = [[KeyboardButton(render("telegram.share_phone", row.locale),
                                    request_contact=True)]]
            rows += [[KeyboardButton(_short(label))] for _, label in reply.choices]
            markup = ReplyKeyboardMarkup(rows, one_time_keyboard=True, resize_keyboard=True)
        elif reply.choices:
            markup = inline_keyboard(reply.choices)
            if markup is None:
                text = numbered(text, reply.choices, row.locale)
        if markup is None and chat_id in self._reply_keyboard:
            markup = ReplyKeyboardRemove()

        parts: list[Part] = []
        photos = [p for p in reply.media if not p.lower().endswith(".pdf")]
        documents = [p for p in reply.media if p.lower().endswith(".pdf")]
        caption_used = False
        if len(photos) == 1 and not documents and text and \
                len(to_plain(text)) <= CAPTION_LIMIT and _units(text) <= TEXT_LIMIT:
            parts.append(self._photo(chat_id, photos[0], caption=text, markup=markup))
            caption_used = True
        else:
            for i in range(0, len(photos), MEDIA_GROUP_MAX):
                group = photos[i:i + MEDIA_GROUP_MAX]
                if len(group) == 1:
                    parts.append(self._photo(chat_id, group[0]))
                else:
                    parts.append(self._group(chat_id, group))
        for path in documents:
            parts.append(self._document(chat_id, path))
        if not caption_used:
            chunks = split_html(text) if text else []
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                parts.append(self._text(chat_id, chunk, markup if last else None))
        if isinstance(markup, ReplyKeyboardMarkup):
            parts.append(self._remember_keyboard(chat_id, shown=True))
        elif isinstance(markup, ReplyKeyboardRemove):
            parts.append(self._remember_keyboard(chat_id, shown=False))
        return parts

    def _remember_keyboard(self, chat_id: int, *, shown: bool) -> Part:
        async def call() -> Sequence[Message]:
            if shown:
                self._reply_keyboard.add(chat_id)
            else:
                self._reply_keyboard.discard(chat_id)
            return ()

        return call

    def _text(self, chat_id: int, text: str, markup: Any) -> Part:
        async def call() -> Message:
            try:
                return await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                                   reply_markup=markup)
            except BadRequest as exc:
                if "can't parse entities" not in exc.message.lower():
                    raise
                log.warning("telegram refused our HTML (%s); sending plain text", exc.message)
                return await self.bot.send_message(chat_id, to_plain(text), reply_markup=markup)

        return call

    def _remember_file(self, path: str, file_id: str) -> None:
        """Telegram keeps what we uploaded: the next send of the same photo (a job's photos in
        several offers) goes by file_id instead of uploading it again."""
        if len(self._file_ids) > 10_000:
            self._file_ids.clear()
        self._file_ids[path] = file_id

    def _file(self, path: str) -> Any:
        """What to hand PTB for a picture: a cached file_id, the file's bytes, or a URL."""
        if path in self._file_ids:
            return self._file_ids[path]
        local = Path(path)
        if local.is_file():
            return local.read_bytes()
        if path.startswith(("http://", "https://")):
            return path
        return None

    def _photo(self, chat_id: int, path: str, *, caption: str | None = None,
               markup: Any = None) -> Part:
        async def call() -> Message:
            source = self._file(path)
            if source is None:  # the file is gone: send the words rather than nothing
                log.warning("photo for outbox row is missing: %s", Path(path).name)
                if caption:
                    return await self._text(chat_id, caption, markup)()
                return ()  # type: ignore[return-value]
            sent = await self.bot.send_photo(chat_id, source, caption=caption,
                                             parse_mode=ParseMode.HTML if caption else None,
                                             reply_markup=markup,
                                             filename=Path(path).name)
            if sent.photo:
                self._remember_file(path, sent.photo[-1].file_id)
            return sent

        return call

    def _group(self, chat_id: int, paths: list[str]) -> Part:
        async def call() -> Sequence[Message]:
            found = [(p, self._file(p)) for p in paths]
            found = [(p, s) for p, s in found if s is not None]
            if not found:
                return ()
            if len(found) == 1:
                return await self._photo(chat_id, found[0][0])()  # type: ignore[return-value]
            media = [InputMediaPhoto(s, filename=Path(p).name) for p, s in found]
            sent = await self.bot.send_media_group(chat_id, media)
            for (path, _), msg in zip(found, sent, strict=False):
                if msg.photo:
                    self._remember_file(path, msg.photo[-1].file_id)
            return sent

        return call

    def _document(self, chat_id: int, path: str) -> Part:
        async def call() -> Message:
            source = self._file(path)
            if source is None:
                return ()  # type: ignore[return-value]
            return await self.bot.send_document(chat_id, source, filename=Path(path).name)

        return call


# --- inbound: updates to the engine -----------------------------------------------------------

class FileTooLarge(Exception):
    """A file over SIJAKON_MAX_MEDIA_BYTES: not given to a flow; the engine says the limit."""


class FileUnavailable(Exception):
    """Telegram would not give us the file (network, expired): the person is asked again."""


class FileUnsupported(Exception):
    """Not a JPEG, PNG or PDF by its content, or a document of a type we never keep: the engine
    answers "kirim foto JPG/PNG atau PDF" and nothing is kept."""


def _contact_number(raw: str) -> str:
    """Telegram sends international numbers without '+' (e.g. 6281234567890)."""
    raw = raw.strip()
    return "+" + raw if raw.isdigit() and not raw.startswith("0") else raw


class TelegramChannel:
    """Polling or the webhook route, turning each update into an `Inbound` for the engine.

    Its own `Bot` (PTB) parses updates and makes the calls that belong to an update (file
    downloads, answering a button press); the sender has another, so sends never wait behind
    a long poll. `clock` is the runtime's: it dates the files people send.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime],
                 poll_timeout: int = POLL_TIMEOUT, sender: TelegramSender | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.poll_timeout = poll_timeout
        base_url, base_file_url = api_urls(settings)
        self.bot = Bot(_token(settings), base_url=base_url, base_file_url=base_file_url,
                       request=HTTPXRequest(connection_pool_size=INBOUND_POOL),
                       get_updates_request=HTTPXRequest(connection_pool_size=1))
        self.sender = sender or TelegramSender(settings)
        self.webhook_url = settings.telegram_webhook_url
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret else b""
        self.engine: Engine | None = None
        self.ready = asyncio.Event()
        self._tries: dict[int, int] = defaultdict(int)
        self._files: httpx.AsyncClient | None = None  # file downloads, streamed to disk
        self._dropped: set[int] = set()  # update ids we could not read and logged once

    def attach(self, rt: Runtime) -> None:
        """Connect to the runtime's engine, which every update goes to."""
        self.engine = rt.engine

    # --- lifecycle -------------------------------------------------------------------------
    async def run(self, rt: Runtime) -> None:
        """Start the bot; poll (or, with a webhook, just wait) until cancelled; stop cleanly."""
        self.attach(rt)
        try:
            await self._start()
            if self.webhook_url:
                await asyncio.Event().wait()  # updates come through the route
            else:
                await self._poll()
        finally:
            self.ready.clear()
            with contextlib.suppress(Exception):
                await self.bot.shutdown()
            if self._files is not None:
                with contextlib.suppress(Exception):
                    await self._files.aclose()
                self._files = None

    async def _start(self) -> None:
        delay = 1.0
        while True:  # the Bot API may be unreachable at boot: keep trying, never crash
            try:
                await self.bot.initialize()
                await self.sender.start()
                await self.set_commands()
                if self.webhook_url:
                    await self.bot.set_webhook(self.webhook_url,
                                               secret_token=self._secret.decode(),
                                               allowed_updates=ALLOWED_UPDATES)
                else:
                    # a webhook set is one that webhook processes serve: polling would
                    # delete it from under them (Step 4), so say so and stop instead
                    webhook = (await self.bot.get_webhook_info()).url
                    if webhook:
                        raise StartupError(
                            f"webhook Telegram masih terpasang ({webhook}); long polling akan "
                            "menghapusnya dari proses yang melayaninya. Atur "
                            "TELEGRAM_WEBHOOK_URL di proses ini juga, atau hapus webhook itu "
                            "dulu bila memang tidak dipakai lagi (docs/telegram.md)")
                break
            except InvalidToken:
                log.error("Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather")
                raise
            except TelegramError as exc:
                log.warning("Telegram start-up failed (%s: %s); retrying in %.0fs",
                            type(exc).__name__, exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
        self.ready.set()
        log.info("Telegram bot @%s ready (%s)", self.bot.username,
                 "webhook" if self.webhook_url else "long polling")

    async def set_commands(self) -> None:
        """The command menu in Indonesian (default) and English."""
        for locale, code in (("id", None), ("en", "en")):
            commands = [BotCommand(c, render(f"telegram.cmd_{c}", locale)) for c in COMMANDS]
            await self.bot.set_my_commands(commands, language_code=code)

    # --- polling ---------------------------------------------------------------------------
    async def _poll(self) -> None:
        warnings.filterwarnings("ignore", message=_GET_UPDATES_WARNING, category=PTBUserWarning)
        offset: int | None = None
        confirmed: int | None = None  # the offset Telegram has surely seen
        delay = 1.0
        while True:
            try:
                updates, skip_to = await self._get_updates(offset)
                confirmed = offset
                delay = 1.0
            except asyncio.CancelledError:
                # stopping before this call reached Telegram: confirm what was handled
                if offset != confirmed:
                    await self._confirm(offset)
                raise
            except RetryAfter as exc:
                await asyncio.sleep(_retry_seconds(exc))
                continue
            except TimedOut:
                continue
            except TelegramError as exc:  # network down, a webhook still set, a 5xx
                log.warning("getUpdates failed (%s); retrying in %.0fs", type(exc).__name__,
                            delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
                continue
            if not updates:
                if skip_to is not None:  # only updates we could not read: past them
                    offset = skip_to
                continue
            work = asyncio.ensure_future(self._handle_batch(list(updates)))
            try:
                offset, failed = await asyncio.shield(work)
            except asyncio.CancelledError:
                # stopping: finish the updates in hand, confirm them, then stop
                offset, _ = await work
                await self._confirm(offset)
                raise
            if failed:
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
            elif skip_to is not None:
                offset = max(offset, skip_to)

    async def _get_updates(self, offset: int | None) -> tuple[list[Update], int | None]:
        """One long poll: the updates we can read, and the offset past the last one we cannot
        (None when there was none). An unreadable update is logged once and dropped, as the
        webhook answers it 200: Telegram would otherwise hand it to us forever."""
        raw = await self.bot.do_api_request(
            "get_updates", api_kwargs={"offset": offset, "timeout": self.poll_timeout,
                                       "allowed_updates": ALLOWED_UPDATES},
            read_timeout=self.poll_timeout + 10)
        updates: list[Update] = []
        skip_to: int | None = None
        for data in raw if isinstance(raw, list) else []:
            update = self._decode(data)
            if update is not None:
                updates.append(update)
            elif isinstance(data, dict) and isinstance(data.get("update_id"), int):
                skip_to = max(skip_to or 0, data["update_id"] + 1)
        return updates, skip_to

    def _decode(self, data: Any) -> Update | None:
        """An update from its JSON, or None (logged once per update id) when PTB cannot read
        it: a shape of an older or newer Bot API, or not an update at all."""
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int):
            log.warning("telegram sent something that is not an update; ignored")
            return None
        try:
            return Update.de_json(data, self.bot)
        except Exception as exc:  # whatever the library makes of a shape it does not know
            self._unreadable(update_id, f"{type(exc).__name__} in Update.de_json")
            return None

    def _unreadable(self, update_id: int, why: str) -> None:
        """Log an update we drop, once (polling may see it again before the offset moves)."""
        if update_id in self._dropped:
            return
        if len(self._dropped) > 10_000:
            self._dropped.clear()
        self._dropped.add(update_id)
        # the type of failure only: the update holds what a person wrote
        log.warning("telegram update %s could not be read (%s); acknowledged and dropped",
                    update_id, why)

    async def _confirm(self, offset: int | None) -> None:
        """Tell Telegram the updates before `offset` are handled (on the way out)."""
        with contextlib.suppress(Exception):
            await self.bot.get_updates(offset=offset, timeout=0, limit=1,
                                       allowed_updates=ALLOWED_UPDATES)

    async def _handle_batch(self, updates: list[Update]) -> tuple[int, bool]:
        """Handle one getUpdates batch: chats side by side, each chat's updates in order.
        Returns the next offset (at the first update that must be tried again) and whether
        one failed."""
        by_chat: dict[Any, list[Update]] = defaultdict(list)
        for u in updates:
            chat = u.effective_chat
            by_chat[chat.id if chat else f"u{u.update_id}"].append(u)
        retry: list[int] = []

        async def chain(items: list[Update]) -> None:
            for u in items:
                try:
                    await self.process(u)
                    self._tries.pop(u.update_id, None)
                except Exception:
                    self._tries[u.update_id] += 1
                    if self._tries[u.update_id] < MAX_UPDATE_TRIES:
                        log.exception("update %s failed; it will be fetched again", u.update_id)
                        retry.append(u.update_id)
                        return  # the rest of this chat waits, to keep its order
                    log.exception("update %s failed %d times; skipped", u.update_id,
                                  MAX_UPDATE_TRIES)
                    self._tries.pop(u.update_id, None)

        await asyncio.gather(*(chain(items) for items in by_chat.values()))
        if retry:
            return min(retry), True
        return max(u.update_id for u in updates) + 1, False

    # --- webhook ---------------------------------------------------------------------------
    def routes(self, rt: Runtime) -> list[BaseRoute]:
        self.attach(rt)
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    async def _webhook(self, request: Request) -> Response:
        """Telegram's POST: 403 without our secret; 200 once the engine committed the update,
        and 200 too for a body we cannot read (logged once: a 5xx would make Telegram deliver
        it again and again); 500 only when the engine could not store it (delivered again)."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not self._secret or not hmac.compare_digest(given, self._secret):
            return PlainTextResponse("forbidden", status_code=403)
        try:
            body = await read_body(request, MAX_UPDATE_BYTES)
        except BadBody as exc:
            log.warning("telegram webhook body refused: %s", type(exc).__name__)
            return refuse(exc)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        try:
            await asyncio.wait_for(self.ready.wait(), timeout=10)
        except TimeoutError:
            return PlainTextResponse("starting", status_code=503)
        update = self._decode(data)
        if update is None:
            return Response(status_code=200)
        try:
            await self.process(update)
        except Exception:
            log.exception("webhook update %s failed; Telegram will redeliver", update.update_id)
            return PlainTextResponse("error", status_code=500)
        return Response(status_code=200)

    # --- one update ------------------------------------------------------------------------
    async def process(self, update: Update) -> bool | None:
        """Translate one update and hand it to the engine. True/False: new/repeat; None: not
        for the engine. Raises when the update was not committed (the caller must not
        acknowledge it: Telegram, or our polling loop, delivers it again)."""
        if self.engine is None:
            raise RuntimeError("the Telegram channel is not attached to a runtime")
        if update.callback_query is not None:
            return await self._callback(update, update.callback_query)
        try:
            inbound = await self.translate(update)
        except OSError:
            raise  # our disk: worth another try
        except Exception as exc:  # a shape our translation does not know: never retried
            self._unreadable(update.update_id, f"{type(exc).__name__} in translate")
            return None
        if inbound is None:
            return None
        return await self.engine.handle(inbound)

    async def translate(self, update: Update) -> Inbound | None:
        """The update as an `Inbound`, or None when nobody said anything to the bot (channel
        posts, membership changes, service messages, chatter in a group)."""
        msg = update.message
        if msg is None:
            edited = update.edited_message
            if edited is not None and edited.chat.type == ChatType.PRIVATE:
                return _event(update, edited, "edited")
            return None
        if msg.chat.type != ChatType.PRIVATE:
            return _event(update, msg, "group") if (msg.text or "").startswith("/") else None
        if msg.text is None and msg.caption is None and msg.effective_attachment is None:
            return None  # a service message (pinned, timer changed...): nobody said anything
        try:
            return await self._message(update, msg)
        except FileTooLarge:
            return _event(update, msg, "file_too_large",
                          limit_bytes=self.settings.sijakon_max_media_bytes)
        except FileUnavailable:
            return _event(update, msg, "file_failed")
        except FileUnsupported:
            return _event(update, msg, "file_unsupported")

    async def _message(self, update: Update, msg: Message) -> Inbound:
        """A private-chat message as an `Inbound` (files already saved under the data dir,
        text without invisible control characters: `clean_text`)."""
        user = msg.from_user
        base = _origin(update, msg)
        if msg.contact is not None:
            number = _contact_number(msg.contact.phone_number or "")
            if user is not None and msg.contact.user_id == user.id:
                phone = normalize_phone(number)
                if phone is not None:
                    return Inbound(**base, phone=phone)
            # someone else's card, or a number we cannot read: as if typed
            return Inbound(**base, text=clean_text(number))
        caption = clean_text(msg.caption or "")
        if msg.location is not None:
            return Inbound(**base, text=caption,
                           location=(msg.location.latitude, msg.location.longitude))
        if msg.photo:  # Telegram's own JPEG; still judged by its bytes
            largest = max(msg.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
            media = await self._download(largest.file_id, largest.file_size)
            return Inbound(**base, text=caption, media=(media,))
        if msg.document is not None:
            doc = msg.document
            declared = doc.mime_type or mimetypes.guess_type(doc.file_name or "")[0]
            kind = media_store.classify(declared)
            if kind == "refuse":  # a type we never keep: not even downloaded
                raise FileUnsupported
            if kind == "not_a_file":  # a voice note or video sent as a file
                media = media_store.passed_on(declared, doc.file_size)
            else:
                media = await self._download(doc.file_id, doc.file_size)
            return Inbound(**base, text=caption, media=(media,))
        for item in (msg.video, msg.animation, msg.voice, msg.audio, msg.video_note):
            if item is not None:  # never downloaded: the step answers it
                ctype = getattr(item, "mime_type", None) or "video/mp4"
                return Inbound(**base, text=caption, media=(
                    media_store.passed_on(ctype, getattr(item, "file_size", 0)),))
        if msg.sticker is not None:
            return Inbound(**base, media=(media_store.passed_on("application/x-sticker"),))
        text = clean_text(msg.text or "") or caption
        text = _COMMAND_MENTION.sub(r"\1", text)  # "/menu@SijakonBot" -> "/menu"
        return Inbound(**base, text=text)

    def _file_client(self) -> httpx.AsyncClient:
        if self._files is None:
            self._files = httpx.AsyncClient(timeout=FILE_TIMEOUT)
        return self._files

    async def _download(self, file_id: str, size: int | None) -> Media:
        """Stream a file to disk (`bot.media.fetch`, in one of the process's download slots)
        and keep it if its bytes are a JPEG, PNG or PDF. The URL holds the bot token: it is
        never logged."""
        limit = self.settings.sijakon_max_media_bytes
        if size and size > limit:
            raise FileTooLarge
        try:
            tg_file = await self.bot.get_file(file_id)
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooLarge from None
            log.warning("could not fetch a file from Telegram: %s", exc.message)
            raise FileUnavailable from None
        except TelegramError as exc:
            log.warning("could not fetch a file from Telegram: %s", exc.message)
            raise FileUnavailable from None
        if tg_file.file_size and tg_file.file_size > limit:
            raise FileTooLarge
        where = tg_file.file_path or ""
        media_dir, now = self.settings.media_dir, self.clock()
        try:
            if where.startswith(("http://", "https://")):
                return await media_store.fetch(self._file_client(), where, media_dir,
                                               max_bytes=limit, now=now)
            if where:  # a Bot API server in --local mode gives a path on its disk
                async with media_store.slot():
                    return await media_store.download(media_store.read_file(Path(where)),
                                                      media_dir, max_bytes=limit, now=now)
            log.warning("Telegram gave no file path to download")
            raise FileUnavailable
        except FileNotFoundError:
            log.warning("the local Bot API server's file is not readable here")
            raise FileUnavailable from None
        except media_store.TooLarge:
            raise FileTooLarge from None
        except media_store.Unsupported as exc:
            log.info("telegram file refused: %s", exc)
            raise FileUnsupported from None
        except httpx.HTTPError as exc:
            log.warning("could not download a file from Telegram: %s", type(exc).__name__)
            raise FileUnavailable from None

    async def _callback(self, update: Update, q: CallbackQuery) -> bool | None:
        msg = q.message
        chat = msg.chat if msg is not None else None
        if chat is None or chat.type != ChatType.PRIVATE or not q.data:
            await self._answer(q)
            return None
        if q.data == CHOSEN_DATA:  # a toast on the button, not a message: the adapter's own
            locale = pick_locale(q.from_user.language_code, self.settings.sijakon_locale)
            await self._answer(q, render("telegram.already_chosen", locale))
            return None
        label = None
        if isinstance(msg, Message) and msg.reply_markup is not None:
            for row in msg.reply_markup.inline_keyboard:
                for button in row:
                    if button.callback_data == q.data:
                        label = button.text
        assert self.engine is not None  # process checked it
        fresh = await self.engine.handle(Inbound(
            channel=CHANNEL, address=str(chat.id), external_id=f"tg:{update.update_id}",
            choice=q.data, profile_name=clean_text(q.from_user.full_name),
            language=q.from_user.language_code))
        await self._answer(q)
        if label is not None and isinstance(msg, Message):
            # old buttons cannot be pressed twice: one line now says what was chosen
            chosen = InlineKeyboardMarkup([[InlineKeyboardButton(f"✅ {label}"[:64],
                                                                 callback_data=CHOSEN_DATA)]])
            with contextlib.suppress(TelegramError):
                await self.bot.edit_message_reply_markup(chat_id=chat.id,
                                                         message_id=msg.message_id,
                                                         reply_markup=chosen)
        return bool(fresh)

    async def _answer(self, q: CallbackQuery, text: str | None = None) -> None:
        """Always answer a callback query (else the button spins); a failure is harmless."""
        with contextlib.suppress(TelegramError):
            await self.bot.answer_callback_query(q.id, text=text[:200] if text else None)



def _origin(update: Update, msg: Message) -> dict[str, Any]:
    """What every `Inbound` of an update carries: the chat, the update id, who wrote (their
    name, and the language of their Telegram for a conversation this starts)."""
    user = msg.from_user
    return {"channel": CHANNEL, "address": str(msg.chat_id),
            "external_id": f"tg:{update.update_id}",
            "profile_name": clean_text(user.full_name) if user else None,
            "language": user.language_code if user else None}


def _event(update: Update, msg: Message, event: InboundEvent, *,
           limit_bytes: int = 0) -> Inbound:
    """An update the engine answers with a notice (an edit, a group command, a file we could
    not take): who and where, never what was said."""
    return Inbound(**_origin(update, msg), event=event, limit_bytes=limit_bytes)


def channel(settings: Settings, *, clock: Callable[[], datetime]) -> Channel:
    """Telegram for `sijakon-bot run`: long polling, or the webhook route when
    TELEGRAM_WEBHOOK_URL is set."""
    tg = TelegramChannel(settings, clock=clock)
    return Channel(sender=tg.sender, run=tg.run,
                   routes=tg.routes if settings.telegram_webhook_url else None)
