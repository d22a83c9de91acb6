"""Broadcasts of construction information: who gets one, what they read, and the enqueueing.

A broadcast is a row (`Broadcast`: text or an article, an optional image, the audience, an
optional WhatsApp template) that becomes one outbox row per recipient at the lowest priority,
so replies and notifications always go first (DESIGN.md "Outbox priority"). The delivery
worker paces the rows at each channel's limit; nothing here sends.

Enqueueing goes in batches of users, each batch in its own transaction together with the
cursor (`Broadcast.last_user_id`), so a process killed mid-way loses nothing and duplicates
nothing: whoever continues (the CLI again, or the bot's `broadcast_enqueue` timer) starts after
the last committed batch. The broadcast row is locked for each batch (`FOR UPDATE` on
PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises writers anyway), so two enqueuers never write
the same batch twice.

Who: active (not erased) people who did not opt out (STOP / BERHENTI, or the Pengaturan
switch), with at least one reachable account; one account per person, the same rule as
`flows.outbox.find_recipient` (the one seen last). WhatsApp only lets a business write freely
within 24 hours of the person's last message: outside it the broadcast goes as the approved
template configured for it (`template_sid`), or is skipped, recorded with the reason.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from flows.context import FlowConfig
from flows.outbox import PRIORITY_BROADCAST, Outgoing, window_cutoff
from flows.parsing import clip
from flows.render import LOCALES, markdown_html, render, to_plain
from flows.table import Registry
from storage.clock import as_utc
from storage.db import Database
from storage.models import Broadcast, ChannelAccount, InfoArticle, Outbox, TukangProfile, User
from storage.sql import pk, rowcount, table

KEY = "broadcast.message"
TEMPLATE_KEY = "broadcast.message"  # WHATSAPP_TEMPLATES may also configure one for all
BATCH = 10_000  # users per transaction: ~0.3 s of writing (SQLite), so the bot barely waits
TIMER_BUDGET = 20_000  # users a scheduler tick may go through (the rest on the next tick)
SUMMARY_LIMIT = 900  # characters of the text given to a WhatsApp template variable
ROLES = ("all", "warga", "tukang")
SKIP_WINDOW = "whatsapp: outside the 24-hour window and no template configured"
DONE_STATES = ("sent", "delivered", "read", "failed", "undelivered", "skipped", "cancelled")


class BroadcastError(Exception):
    """A broadcast cannot do what was asked (wrong status, no article...); says why."""


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a broadcast is for. Lists are "any of"; different kinds must all hold."""

    role: str = "all"  # all | warga | tukang
    kecamatan: tuple[str, ...] = ()  # User.kecamatan_code (a tukang's home kecamatan)
    skills: tuple[str, ...] = ()  # TukangProfile.skills (implies tukang)
    topics: tuple[str, ...] = ()  # User.topics (subscriptions in the bot)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        d = data or {}
        return cls(role=str(d.get("role") or "all"),
                   kecamatan=tuple(d.get("kecamatan") or ()), skills=tuple(d.get("skills") or ()),
                   topics=tuple(t.casefold() for t in d.get("topics") or ()))

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "kecamatan": list(self.kecamatan),
                "skills": list(self.skills), "topics": list(self.topics)}

    def describe(self) -> str:
        parts = [{"all": "semua", "warga": "warga", "tukang": "tukang"}.get(self.role, self.role)]
        if self.kecamatan:
            parts.append("kecamatan " + ", ".join(self.kecamatan))
        if self.skills:
            parts.append("keahlian " + ", ".join(self.skills))
        if self.topics:
            parts.append("topik " + ", ".join(self.topics))
        return "; ".join(parts)


# --- rendering -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Content:
    """What a broadcast says, before it is rendered in a language."""

    text: str
    title: str = ""
    image: str | None = None


async def content_of(session: AsyncSession, b: Broadcast) -> Content:
    """The broadcast's own text, or the article it points to (title and body)."""
    if b.article_id is not None:
        a = await session.get(InfoArticle, b.article_id)
        if a is not None:
            return Content(a.body, a.title, b.image)
    return Content(b.text, "", b.image)


def render_text(content: Content, locale: str) -> str:
    """The message in `locale`, ending with the one line on how to stop broadcasts. The text
    is Markdown the Dinas wrote: it becomes the message markup, so each channel shows bold
    as bold and nobody reads a `**`."""
    return render(KEY, locale, title=content.title, text=markdown_html(content.text))


def summary(content: Content) -> str:
    """The text on one line for a template variable (WhatsApp refuses newlines in them), its
    Markdown read as plain words (a template variable takes no markup)."""
    text = to_plain(markdown_html(content.text))
    flat = " ".join(f"{content.title}: {text}".split() if content.title else text.split())
    return clip(flat, SUMMARY_LIMIT)


def payloads(content: Content, template_sid: str | None) -> dict[tuple[str, bool], dict[str, Any]]:
    """The outbox payload per (locale, is WhatsApp): rendered once, shared by every row."""
    out: dict[tuple[str, bool], dict[str, Any]] = {}
    for locale in LOCALES:
        text = render_text(content, locale)
        base: dict[str, Any] = {"text": text}
        if content.image:
            base["media"] = [content.image]
        out[(locale, False)] = base
        # WhatsApp: the template (per broadcast, or WHATSAPP_TEMPLATES' "broadcast.message") is
        # what goes if the window has closed by the time the row is sent
        template: dict[str, Any] = {"key": TEMPLATE_KEY,
                                    "vars": {"summary": summary(content)}}
        if template_sid:
            template["content_sid"] = template_sid
            template["variables"] = ["summary"]
        out[(locale, True)] = {**base, "template": template}
    return out


# --- choosing the recipients -----------------------------------------------------------------


def _user_filter(aud: Audience, *, opted_out: bool = False) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [col(User.status) == "active",
                                        col(User.broadcast_opt_out).is_(opted_out)]
    if aud.role in ("warga", "tukang"):
        conds.append(col(User.role) == aud.role)
    if aud.skills:
        conds.append(col(User.role) == "tukang")
    if aud.role == "tukang" or aud.skills:
        # a tukang the Dinas suspended or removed is no longer addressed as a tukang
        stopped = select(TukangProfile.user_id).where(
            col(TukangProfile.status).in_(("suspended", "removed")))
        conds.append(pk(User.id).not_in(stopped))
    if aud.kecamatan:
        conds.append(col(User.kecamatan_code).in_(aud.kecamatan))
    return conds


def _wants(aud: Audience, topics: list[str] | None, skills: list[str] | None) -> bool:
    """The filters on JSON lists, checked here the same way on SQLite and PostgreSQL."""
    if aud.topics and not {str(t).casefold() for t in topics or []} & set(aud.topics):
        return False
    return not (aud.skills and not set(skills or []) & set(aud.skills))


@dataclass(slots=True)
class Batch:
    """The users of one batch: ids after `after` up to `upper`, optionally only `only`."""

    after: int
    upper: int
    finished: bool
    only: list[int] | None = None

    @property
    def empty(self) -> bool:
        return self.upper == self.after or self.only == []


async def next_batch(session: AsyncSession, aud: Audience, after: int, limit: int) -> Batch:
    """The next `limit` users of the audience after id `after` (their ids only)."""
    conn = await session.connection()  # Core, not the ORM: far less overhead per row
    if not (aud.topics or aud.skills):
        base = select(pk(User.id)).where(pk(User.id) > after, *_user_filter(aud))
        upper = (await conn.execute(base.order_by(pk(User.id)).offset(limit - 1).limit(1))).scalar()
        if upper is not None:
            return Batch(after, upper, False)
        last = (await conn.execute(select(func.max(pk(User.id))).where(
            pk(User.id) > after, *_user_filter(aud)))).scalar()
        return Batch(after, last or after, True)
    # lists of topics and skills are JSON: filtered here, alike on both databases
    stmt = (select(pk(User.id), User.topics, TukangProfile.skills)
            .outerjoin(TukangProfile, col(TukangProfile.user_id) == User.id)
            .where(pk(User.id) > after, *_user_filter(aud)).order_by(pk(User.id)).limit(limit))
    rows = (await conn.execute(stmt)).all()
    only = [r[0] for r in rows if _wants(aud, r[1], r[2])]
    return Batch(after, rows[-1][0] if rows else after, len(rows) < limit, only)


def _best_account() -> Any:
    """One account per person, as `flows.outbox.find_recipient` picks it (reachable only):
    the best account of the outer account's own user."""
    other = table(ChannelAccount).alias("best")
    return (select(other.c.id).where(other.c.user_id == ChannelAccount.user_id,
                                     other.c.reachable.is_(True))
            .order_by(other.c.last_seen_at.desc().nulls_last(), other.c.id.desc())
            .limit(1).scalar_subquery())


def recipients(aud: Audience, batch: Batch, columns: list[Any]) -> Any:
    """SELECT `columns` over the batch's recipients (one account each); `skip_expr` says who
    is skipped. The account is joined by its user (the batch's range on both sides) and
    checked to be its user's best on its own side: joined on the best one's id instead,
    PostgreSQL hashed every account of every batch and ran the subquery twice a person
    (bench/broadcast.py)."""
    owner = col(ChannelAccount.user_id)
    stmt = (select(*columns).select_from(User)
            .join(ChannelAccount, owner == pk(User.id))
            .where(pk(User.id) > batch.after, pk(User.id) <= batch.upper, *_user_filter(aud),
                   owner > batch.after, owner <= batch.upper,
                   col(ChannelAccount.id) == _best_account()))
    if batch.only is not None:
        stmt = stmt.where(pk(User.id).in_(batch.only))
    return stmt


def skip_expr(now: datetime, has_template: bool) -> ColumnElement[bool]:
    """True for a WhatsApp account outside the 24-hour window when no template is set."""
    if has_template:
        return false()
    cutoff = bindparam("cutoff", window_cutoff(now),
                       type_=table(ChannelAccount).c.last_inbound_at.type)
    return and_(col(ChannelAccount.channel) == "whatsapp",
                or_(col(ChannelAccount.last_inbound_at).is_(None),
                    col(ChannelAccount.last_inbound_at) <= cutoff))


# --- life cycle ------------------------------------------------------------------------------


async def create(session: AsyncSession, *, text: str = "", article_id: int | None = None,
                 image: str | None = None, audience: Audience | None = None,
                 template_sid: str | None = None, created_by: str = "",
                 now: datetime) -> Broadcast:
    """A draft broadcast; from an article, only a published one."""
    aud = audience or Audience()
    if aud.role not in ROLES:
        raise BroadcastError(f"unknown audience {aud.role!r}")
    if article_id is not None:
        a = await session.get(InfoArticle, article_id)
        if a is None:
            raise BroadcastError(f"no article {article_id}")
        if not a.published:
            raise BroadcastError(f"article {article_id} is not published")
    elif not text.strip():
        raise BroadcastError("a broadcast needs a text or an article")
    b = Broadcast(text=text.strip(), article_id=article_id, image=image,
                  audience=aud.to_json(), template_sid=template_sid or None,
                  created_by=created_by, created_at=now)
    session.add(b)
    await session.flush()
    return b


async def start(session: AsyncSession, broadcast_id: int, now: datetime) -> bool:
    """draft -> sending (a conditional update: only one `send` wins)."""
    t = table(Broadcast)
    done = await session.execute(update(t).where(t.c.id == broadcast_id, t.c.status == "draft")
                                 .values(status="sending", started_at=now))
    return bool(rowcount(done))


async def enqueue_batch(session: AsyncSession, broadcast_id: int, now: datetime, *,
                        limit: int = BATCH, wait: bool = True) -> tuple[int, bool]:
    """Queue the next batch in the caller's transaction: (users gone through, finished).

    `wait=False` skips a broadcast another process is enqueueing right now (PostgreSQL)."""
    stmt = select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update(
        skip_locked=not wait)
    b = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()
    if b is None or b.status != "sending":
        return 0, True
    content = await content_of(session, b)
    shared = payloads(content, b.template_sid)
    aud = Audience.from_json(b.audience)
    batch = await next_batch(session, aud, b.last_user_id, limit)
    queued = skipped = 0
    if not batch.empty:
        queued, skipped = await _insert(session, b, aud, batch, shared, now)
    upper, finished = batch.upper, batch.finished
    b.last_user_id = upper
    b.total += queued + skipped
    b.queued += queued
    b.skipped += skipped
    if finished:
        b.status = "sent"
        b.finished_at = now
    await session.flush()
    return queued + skipped, finished


async def _insert(session: AsyncSession, b: Broadcast, aud: Audience, batch: Batch,
                  shared: dict[tuple[str, bool], dict[str, Any]],
                  now: datetime) -> tuple[int, int]:
    """INSERT ... SELECT: the database copies the rows itself (100,000 in a few seconds; one
    Python dict per row through SQLAlchemy's type processing took five times longer)."""
    o = table(Outbox)
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        # no wait for the WAL flush at commit: a crash can lose only the last batches, and
        # their cursor with them (same transaction), so they are simply written again
        await conn.execute(sql_text("SET LOCAL synchronous_commit TO OFF"))
    json_type, at_type = o.c.payload.type, o.c.next_attempt_at.type
    en = col(User.locale) == "en"
    wa = col(ChannelAccount.channel) == "whatsapp"

    def payload(locale: str, whatsapp: bool) -> Any:
        return bindparam(f"p_{locale}_{int(whatsapp)}", shared[(locale, whatsapp)],
                         type_=json_type)

    body = case((and_(en, wa), payload("en", True)), (en, payload("en", False)),
                (wa, payload("id", True)), else_=payload("id", False))
    at = bindparam("now", now, type_=at_type)
    names = ["channel", "address", "user_id", "key", "payload", "priority", "status",
             "attempts", "next_attempt_at", "broadcast_id", "created_at", "last_error"]
    skip = skip_expr(now, bool(b.template_sid))
    status = case((skip, literal("skipped")), else_=literal("queued"))
    reason = case((skip, literal(SKIP_WINDOW)), else_=literal(None, type_=String))
    cols = [ChannelAccount.channel, ChannelAccount.address, User.id, literal(KEY), body,
            literal(PRIORITY_BROADCAST), status, literal(0), at, literal(b.id), at, reason]
    before = (await conn.execute(select(func.max(o.c.id)))).scalar() or 0
    stmt = recipients(aud, batch, cols)  # no ORDER BY: -20% on PG
    written = (await conn.execute(insert(o).from_select(names, stmt))).rowcount or 0
    skipped = 0
    if written and not b.template_sid:  # the rows just written are the ids above `before`
        skipped = (await conn.execute(select(func.count()).where(
            o.c.id > before, o.c.broadcast_id == b.id, o.c.status == "skipped"))).scalar() or 0
    return written - skipped, skipped


async def enqueue_all(db: Database, broadcast_id: int, *, clock: Callable[[], datetime],
                      batch: int = BATCH, max_batches: int | None = None,
                      progress: Callable[[int], None] | None = None) -> int:
    """Queue every remaining recipient, one transaction per batch (resumable at any point)."""
    written = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        async with db.transaction() as s:
            n, finished = await enqueue_batch(s, broadcast_id, clock(), limit=batch)
        written += n
        batches += 1
        if progress:
            progress(written)
        if finished:
            break
    return written


async def cancel(session: AsyncSession, broadcast_id: int, now: datetime) -> int:
    """Stop a broadcast: nothing more is queued, and rows not yet sent will not go.

    Rows a delivery worker holds in memory right now (its ~2 s window) may still go."""
    t = table(Broadcast)
    done = await session.execute(update(t).where(t.c.id == broadcast_id,
                                                 t.c.status.in_(("draft", "sending", "sent")))
                                 .values(status="cancelled", finished_at=now))
    if not rowcount(done):
        return -1
    o = table(Outbox)
    stale = and_(o.c.status == "sending", o.c.claimed_until < now)
    rows = await session.execute(update(o).where(
        o.c.broadcast_id == broadcast_id, or_(o.c.status.in_(("queued", "waiting")), stale))
        .values(status="cancelled", last_error="broadcast cancelled", claimed_until=None))
    return rowcount(rows) or 0


# --- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Preview:
    texts: dict[str, str]
    by_channel: dict[str, int] = field(default_factory=dict)
    skipped_whatsapp: int = 0
    opted_out: int = 0
    unreachable: int = 0

    @property
    def recipients(self) -> int:
        return sum(self.by_channel.values())


async def preview(session: AsyncSession, b: Broadcast, now: datetime) -> Preview:
    """The rendered text in each language and who would get it (nothing is written)."""
    aud = Audience.from_json(b.audience)
    content = await content_of(session, b)
    out = Preview({loc: render_text(content, loc) for loc in LOCALES})
    counts: Tally[str] = Tally()
    has_template = bool(b.template_sid)
    skip = skip_expr(now, has_template)
    after, finished = 0, False
    while not finished:
        batch = await next_batch(session, aud, after, BATCH * 4)
        after, finished = batch.upper, batch.finished
        if batch.empty:
            continue
        conn = await session.connection()
        for skipped in (False, True):
            stmt = recipients(aud, batch, [ChannelAccount.channel, func.count()]).where(
                skip if skipped else not_(skip)).group_by(ChannelAccount.channel)
            for channel, n in await conn.execute(stmt):
                if skipped:
                    out.skipped_whatsapp += n
                else:
                    counts[channel] += n
    out.by_channel = dict(sorted(counts.items()))
    # the people the audience names but who will not get it, and why
    out.opted_out = await _count_named(session, aud, _user_filter(aud, opted_out=True))
    reachable = select(ChannelAccount.user_id).where(col(ChannelAccount.reachable).is_(True))
    out.unreachable = await _count_named(session, aud,
                                         [*_user_filter(aud), pk(User.id).not_in(reachable)])
    return out


async def _count_named(session: AsyncSession, aud: Audience,
                       conds: list[ColumnElement[bool]]) -> int:
    """How many users match `conds` and the audience's list filters."""
    stmt = select(pk(User.id), User.topics, TukangProfile.skills).outerjoin(
        TukangProfile, col(TukangProfile.user_id) == User.id).where(*conds)
    return sum(1 for r in (await session.execute(stmt)).all() if _wants(aud, r.topics, r.skills))


async def counts(session: AsyncSession, broadcast_id: int, now: datetime) -> dict[str, Any]:
    """Outbox rows of a broadcast by status (rows pruned after the retention included, from
    the broadcast's tally), and the sending rate over the last minute."""
    rows = await session.execute(select(Outbox.status, func.count()).where(
        Outbox.broadcast_id == broadcast_id).group_by(Outbox.status))
    by = {s: n for s, n in rows}
    pruned = (await session.execute(select(Broadcast.pruned).where(
        Broadcast.id == broadcast_id))).scalar_one_or_none() or {}
    for status, n in pruned.items():
        by[status] = by.get(status, 0) + int(n)
    recent = (await session.execute(select(func.count()).where(
        Outbox.broadcast_id == broadcast_id, col(Outbox.sent_at) >= now - timedelta(seconds=60))
    )).scalar_one()
    first = (await session.execute(select(func.min(Outbox.sent_at)).where(
        Outbox.broadcast_id == broadcast_id))).scalar_one()
    span = 60.0
    if first is not None:
        span = max(1.0, min(60.0, (now - as_utc(first)).total_seconds()))
    return {"by_status": by, "rate_per_second": round(recent / span, 2) if recent else 0.0}


# --- the scheduler's part --------------------------------------------------------------------


async def continue_broadcasts(session: AsyncSession, now: datetime, out: Outgoing,
                              config: FlowConfig) -> int:
    """Carry on with broadcasts left in "sending" (the CLI or the bot was stopped mid-way)."""
    ids = list((await session.execute(select(pk(Broadcast.id))
                                      .where(Broadcast.status == "sending")
                                      .order_by(pk(Broadcast.id)))).scalars())
    budget = TIMER_BUDGET
    done = 0
    for broadcast_id in ids:
        while budget > 0:
            n, finished = await enqueue_batch(session, broadcast_id, now,
                                              limit=min(BATCH, budget), wait=False)
            done += n
            budget -= min(BATCH, budget)
            if finished:
                break
    return done


def register(registry: Registry) -> None:
    registry.timer("broadcast_enqueue", continue_broadcasts)
