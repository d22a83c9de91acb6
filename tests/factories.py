"""The one set of test factories: people, tukang, jobs, articles, complaints, and reads of
what the flows stored.

Every factory writes straight to the database in its own transaction (as the demo seed or
the admin CLI would), so a conversation sees the rows on its next message. The first argument
is a harness (people are its test names on its channel, dated by its clock) or a bare
`Database` (people are console addresses, dated `NOW`, the start of every test's clock).
People made here are registered: a user, a channel account, and unless `at_menu=False` a
conversation at the main menu, as if they had registered through the bot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    InfoArticle,
    Job,
    Offer,
    Officer,
    TukangProfile,
    User,
)
from tests.harness import BATAM_KOTA, Harness, StepClock, add_user, put_conversation, register_warga

NOW = StepClock().now  # where every test's clock starts: Monday 23 Nov 2026, 09:00 WIB
NONGSA = "217104"
SEKUPANG = "217103"
BULANG = "217105"
LUBUK_BAJA = "217106"
PAINTER = "SI013001"  # serves "Pengecatan"
BUILDER = "SI013026"  # serves most building categories
ELECTRICIAN = "ME011001"  # serves "Instalasi listrik" only

Where = Harness | Database
_counter = iter(range(1, 1_000_000))


def _db(where: Where) -> Database:
    return where.db if isinstance(where, Harness) else where


def _now(where: Where) -> datetime:
    return where.clock() if isinstance(where, Harness) else NOW


def _account(where: Where, who: str, channel: str) -> tuple[str, str]:
    return where.account(who) if isinstance(where, Harness) else (channel, who)


async def make_person(where: Where, who: str, *, role: str = "warga", name: str | None = None,
                      phone: str | None = None, kecamatan: str = BATAM_KOTA,
                      locale: str = "id", verified: bool = False, at: datetime | None = None,
                      accounts: Sequence[Mapping[str, Any]] | None = None, at_menu: bool = True,
                      channel: str = "console", **fields: Any) -> int:
    """A registered person reachable as `who` (or on `accounts`: `ChannelAccount` columns),
    made at `at` (default: now); `fields` are more `User` columns (status, topics,
    broadcast_opt_out...). Returns the user id."""
    at = at or _now(where)
    first, address = _account(where, who, channel)
    values: dict[str, Any] = {"name": name or f"Orang {who.title()}", "role": role,
                              "locale": locale, "kecamatan_code": kecamatan,
                              "phone_verified": verified} | fields
    if phone is not None:
        values["phone"] = phone
    accounts = accounts or [{"channel": first, "address": address}]
    uid = await add_user(_db(where), accounts, at=at, **values)
    if at_menu:
        await put_conversation(_db(where), accounts[0]["channel"], accounts[0]["address"],
                               step=HOME, data={"_role": role}, user_id=uid, locale=locale,
                               at=at)
    return uid


async def make_crowd(db: Database, accounts: Sequence[tuple[str, str, datetime | None, str]],
                     *, at: datetime = NOW) -> list[int]:
    """Many people at once, one account each, given as (channel, address, last inbound
    message, locale): the audience of a broadcast. Returns their user ids."""
    async with db.transaction() as s:
        users = [User(name=f"p{i}", locale=locale, consent_at=at, created_at=at, updated_at=at)
                 for i, (_, _, _, locale) in enumerate(accounts)]
        s.add_all(users)
        await s.flush()
        s.add_all([ChannelAccount(user_id=u.id or 0, channel=channel, address=address,
                                  created_at=at, last_seen_at=inbound or at,
                                  last_inbound_at=inbound)
                   for u, (channel, address, inbound, _) in zip(users, accounts, strict=True)])
        return [u.id or 0 for u in users]


async def make_tukang(where: Where, who: str, name: str | None = None, *,
                      status: str = "active", skills: Sequence[str] = (PAINTER,),
                      areas: Sequence[str] = (BATAM_KOTA,), valid_until: date | None = None,
                      submitted_at: datetime | None = None, media: list[str] | None = None,
                      skk: str | None = None, phone: str | None = None, jenjang: int = 3,
                      reason: str | None = None, available: bool = True, rating_sum: int = 0,
                      rating_count: int = 0, jobs_done: int = 0,
                      last_offer_at: datetime | None = None, verified: bool = True,
                      **person: Any) -> int:
    """A tukang with a whole profile (an SKK photo unless `media` says otherwise) in `status`
    (decided a day after submitting, unless pending; rejected or suspended ones carry
    `reason`), registered `submitted_at` (default: two days ago). `person` goes to
    `make_person` (kecamatan, locale, channel, at_menu...). Returns the user id."""
    at = submitted_at or _now(where) - timedelta(days=2)
    person.setdefault("kecamatan", areas[0])
    uid = await make_person(where, who, role="tukang", name=name, phone=phone, at=at,
                            verified=verified, **person)
    async with _db(where).transaction() as s:
        s.add(TukangProfile(
            user_id=uid, skk_number=skk or f"SKK-{uid:05d}", jenjang=jenjang,
            skk_valid_until=valid_until or date(2029, 1, 1),
            skk_media=["/tmp/skk.jpg"] if media is None else media,
            skills=list(skills), areas=list(areas), available=available, status=status,
            decision_reason=reason, submitted_at=at,
            decided_at=None if status == "pending" else at + timedelta(days=1),
            decided_by=None if status == "pending" else "admin:siti",
            rating_sum=rating_sum, rating_count=rating_count, jobs_done=jobs_done,
            last_offer_at=last_offer_at))
    return uid


async def make_job(where: Where, warga_id: int, *, tukang_id: int | None = None,
                   status: str = "done", code: str | None = None,
                   category: str | None = None) -> int:
    """A job of `warga_id` in `category` (a name; default: the first), in Batam Kota, taken by
    `tukang_id` if given."""
    async with _db(where).transaction() as s:
        pick = select(Category).order_by(Category.id).limit(1)
        if category is not None:
            pick = select(Category).where(Category.name == category)
        category_row = (await s.execute(pick)).scalar_one()
        job = Job(code=code or f"J-2611-{next(_counter):04d}", warga_id=warga_id,
                  category_id=category_row.id or 0, description="Atap bocor di dapur",
                  kecamatan_code=BATAM_KOTA, address="Jl. Mawar 1", status=status,
                  tukang_id=tukang_id, created_at=_now(where))
        s.add(job)
        await s.flush()
        return int(job.id or 0)


async def make_article(where: Where, title: str, topic: str, body: str = "Isi tulisan.",
                       *, published: bool = True, age_days: int = 0) -> int:
    at = _now(where) - timedelta(days=age_days)
    async with _db(where).transaction() as s:
        a = InfoArticle(title=title, topic=topic, body=body, published=published,
                        published_at=at if published else None, created_by="admin:siti",
                        created_at=at, updated_at=at)
        s.add(a)
        await s.flush()
        return int(a.id or 0)


async def make_officer(where: Where, name: str, role: str = "admin", *, contact: str = "",
                       display: str | None = None, active: bool = True) -> int:
    """A Dinas officer `sijakon-admin --as NAME` accepts (as `officer add` would); an officer
    already registered under that name is kept as it is. Returns the officer's id."""
    async with _db(where).transaction() as s:
        found = (await s.execute(select(Officer).where(Officer.name == name))).scalar()
        if found is not None:
            return int(found.id or 0)
        o = Officer(name=name, display_name=display or name.title(), role=role, contact=contact,
                    active=active, created_at=_now(where),
                    disabled_at=None if active else _now(where))
        s.add(o)
        await s.flush()
        return int(o.id or 0)


async def make_complaint(where: Where, job_id: int, *, status: str = "submitted",
                         evidence: list[str] | None = None) -> int:
    """A complaint on a job with its `evidence` files (awaiting_statement: asked now, due in
    a week)."""
    now = _now(where)
    async with _db(where).transaction() as s:
        job = await s.get(Job, job_id)
        assert job is not None and job.tukang_id is not None
        c = Complaint(code=f"P-2611-{next(_counter):04d}", job_id=job_id, warga_id=job.warga_id,
                      tukang_id=job.tukang_id, text="Tukang tidak datang dua kali tanpa kabar.",
                      evidence=list(evidence or []), status=status, created_at=now)
        if status == "awaiting_statement":
            c.statement_requested_at = now
            c.statement_due_at = now + timedelta(days=7)
        s.add(c)
        await s.flush()
        return int(c.id or 0)


async def ask_statement(h: Harness, complaint_id: int) -> None:
    """What the admin CLI does: mark the complaint and send the tukang the button."""
    now = h.clock()
    out = Outgoing()
    async with h.db.transaction() as s:
        c = await s.get(Complaint, complaint_id)
        assert c is not None
        c.status = "awaiting_statement"
        c.statement_requested_at = now
        c.statement_due_at = now + timedelta(days=7)
        job = await s.get(Job, c.job_id)
        await out.notify(s, c.tukang_id, "admin.statement_requested",
                         actions=[Choice(f"complaint.statement:{c.id}", "choice.give_statement")],
                         media=list(c.evidence or []), complaint_code=c.code,
                         job_code=job.code if job else "-", text=c.text,
                         deadline="30-11-2026 09:00 WIB", files=len(c.evidence or []))
        await out.write(s, now)
    await h.refresh()


async def book(h: Harness, who: str, *, category: str = "Pengecatan",
               description: str = "Cat ulang dinding ruang tamu yang mengelupas",
               address: str = "Jl. Sudirman No. 12, RT 03/RW 05", when: str = "Besok",
               register: bool = True, phone: str = "081234567890",
               photo: bytes | None = None) -> None:
    """Walk `who` from the menu to the list of tukang (registering them first), sending
    `photo` at the photo step or skipping it."""
    if register:
        await register_warga(h, who, phone=phone)
    await h.press(who, "Pesan tukang")
    await h.press(who, category)
    await h.send(who, description)
    if photo is not None:
        await h.photo(who, photo)
    await h.press(who, "Lewati" if photo is None else "Selesai")
    await h.send(who, "1")  # own kecamatan comes first
    await h.send(who, address)
    await h.press(who, when)
    await h.press(who, "Kirim")


# --- reading what the flows stored ---------------------------------------------------------
async def user_id(where: Where, who: str, channel: str = "console") -> int:
    """The user behind a test name (on a bare database: a console address)."""
    channel, address = _account(where, who, channel)
    async with _db(where).read() as s:
        uid = (await s.execute(select(ChannelAccount.user_id).where(
            ChannelAccount.channel == channel, ChannelAccount.address == address))).scalar_one()
    return int(uid)


async def category_id(db: Database, name: str) -> int:
    async with db.read() as s:
        return int((await s.execute(select(Category.id).where(Category.name == name)))
                   .scalar_one())


async def job_of(db: Database, code: str | None = None) -> Job:
    """The job with `code`, else the newest."""
    async with db.read() as s:
        stmt = select(Job).order_by(Job.id.desc())
        if code:
            stmt = select(Job).where(Job.code == code)
        return (await s.execute(stmt)).scalars().first()  # type: ignore[return-value]


async def offers_of(db: Database, job_id: int) -> list[Offer]:
    async with db.read() as s:
        return list((await s.execute(select(Offer).where(Offer.job_id == job_id)
                                     .order_by(Offer.id))).scalars())


async def profile_of(db: Database, uid: int) -> TukangProfile | None:
    async with db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == uid))).scalar_one_or_none()


async def get(db: Database, model: Any, key: Any) -> Any:
    async with db.read() as s:
        return await s.get(model, key)

