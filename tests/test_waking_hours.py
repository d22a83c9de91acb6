"""Offer deadlines count only in waking hours (06:00-21:00 WIB by default): the night is not
counted against a tukang who is asleep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.scheduler import Scheduler
from flows.context import FlowConfig
from flows.deadlines import Waking, waking
from storage.clock import WIB, as_utc
from storage.db import Database
from storage.models import Outbox
from tests.factories import book, job_of, make_tukang, offers_of
from tests.harness import Harness, StepClock

HOURS = Waking()


def wib(day: int, hour: int, minute: int = 0) -> datetime:
    """A time on a December 2026 day in Batam."""
    return datetime(2026, 12, day, hour, minute, tzinfo=WIB)


@pytest.mark.parametrize(("start", "hours", "end"), [
    (wib(1, 22), 3, wib(2, 9)),  # at night: counted from 06:00
    (wib(1, 20), 3, wib(2, 8)),  # one hour before 21:00, two after 06:00
    (wib(1, 9), 3, wib(1, 12)),  # all inside the day
    (wib(1, 18), 3, wib(1, 21)),  # ends exactly at the close: not pushed to the morning
    (wib(1, 21), 3, wib(2, 9)),  # at the close itself: the next morning
    (wib(1, 3), 3, wib(1, 9)),  # before dawn
    (wib(1, 6), 3, wib(1, 9)),  # at the opening
    (wib(1, 20, 59), 3, wib(2, 8, 59)),
    (wib(1, 10), 20, wib(2, 15)),  # longer than a day's window: 11 h today, 9 h tomorrow
    (wib(31, 22), 3, datetime(2027, 1, 1, 9, tzinfo=WIB)),  # over the new year
])
def test_add_counts_only_waking_time(start: datetime, hours: int, end: datetime) -> None:
    """Examples at the boundaries, read on Batam's clock (WIB, no daylight saving)."""
    got = HOURS.add(start.astimezone(UTC), timedelta(hours=hours))
    assert got == end and got.tzinfo == UTC


def test_between_is_the_inverse_of_add() -> None:
    """The waking time between a start and its deadline is the span it was given."""
    for start in (wib(1, 22), wib(1, 20), wib(1, 5, 30), wib(1, 13, 7)):
        for minutes in (5, 180, 600, 2000):
            span = timedelta(minutes=minutes)
            assert HOURS.between(start, HOURS.add(start, span)) == span
    assert HOURS.between(wib(1, 22), wib(2, 5)) == timedelta()
    assert HOURS.between(wib(2, 9), wib(1, 9)) == timedelta()


def test_other_hours_and_config() -> None:
    """Other hours come from FlowConfig.waking_hours once bot/ hands them in; reversed
    hours are refused."""
    assert Waking(time(8), time(17)).add(wib(1, 16), timedelta(hours=2)) == \
        wib(2, 9).astimezone(UTC)
    assert waking(FlowConfig()) == Waking(time(6), time(21))
    with pytest.raises(ValueError, match="start before"):
        Waking(time(21), time(6))


@pytest.fixture
async def night(any_db: Database) -> AsyncIterator[Harness]:
    """A conversation that starts at 22:00 WIB, on SQLite and on PostgreSQL."""
    h = Harness.console(any_db, clock=StepClock(wib(1, 22).astimezone(UTC)))
    yield h
    await h.close()


async def test_an_offer_at_night_expires_at_nine(night: Harness) -> None:
    """A warga books at 22:00: the offer is good until 09:00 the next morning, both sides are
    told that time, and the expiry timer does nothing at 08:59 and expires it at 09:00."""
    t = night
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    told = t.got("budi", "sudah dikirim")
    assert "02-12-2026 09:00 WIB" in told.text
    why = t.got("budi", "malam hari")
    assert "06.00–21.00 WIB" in why.text and "02-12-2026 09:00 WIB" in why.text
    job = await job_of(t.db)
    [offer] = await offers_of(t.db, job.id or 0)
    assert offer.expires_at == wib(2, 9).astimezone(UTC)

    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.now = wib(2, 8, 59).astimezone(UTC)
    assert (await scheduler.tick())["offers_expire"] == 0
    await t.refresh()
    assert "Berlaku sampai 02-12-2026 09:00 WIB" in t.got("andi", "Tawaran pekerjaan").text
    assert not any("belum menjawab" in x.text for x in t.all("budi"))
    t.clock.now = wib(2, 9).astimezone(UTC)
    assert (await scheduler.tick())["offers_expire"] == 1
    await t.refresh()
    assert "Andi" in t.got("budi", "belum menjawab").text
    assert [o.status for o in await offers_of(t.db, job.id or 0)] == ["expired"]


async def test_an_offer_by_day_has_no_night_note(night: Harness) -> None:
    """At 10:00 three hours end at 13:00, and nobody is told about the night."""
    t = night
    t.clock.now = wib(2, 10).astimezone(UTC)
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    assert "02-12-2026 13:00 WIB" in t.got("budi", "sudah dikirim").text
    assert not any("malam hari" in x.text for x in t.all("budi"))


async def test_night_deadline_on_every_channel(any_channel: Harness) -> None:
    """Console, Telegram and WhatsApp: booked at 22:00, the offer reads 09:00 the next day for
    both sides, and it lapses at 09:00, not before."""
    h = any_channel
    h.clock.now = datetime(2026, 11, 23, 22, tzinfo=WIB).astimezone(UTC)
    await make_tukang(h, "andi", "Andi", phone="+6281299990001")
    await h.send("andi", "menu")  # Andi has the chat open (on WhatsApp: the window is too)
    await book(h, "budi")
    await h.press("budi", "Andi")
    assert "24-11-2026 09:00 WIB" in h.got("budi", "sudah dikirim ke").text
    assert "06.00–21.00 WIB" in h.got("budi", "malam hari").text
    assert "Berlaku sampai 24-11-2026 09:00 WIB" in h.got("andi", "J-2611-0001").text
    scheduler = Scheduler(h.db, h.config, clock=h.clock)
    h.clock.now = datetime(2026, 11, 24, 8, 59, tzinfo=WIB).astimezone(UTC)
    assert (await scheduler.tick())["offers_expire"] == 0
    h.clock.now = datetime(2026, 11, 24, 9, tzinfo=WIB).astimezone(UTC)
    assert (await scheduler.tick())["offers_expire"] == 1
    await h.refresh()
    assert "Andi" in h.got("budi", "belum menjawab").text


async def test_an_offer_at_night_waits_for_the_morning(any_channel: Harness) -> None:
    """Booked at 22:30: the offer to a tukang who is not chatting waits until 06:00 (the
    phone stays quiet at night), and goes at once when that tukang writes to the bot before."""
    h = any_channel
    h.clock.now = datetime(2026, 11, 23, 20, tzinfo=WIB).astimezone(UTC)
    await make_tukang(h, "andi", "Andi", phone="+6281299990001")
    await h.send("andi", "menu")  # in the evening: the chat (and WhatsApp's window) is open
    h.clock.now = datetime(2026, 11, 23, 22, 30, tzinfo=WIB).astimezone(UTC)
    await book(h, "budi")
    await h.press("budi", "Andi")
    async with h.db.read() as s:
        held = (await s.execute(select(Outbox).where(Outbox.key == "offer.new"))).scalar_one()
    morning = datetime(2026, 11, 24, 6, tzinfo=WIB).astimezone(UTC)
    assert as_utc(held.next_attempt_at) == morning and held.status == "queued"
    if h.channel != "console":  # the console shows every row at once; real channels wait
        assert not any("J-2611-0001" in x.text for x in h.all("andi"))
    h.clock.now = datetime(2026, 11, 23, 23, tzinfo=WIB).astimezone(UTC)
    await h.send("andi", "menu")  # awake after all: what waited for Andi goes now
    async with h.db.read() as s:
        row = (await s.execute(select(Outbox).where(Outbox.key == "offer.new"))).scalar_one()
    assert as_utc(row.next_attempt_at) == h.clock.now
    await h.refresh()
    assert h.got("andi", "J-2611-0001").labels == ["Terima", "Tolak"]


async def test_reminders_wait_for_the_morning(night: Harness) -> None:
    """A rating reminder due at 22:00 is not sent in the night; the first run after 06:00
    sends it (every reminder and invitation timer is `waking_only`)."""
    t = night
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    await t.press("andi", "Terima")
    await t.press("budi", "Pesanan saya")
    await t.press("budi", f"{(await job_of(t.db)).code} · Diterima tukang")
    await t.press("budi", "Tandai selesai")
    await t.press("budi", "Ya")
    await t.press("budi", "Nanti saja")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.now = wib(2, 22, 30).astimezone(UTC)  # the reminder is due (a day later)
    assert (await scheduler.tick())["rating_reminders"] == 0
    t.clock.now = wib(3, 5, 59).astimezone(UTC)
    assert (await scheduler.tick())["rating_reminders"] == 0
    t.clock.now = wib(3, 6).astimezone(UTC)
    assert (await scheduler.tick())["rating_reminders"] == 1


async def test_an_offer_cancelled_in_the_night_never_goes_out(night: Harness) -> None:
    """Booked at 22:00 and cancelled at 22:15: the offer held for the morning is cancelled
    with the job, and the tukang, who never saw it, is not woken to hear it was cancelled."""
    t = night
    andi = await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Andi")
    t.clock.now = wib(1, 22, 15).astimezone(UTC)
    await t.press("budi", "Pesanan saya")
    await t.press("budi", f"{(await job_of(t.db)).code} · Menunggu jawaban tukang")
    await t.press("budi", "Batalkan")
    await t.press("budi", "Ya")
    assert (await job_of(t.db)).status == "cancelled"
    async with t.db.read() as s:
        rows = (await s.execute(select(Outbox.key, Outbox.status).where(
            Outbox.user_id == andi).order_by(Outbox.id))).all()
    assert [tuple(r) for r in rows] == [("offer.new", "cancelled")]
