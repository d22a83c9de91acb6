"""Small shared fakes for the booking and job tests: active tukang and a booked job."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from storage.db import Database
from storage.models import ChannelAccount, Job, Offer, TukangProfile, User
from tests.harness import Transcript, register_warga

BATAM_KOTA = "217110"
LUBUK_BAJA = "217106"
BULANG = "217105"
PAINTER = "SI013001"  # serves "Pengecatan"
BUILDER = "SI013026"  # serves most building categories
ELECTRICIAN = "ME011001"  # serves "Instalasi listrik" only


async def make_tukang(
    db: Database,
    address: str,
    name: str,
    *,
    phone: str = "+6281299990001",
    skills: tuple[str, ...] = (PAINTER,),
    areas: tuple[str, ...] = (BATAM_KOTA,),
    jenjang: int = 3,
    valid_until: date | None = None,
    status: str = "active",
    available: bool = True,
    rating_sum: int = 0,
    rating_count: int = 0,
    jobs_done: int = 0,
    last_offer_at: datetime | None = None,
    now: datetime | None = None,
    channel: str = "console",
) -> int:
    """An activated tukang reachable at (channel, address), inserted directly like the
    demo seed does; returns the user id."""
    at = now or datetime(2026, 11, 1, tzinfo=UTC)
    async with db.transaction() as s:
        user = User(name=name, phone=phone, role="tukang", kecamatan_code=areas[0],
                    consent_at=at, created_at=at, updated_at=at)
        s.add(user)
        await s.flush()
        assert user.id is not None
        s.add(ChannelAccount(user_id=user.id, channel=channel, address=address, created_at=at,
                             last_seen_at=at, last_inbound_at=at))
        s.add(TukangProfile(user_id=user.id, skk_number=f"SKK-{user.id:05d}", jenjang=jenjang,
                            skk_valid_until=valid_until or date(2029, 1, 1),
                            skills=list(skills), areas=list(areas), available=available,
                            status=status, decided_by="test", decided_at=at, submitted_at=at,
                            rating_sum=rating_sum, rating_count=rating_count,
                            jobs_done=jobs_done, last_offer_at=last_offer_at))
        return user.id


async def book(t: Transcript, who: str, *, category: str = "Pengecatan",
               description: str = "Cat ulang dinding ruang tamu yang mengelupas",
               address: str = "Jl. Sudirman No. 12, RT 03/RW 05", when: str = "Besok",
               register: bool = True, phone: str = "081234567890") -> None:
    """Walk `who` from the menu to the list of tukang (registering them first)."""
    if register:
        await register_warga(t, who, phone=phone)
    await t.press(who, "Pesan tukang")
    await t.press(who, category)
    await t.send(who, description)
    await t.press(who, "Lewati")
    await t.send(who, "1")  # own kecamatan comes first
    await t.send(who, address)
    await t.press(who, when)
    await t.press(who, "Kirim")


async def job_of(db: Database, code: str | None = None) -> Job:
    async with db.read() as s:
        stmt = select(Job).order_by(Job.id.desc())
        if code:
            stmt = select(Job).where(Job.code == code)
        return (await s.execute(stmt)).scalars().first()  # type: ignore[return-value]


async def offers_of(db: Database, job_id: int) -> list[Offer]:
    async with db.read() as s:
        return list((await s.execute(select(Offer).where(Offer.job_id == job_id)
                                     .order_by(Offer.id))).scalars())


async def profile_of(db: Database, user_id: int) -> TukangProfile:
    async with db.read() as s:
        return (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == user_id))).scalar_one()


def in_days(n: int) -> timedelta:
    return timedelta(days=n)
