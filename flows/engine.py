"""The engine: every inbound message, from every channel, through one path.

`Engine.handle(inbound)` returns once the message is committed. Messages are handled by one
writer task per process in small batches, one transaction per batch. Per batch the engine
spends a fixed handful of statements (dedupe insert, conversation select, conversation update,
outbox insert, audit insert, account touch, commit) however many messages it holds, run on the
driver connection with parameters serialised once (`storage.hotpath`); an ORM session is
opened on the same connection only when a step reads or writes domain rows. The account
touch writes only an account not touched in the last minute or unreachable
(`storage.hotpath.TOUCH_AFTER`). Steps run without savepoints; when one
raises, the batch is rolled back and run again with that message answered by an apology and
the menu, so nothing of the failed step survives and the other messages are unaffected.

Order is kept per conversation: a batch handles its messages in arrival order against one
in-memory copy of each conversation, and batches run one after another. On PostgreSQL the
conversation rows are also locked (`FOR UPDATE`), so several bot processes never interleave
two messages of one chat.

Every answer is an outbox row, including the notices for what is no message for a step (an
edited message, a command in a group, a file too large: `Inbound.event`). After a commit that
wrote outbox rows the engine calls `on_output`, so the delivery worker sends them at once
instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from flows.context import DRAFT, Context, ConvState, FlowConfig
from flows.outbox import PRIORITY_REPLY, Handoff, Outgoing, Sendable, takes_typed_actions
from flows.privacy import dinas_contact
from flows.registry import HOME, START, Registry, load_flows
from flows.render import LOCALES, render
from flows.steps import ALBUM_TAIL, Next, words
from flows.types import Choice, Inbound, InboundEvent, Message, Reply, Reprompt
from storage.clock import utcnow
from storage.db import Database, contended
from storage.hotpath import BatchWrites, ConvRow, HotPath, hot_path
from storage.models import ProcessedUpdate
from storage.reads import Read
from storage.sql import table

log = logging.getLogger(__name__)

MAX_HOPS = 25
HARD_TEXT_LIMIT = 20_000  # longer input is clipped before anything looks at it

_COMMANDS = {
    "menu": "menu", "/menu": "menu", "home": "menu", "menu utama": "menu",
    "batal": "batal", "/batal": "batal", "cancel": "batal", "/cancel": "batal",
    "bantuan": "bantuan", "/bantuan": "bantuan", "help": "bantuan", "/help": "bantuan",
    "kembali": "kembali", "/kembali": "kembali", "back": "kembali", "/back": "kembali",
    "stop": "stop", "/stop": "stop", "berhenti": "stop", "unsubscribe": "stop",
    "mulai": "mulai", "/mulai": "mulai", "start": "mulai",
}


# the notice for each InboundEvent (the keys the Telegram adapter used when it answered itself)
NOTICES: dict[InboundEvent, str] = {
    "edited": "notice.edited",
    "group": "notice.private_only",
    "file_too_large": "notice.file_too_large",
    "file_failed": "notice.file_failed",
    "file_unsupported": "notice.file_unsupported",
}


def pick_locale(language: str | None, default: str) -> str:
    """Our locale for a platform's language tag ("en", "en-GB", "id"), else `default`."""
    primary = (language or "").replace("_", "-").split("-")[0].casefold()
    return primary if primary in LOCALES else default


def global_command(text: str) -> tuple[str, str] | None:
    """("start", payload) for /start, else the command a whole message names, else None."""
    raw = text.strip()
    if raw.startswith("/start"):
        return "start", raw[len("/start"):].strip()
    cmd = _COMMANDS.get(raw.casefold()) or _COMMANDS.get(words(raw))
    return (cmd, "") if cmd else None


def match_presented(text: str, presented: list[tuple[str, str]]) -> str | None:
    """The payload a typed number or label refers to, among the last shown choices."""
    raw = text.strip()
    if not raw or not presented:
        return None
    if re.fullmatch(r"\d{1,2}", raw):
        i = int(raw) - 1
        return presented[i][0] if 0 <= i < len(presented) else None
    said = words(raw)
    if not said:
        return None
    for payload, label in presented:
        if words(label) == said or payload.split(":", 1)[-1].casefold() == said:
            return payload
    starts = [p for p, label in presented if words(label).startswith(said) and len(said) >= 3]
    return starts[0] if len(starts) == 1 else None


class _Contended(Exception):
    """Another transaction was in the way (a deadlock, a serialization failure, a busy
    file): the batch is rolled back and runs again as it was, nobody apologised to."""


RETRIES = 4  # runs of a contended batch before it fails like a broken database


class _StepFailed(Exception):
    """A step raised: the batch is rolled back and run again with this message apologised."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


@dataclass(slots=True)
class _Batch:
    conn: AsyncConnection
    sql: HotPath
    now: datetime
    orm: AsyncSession | None = None  # opened when a step first asks for a session
    convs: dict[tuple[str, str], ConvState] = field(default_factory=dict)
    dirty: set[tuple[str, str]] = field(default_factory=set)
    out: Outgoing = field(default_factory=Outgoing)
    audit: list[tuple[str, str, str, int | None, dict[str, Any], str | None]] = \
        field(default_factory=list)
    touched: set[tuple[str, str]] = field(default_factory=set)
    wrote: set[tuple[str, str]] = field(default_factory=set)  # whoever wrote in the batch
    handed: list[Sendable] = field(default_factory=list)  # for the worker, after the commit
    unkept: list[str] = field(default_factory=list)  # files no step took: deleted after it

    async def session(self) -> AsyncSession:
        """The ORM session of this batch, joined to its transaction (it never commits it)."""
        if self.orm is None:
            self.orm = AsyncSession(bind=self.conn, expire_on_commit=False,
                                    join_transaction_mode="rollback_only")
        return self.orm

    async def rows(self, read: Read, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """A step's `Read` on the driver; what the step's session holds unwritten goes first."""
        if self.orm is not None and (self.orm.new or self.orm.dirty or self.orm.deleted):
            await self.orm.flush()
        return await self.sql.rows(read, params)


class Engine:
    """Runs flows for inbound messages; one instance per process."""

    def __init__(
        self,
        db: Database,
        *,
        registry: Registry | None = None,
        clock: Callable[[], datetime] = utcnow,
        config: FlowConfig | None = None,
        batch_max: int = 64,
        on_output: Callable[[], None] | None = None,
        handoff: Handoff | None = None,
        discard: Callable[[list[str]], object] | None = None,
        observe_batch: Callable[[int, float, list[str]], None] | None = None,
    ) -> None:
        self.db = db
        self.registry = registry or load_flows()
        self.clock = clock
        self.config = config or FlowConfig()
        self.batch_max = batch_max
        self.on_output = on_output  # called after a commit that wrote outbox rows
        self.handoff = handoff  # replies to people who just wrote go straight to the worker
        # deletes files a message brought that its step does not keep (bot.media.discard_paths)
        self.discard = discard
        self.observe_batch = observe_batch  # metrics: size, seconds, channels of each commit
        self._queue: asyncio.Queue[tuple[Inbound, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------
    async def handle(self, inbound: Inbound) -> bool:
        """Handle one message; True if it was new, False if it was a repeat. Raises when the
        database could not commit (the caller must then not acknowledge the platform)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="engine-writer")
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put((inbound, fut))
        return await fut

    async def already_handled(self, channel: str, external_id: str) -> bool:
        """Whether an update was committed before: lets an adapter skip costly work for a
        redelivery (downloading a WhatsApp message's media again), before `handle` drops it."""
        t = table(ProcessedUpdate)
        async with self.db.read() as s:
            found = await s.execute(select(t.c.id).where(t.c.channel == channel,
                                                         t.c.external_id == external_id))
            return found.first() is not None

    async def stop(self) -> None:
        """Finish what is queued, then stop the writer task."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            started = time.perf_counter()
            try:
                results = await self.process([ib for ib, _ in batch])
            except Exception as exc:  # the database failed: nobody's message was kept
                log.exception("batch of %d failed", len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
            else:
                for (_, fut), fresh in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(fresh)
                if self.observe_batch is not None:
                    self.observe_batch(len(batch), time.perf_counter() - started,
                                       [ib.channel for ib, _ in batch])
            finally:
                for _ in batch:
                    self._queue.task_done()

    # --- one batch -------------------------------------------------------------------------
    async def process(self, inbounds: list[Inbound]) -> list[bool]:
        """Handle a batch in one transaction; returns which inbounds were new.

        A step that raises rolls the whole transaction back; the batch then runs again with
        that message answered by an apology and the menu (or, if even that fails, the
        apology alone). Nothing of a failed step survives, and the common path pays for no
        savepoints.
        """
        failed: dict[int, int] = {}  # index in batch -> 1: apologise with menu, 2: apology only
        now = self.clock()
        runs = 0
        while True:
            runs += 1
            try:
                async with self.db.write() as conn:
                    b = _Batch(conn=conn, sql=await hot_path(conn), now=now)
                    try:
                        fresh = await self._dedupe(b, inbounds)
                        await self._start_missing(
                            b, [ib for ib, new in zip(inbounds, fresh, strict=True) if new])
                        for i, (ib, new) in enumerate(zip(inbounds, fresh, strict=True)):
                            if new:
                                await self._one(b, ib, i, failed.get(i, 0))
                        await self._write(b)
                    finally:
                        if b.orm is not None:
                            await b.orm.close()
                if b.unkept and self.discard is not None:
                    try:  # after the commit: a failed one is redelivered and fetched again
                        self.discard(b.unkept)
                    except Exception:  # the media sweep removes what is left
                        log.exception("discarding %d unkept files failed", len(b.unkept))
                if b.handed and self.handoff is not None:
                    try:
                        self.handoff.take(b.handed)
                    except Exception:  # committed, leased: claimed again when the lease ends
                        log.exception("handing replies to the worker failed")
                if len(b.out.rows) > len(b.handed) and self.on_output is not None:
                    try:
                        self.on_output()
                    except Exception:  # committed already: the worker's poll will find them
                        log.exception("on_output failed")
                return fresh
            except _StepFailed as exc:
                failed[exc.index] = failed.get(exc.index, 0) + 1
                if failed[exc.index] > 3:  # cannot even apologise: fail the batch, unacked
                    raise RuntimeError("apology failed repeatedly") from exc
            except Exception as exc:
                if not (isinstance(exc, _Contended) or contended(exc)) or runs >= RETRIES:
                    raise
                log.info("batch of %d contended (run %d); running it again", len(inbounds), runs)
                # jittered, growing: two processes that deadlocked must not meet again
                await asyncio.sleep(random.uniform(0.005, 0.03) * runs)

    async def _dedupe(self, b: _Batch, inbounds: list[Inbound]) -> list[bool]:
        keys = list(dict.fromkeys((ib.channel, ib.external_id) for ib in inbounds))
        # the conversations come along (a repeat's too: rare, and it saves a round trip)
        convs = sorted({(ib.channel, ib.address) for ib in inbounds})
        inserted, rows = await b.sql.dedupe(keys, b.now, convs)
        self._keep(b, rows)
        fresh = []
        for ib in inbounds:
            key = (ib.channel, ib.external_id)
            fresh.append(key in inserted)
            inserted.discard(key)  # a repeat inside the same batch is a repeat too
        return fresh

    async def _start_missing(self, b: _Batch, inbounds: list[Inbound]) -> None:
        """Start the conversations not found with the dedupe, in the language the platform
        reports for the person. A notice never starts a conversation."""
        locales: dict[tuple[str, str], str] = {}
        for ib in inbounds:
            key = (ib.channel, ib.address)
            if ib.event is None and key not in b.convs:
                locales.setdefault(key, pick_locale(ib.language, self.config.locale))
        if locales:
            await b.sql.create([(c, a, locale) for (c, a), locale in sorted(locales.items())],
                               START, b.now)
            await self._fetch(b, sorted(locales))

    async def _fetch(self, b: _Batch, keys: list[tuple[str, str]]) -> None:
        self._keep(b, await b.sql.fetch(keys))

    def _keep(self, b: _Batch, rows: list[ConvRow]) -> None:
        for r in rows:
            key = (r.channel, r.address)
            b.convs[key] = ConvState(
                id=r.id, channel=r.channel, address=r.address, user_id=r.user_id, flow=r.flow,
                step=r.step, data=r.data, locale=r.locale, version=r.version,
                updated_at=r.updated_at)

    async def _one(self, b: _Batch, ib: Inbound, index: int, failures: int) -> None:
        b.wrote.add((ib.channel, ib.address))
        key = (ib.channel, ib.address)
        if ib.event is not None:
            try:
                self._notice(b, ib, NOTICES[ib.event] if failures == 0 else "error.sorry")
            except Exception:  # like a failing step: never the whole batch
                log.exception("notice %s failed", ib.event)
                raise _StepFailed(index) from None
            return
        conv = b.convs[key]
        step_before = conv.step
        if ib.media and not self._keeps_media(conv):
            # nothing of a person is stored before consent or where no step takes files
            b.unkept.extend(m.path for m in ib.media if m.path)
            if conv.data.get(ALBUM_TAIL) and not ib.text and ib.choice is None:
                # the rest of an album after the photo step filled up: acknowledged and
                # dropped, never taken as the answer to the question that came next
                self._notice(b, ib, "notice.media_not_needed")
                return
        conv.data.pop(ALBUM_TAIL, None)

        out = Outgoing()
        ctx = Context(conv=conv, now=b.now, out=out, config=self.config,
                      open_session=b.session, read_rows=b.rows, inbound_channel=ib.channel)
        try:
            if failures == 0:
                await self._dispatch(ctx, ib)
            else:
                ctx.say("error.sorry", **dinas_contact(self.config))
                if failures == 1:
                    await self._goto(ctx, self._home(conv), clear=True)
                else:  # even the menu failed: the apology alone, and the menu next time
                    ctx.clear_flow_data()
                    conv.step = self._home(conv)
                    conv.flow = conv.step.split(".", 1)[0]
        except Exception as exc:
            if contended(exc):
                raise _Contended from exc
            if failures == 0:
                log.exception("step failed in conversation %s at %s", conv.id, conv.step)
            else:
                log.exception("menu failed after an error in conversation %s", conv.id)
            raise _StepFailed(index) from None
        b.out.extend(out)
        b.unkept.extend(ctx.dropped)
        b.dirty.add(key)
        self._record(b, ib, conv, step_before)
        conv.updated_at = b.now

    def _keeps_media(self, conv: ConvState) -> bool:
        """Whether the step a message arrives at can keep its files: a photo/document step,
        or one that takes a photo with its caption as the answer (`Step.keeps_media`; every
        one comes after the privacy notice was agreed to, so before consent none does)."""
        step = self.registry.steps.get(conv.step)
        return step is not None and step.keeps_media

    def _notice(self, b: _Batch, ib: Inbound, key: str) -> None:
        """Answer an event with its notice, like any reply (an outbox row, paced, retried),
        in the conversation's language, or the platform's for someone we have not met. The
        step stays where it is."""
        conv = b.convs.get((ib.channel, ib.address))
        locale = conv.locale if conv else pick_locale(ib.language, self.config.locale)
        vars: dict[str, Any] = {"limit_mb": max(1, ib.limit_bytes // (1024 * 1024))} \
            if ib.event == "file_too_large" else {}
        if key == "error.sorry":
            vars |= dinas_contact(self.config)  # someone to turn to
        b.out.add(ib.channel, ib.address, conv.user_id if conv else None, key,
                  Reply(text=render(key, locale, **vars)), PRIORITY_REPLY)
        if conv is not None:
            self._record(b, ib, conv, conv.step)
            conv.updated_at = b.now  # the person wrote: their window is open, idle time resets
            b.dirty.add((ib.channel, ib.address))

    def _record(self, b: _Batch, ib: Inbound, conv: ConvState, step_before: str) -> None:
        """A registered person wrote: their account was seen (and reachable again), and the
        access history gets a row."""
        if conv.user_id is None:
            return
        b.touched.add((ib.channel, ib.address))
        b.audit.append((f"user:{conv.user_id}", "message", "user", conv.user_id,
                        {"from": step_before, "to": conv.step, "kind": _kind(ib)}, ib.channel))

    # --- the conversation logic --------------------------------------------------------------
    def _home(self, conv: ConvState) -> str:
        return HOME if conv.user_id is not None else START

    async def _dispatch(self, ctx: Context, ib: Inbound) -> None:
        conv = ctx.conv
        text = ib.text[:HARD_TEXT_LIMIT]
        step = self.registry.get(conv.step)
        if step is None:  # a step that no longer exists after an upgrade
            await self._goto(ctx, self._home(conv), clear=True)
            return
        idle = conv.updated_at is not None and ctx.now - conv.updated_at > self.config.idle_reset
        command = global_command(text) if ib.choice is None else None
        if command is not None and command[0] == "kembali" \
                and match_presented(text, ctx.presented()) is not None:
            command = None  # the screen's own "Kembali" button, typed: it goes where it says
        if idle and conv.step not in (HOME, START) and command is None:
            ctx.say("session.expired")
            self._keep_draft(ctx)
            await self._goto(ctx, self._home(conv), clear=True)
            return
        if command is not None:
            await self._command(ctx, command, ib)
        elif (code := self._typed_code(ctx, ib, text)) is not None:
            self._keep_draft(ctx)  # the item opens over the task: a booking half-way is kept
            await self._action(ctx, code)
        else:
            payload = ib.choice or match_presented(text, ctx.presented())
            msg = Message(text=text, choice=None, media=ib.media, phone=ib.phone,
                          location=ib.location, profile_name=ib.profile_name, at=ctx.now)
            if payload is not None and payload.startswith("!"):
                await self._action(ctx, payload[1:])
            elif payload is not None:
                tag, _, cid = payload.partition(":")
                label = dict(ctx.presented()).get(payload, cid)
                if tag != conv.tag:
                    ctx.say("choice.stale")
                    await step.prompt(ctx)
                    return
                msg = Message(text=text, choice=Choice(cid, label), media=ib.media,
                              phone=ib.phone, location=ib.location,
                              profile_name=ib.profile_name, at=ctx.now)
                await self._step(ctx, msg)
            else:
                await self._step(ctx, msg)
        if ctx.said == 0:  # never silent
            current = self.registry.get(conv.step)
            if current is not None:
                await current.prompt(ctx)
            else:
                ctx.say("error.sorry", **dinas_contact(self.config))

    async def _step(self, ctx: Context, msg: Message) -> None:
        step = self.registry.get(ctx.conv.step)
        assert step is not None
        try:
            nxt = await step.handle(ctx, msg)
        except Reprompt as rp:
            hints = rp.vars
            if not hints and rp.key == step.help and step.help_vars is not None:
                hints = await step.help_vars(ctx)  # a help that reads the conversation
            ctx.say(rp.key, **hints)
            await step.prompt(ctx)
            return
        await self._follow(ctx, nxt)

    async def _follow(self, ctx: Context, nxt: Next) -> None:
        hops = 0
        while nxt is not None:
            hops += 1
            if hops > MAX_HOPS:
                raise RuntimeError(f"step loop from {ctx.conv.step}")
            nxt = await self._enter(ctx, nxt)

    async def _enter(self, ctx: Context, name: str) -> Next:
        step = self.registry.get(name)
        if step is None:
            raise KeyError(f"unknown step {name!r}")
        conv = ctx.conv
        conv.step, conv.flow = name, name.split(".", 1)[0]
        conv.data["_tag"] = int(conv.data.get("_tag", 0)) + 1
        conv.data.pop("_choices", None)
        return await step.enter(ctx)

    async def _goto(self, ctx: Context, name: str, *, clear: bool = False) -> None:
        if clear:
            ctx.clear_flow_data()
        await self._follow(ctx, name)

    def _keep_draft(self, ctx: Context) -> None:
        """Leaving a task whose answers are worth keeping (`Registry.draft`: a booking not yet
        sent): they go to `DRAFT`, which survives the flow's data being cleared, and the
        task's first step offers them again (docs/conversations.md)."""
        conv = ctx.conv
        keys = self.registry.drafts.get(conv.flow)
        if not keys:
            return
        answers = {k: conv.data[k] for k in keys if k in conv.data}
        if answers:
            conv.data[DRAFT] = {"flow": conv.flow, "step": conv.step, "data": answers,
                                "at": ctx.now.isoformat()}

    def _typed_code(self, ctx: Context, ib: Inbound, text: str) -> str | None:
        """An item's code typed as the whole message by someone registered (a job's J-…, a
        complaint's P-…): the action that opens it (`Registry.code`), whatever the step
        asks."""
        if ib.choice is not None or ib.media or ctx.conv.user_id is None:
            return None
        said = text.strip()
        for pattern, action in self.registry.codes:
            if pattern.fullmatch(said):
                return f"{action}:{said}"
        return None

    async def _action(self, ctx: Context, payload: str) -> None:
        name, _, arg = payload.partition(":")
        handler = self.registry.actions.get(name)
        if handler is None or ctx.conv.user_id is None:
            ctx.say("choice.stale")
            step = self.registry.get(ctx.conv.step)
            if step is not None:
                await step.prompt(ctx)
            return
        nxt = await handler(ctx, arg)
        if nxt is None:
            step = self.registry.get(ctx.conv.step)
            if step is not None:
                await step.prompt(ctx)
        else:
            await self._follow(ctx, nxt)

    async def _command(self, ctx: Context, command: tuple[str, str], ib: Inbound) -> None:
        name, arg = command
        conv = ctx.conv
        step = self.registry.get(conv.step)
        if name == "start":
            target = self.registry.start_payloads.get(arg.casefold()) if arg else None
            ctx.clear_flow_data()
            if target is not None:  # set after clearing, so first contact can read it
                ctx.data["_start"] = arg.casefold()
            if conv.user_id and target is not None:
                # a registered person opening a link (`?start=tukang`) is taken where it leads;
                # the target itself handles whoever cannot go on (already a tukang, open jobs)
                await self._goto(ctx, target)
                return
            await self._goto(ctx, self._home(conv) if conv.user_id or target is None else START)
            return
        if name == "kembali" and step is not None and conv.step not in (HOME, START):
            back = await step.previous(ctx)
            if back is not None:  # the previous question, every answer kept
                await self._goto(ctx, back)
                return
            name = "menu"  # the first question of a task: nothing before it but the menu
        if name in ("menu", "batal", "kembali"):
            if conv.step not in (HOME, START):
                self._keep_draft(ctx)
                if name == "batal":
                    kept = DRAFT in conv.data and conv.flow in self.registry.drafts
                    ctx.say("cancel.kept" if kept else "cancel.done")
            await self._goto(ctx, self._home(conv), clear=True)
            return
        if name == "bantuan":
            if step is None or conv.step in (HOME, START):
                ctx.say("help.main", **dinas_contact(self.config))
            else:  # help for this step and the words that work everywhere, then the question
                hints = await step.help_vars(ctx) if step.help_vars else {}
                # our own template, rendered with its variables escaped
                ctx.say("help.step", body=Markup(ctx.t(step.help, **hints)))  # nosec B704
            if step is not None:
                await step.prompt(ctx)
            return
        user = await ctx.user()
        if name == "stop":
            if user is not None:
                user.broadcast_opt_out = True
                await ctx.audit("broadcast.opt_out", "user", user.id)
            ctx.say("stop.done")
            return
        if name == "mulai":
            if user is not None:
                user.broadcast_opt_out = False
                await ctx.audit("broadcast.opt_in", "user", user.id)
                ctx.say("mulai.done")
            if step is not None:
                await step.prompt(ctx)
            return

    # --- writing the batch -------------------------------------------------------------------
    async def _write(self, b: _Batch) -> None:
        for key, pairs in b.out.presented.items():
            if key not in b.convs:
                await self._fetch(b, [key])
            conv = b.convs.get(key)
            if conv is not None and takes_typed_actions(conv.step, conv.data):
                conv.data["_choices"] = pairs
                b.dirty.add(key)
        if b.orm is not None:
            await b.orm.flush()  # the steps' domain rows first: a new user, a job...
        handed = self._to_hand(b)
        lease = b.now + self.handoff.lease if self.handoff is not None else None
        ids = await b.sql.write(BatchWrites(
            conversations=[(c.id, c.flow, c.step, c.data, c.locale, c.user_id)
                           for c in (b.convs[k] for k in sorted(b.dirty))],
            outbox=[(r.channel, r.address, r.user_id, r.key, r.payload, r.priority,
                     lease if i in handed else None, r.due) for i, r in enumerate(b.out.rows)],
            audit=b.audit,
            touched=sorted(b.touched),
            owner=self.handoff.owner if self.handoff is not None else None), b.now)
        rows = [r for i, r in enumerate(b.out.rows) if i in handed]
        b.handed = [
            # attempt 1, no broadcast, and the person just wrote: WhatsApp's window is open
            Sendable(id_, r.channel, r.address, r.user_id, r.key,
                     r.reply or Reply.from_payload(r.payload), r.priority, 1, None,
                     locale=self._locale(b, r.channel, r.address), window_open=True,
                     digest=digest)
            for r, (id_, digest) in zip(rows, ids, strict=True)]

    def _to_hand(self, b: _Batch) -> set[int]:
        """Which outbox rows go to the worker directly: replies to the people who wrote in
        this batch, on channels whose worker takes them now (`Handoff.accepts`)."""
        if self.handoff is None:
            return set()
        by_channel: dict[str, list[int]] = {}
        for i, r in enumerate(b.out.rows):
            if r.priority == PRIORITY_REPLY and (r.channel, r.address) in b.wrote:
                by_channel.setdefault(r.channel, []).append(i)
        return {i for channel, rows in by_channel.items()
                if self.handoff.accepts(channel, len(rows)) for i in rows}

    def _locale(self, b: _Batch, channel: str, address: str) -> str:
        conv = b.convs.get((channel, address))
        return conv.locale if conv is not None else self.config.locale


def _kind(ib: Inbound) -> str:
    if ib.event:
        return ib.event
    if ib.choice:
        return "button"
    if ib.media:
        return "media"
    if ib.location:
        return "location"
    return "text"

