"""Rows for the tukang, complaint, info and settings tests, written straight to the database.

Each helper opens its own write transaction (as the admin CLI would), so a transcript sees the
rows on its next message. People get a channel account and a conversation at the menu, as if
they had registered through the bot.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from flows.outbox import Outgoing
from flows.registry import HOME
from flows.types import Choice
from storage.db import Database
from storage.models import (
    Category,
    ChannelAccount,
    Complaint,
    Conversation,
    InfoArticle,
    Job,
    TukangProfile,
    User,
)
from tests.harness import Transcript

BATAM_KOTA = "217110"
NONGSA = "217104"
_counter = iter(range(1, 1_000_000))


def now_of(t: Transcript) -> datetime:
    return t.clock()


async def user_id(db: Database, who: str, channel: str = "console") -> int:
    """The user behind a chat address (a test name like "budi")."""
    async with db.read() as s:
        uid = (await s.execute(select(ChannelAccount.user_id).where(
            ChannelAccount.channel == channel, ChannelAccount.address == who))).scalar_one()
    return int(uid)


async def make_person(t: Transcript, who: str, *, role: str = "warga", name: str | None = None,
                      phone: str | None = None, kecamatan: str = BATAM_KOTA,
                      locale: str = "id") -> int:
    """A registered person whose conversation stands at the main menu."""
    now = now_of(t)
    n = next(_counter)
    async with t.db.transaction() as s:
        user = User(name=name or f"Orang {who.title()}", phone=phone or f"+62812000{n:05d}",
                    role=role, locale=locale, kecamatan_code=kecamatan, consent_at=now,
                    created_at=now, updated_at=now)
        s.add(user)
        await s.flush()
        s.add(ChannelAccount(user_id=user.id or 0, channel=t.channel, address=who,
                             last_seen_at=now, last_inbound_at=now, created_at=now))
        s.add(Conversation(channel=t.channel, address=who, user_id=user.id, flow="menu",
                           step=HOME, data={"_role": role}, locale=locale, updated_at=now))
        return int(user.id or 0)


async def make_tukang(t: Transcript, who: str, *, status: str = "active",
                      skills: list[str] | None = None, areas: list[str] | None = None,
                      valid_until: date | None = None, reason: str | None = None,
                      available: bool = True, skk: str | None = None, **kw: Any) -> int:
    """A tukang with a profile in `status` (rejected ones carry `reason`)."""
    uid = await make_person(t, who, role="tukang", **kw)
    now = now_of(t)
    async with t.db.transaction() as s:
        s.add(TukangProfile(
            user_id=uid, skk_number=skk or f"SKK-{uid:04d}-2025", jenjang=3,
            skk_valid_until=valid_until or date(2029, 6, 30), skk_media=["/tmp/skk.jpg"],
            skills=skills or ["SI013001"], areas=areas or [BATAM_KOTA], available=available,
            status=status, decision_reason=reason, submitted_at=now - timedelta(days=2),
            decided_at=None if status == "pending" else now - timedelta(days=1),
            decided_by=None if status == "pending" else "admin:siti"))
    return uid


async def make_job(t: Transcript, warga_id: int, *, tukang_id: int | None = None,
                   status: str = "done", code: str | None = None) -> int:
    now = now_of(t)
    async with t.db.transaction() as s:
        category = (await s.execute(select(Category).order_by(Category.id).limit(1))).scalar_one()
        job = Job(code=code or f"J-2611-{next(_counter):04d}", warga_id=warga_id,
                  category_id=category.id or 0, description="Atap bocor di dapur",
                  kecamatan_code=BATAM_KOTA, address="Jl. Mawar 1", status=status,
                  tukang_id=tukang_id, created_at=now)
        s.add(job)
        await s.flush()
        return int(job.id or 0)


async def make_article(t: Transcript, title: str, topic: str, body: str = "Isi tulisan.",
                       *, published: bool = True, age_days: int = 0) -> int:
    now = now_of(t) - timedelta(days=age_days)
    async with t.db.transaction() as s:
        a = InfoArticle(title=title, topic=topic, body=body, published=published,
                        published_at=now if published else None, created_by="admin:siti",
                        created_at=now, updated_at=now)
        s.add(a)
        await s.flush()
        return int(a.id or 0)


async def make_complaint(t: Transcript, job_id: int, *, status: str = "submitted") -> int:
    now = now_of(t)
    async with t.db.transaction() as s:
        job = await s.get(Job, job_id)
        assert job is not None and job.tukang_id is not None
        c = Complaint(code=f"P-2611-{next(_counter):04d}", job_id=job_id, warga_id=job.warga_id,
                      tukang_id=job.tukang_id, text="Tukang tidak datang dua kali tanpa kabar.",
                      status=status, created_at=now)
        if status == "awaiting_statement":
            c.statement_requested_at = now
            c.statement_due_at = now + timedelta(days=7)
        s.add(c)
        await s.flush()
        return int(c.id or 0)


async def ask_statement(t: Transcript, complaint_id: int) -> None:
    """What the admin CLI does: mark the complaint and send the tukang the button."""
    now = now_of(t)
    out = Outgoing()
    async with t.db.transaction() as s:
        c = await s.get(Complaint, complaint_id)
        assert c is not None
        c.status = "awaiting_statement"
        c.statement_requested_at = now
        c.statement_due_at = now + timedelta(days=7)
        job = await s.get(Job, c.job_id)
        await out.notify(s, c.tukang_id, "complaint.ask_statement",
                         actions=[Choice(f"complaint.statement:{c.id}", "choice.give_statement")],
                         code=c.code, job=job.code if job else "-", text=c.text, due="30-11-2026")
        await out.write(s, now)
    await t.refresh()


async def get(db: Database, model: Any, row_id: int) -> Any:
    async with db.read() as s:
        return await s.get(model, row_id)


async def profile_of(db: Database, uid: int) -> TukangProfile | None:
    async with db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == uid))).scalar_one_or_none()
