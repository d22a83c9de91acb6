"""A booking left half-way: one reminder a day later, inside WhatsApp's 24-hour window, and
the answers still there when the warga comes back."""

from __future__ import annotations

from bot.scheduler import Scheduler
from tests.factories import make_tukang
from tests.harness import Harness, register_warga

TIMER = "booking_resume_reminders"


async def _half_way(h: Harness, who: str) -> None:
    await register_warga(h, who)
    await h.press(who, "Pesan tukang")
    await h.press(who, "Pengecatan")
    await h.send(who, "Cat ulang dinding ruang tamu yang mengelupas")
    await h.press(who, "Lewati")
    await h.send(who, "1")
    await h.assert_step(who, "booking.address")
    h.replies(who)


async def test_one_reminder_the_next_day_then_the_booking_goes_on(
        any_channel: Harness) -> None:
    """Nothing after 19 hours; after 21 hours one reminder naming the job; never a second;
    the reply answers the question the warga stopped at, every earlier answer kept."""
    h = any_channel
    await make_tukang(h, "andi", "Andi")
    await _half_way(h, "budi")
    scheduler = Scheduler(h.db, h.config, clock=h.clock)
    h.clock.advance(hours=19)
    assert (await scheduler.tick())[TIMER] == 0
    h.clock.advance(hours=2)
    assert (await scheduler.tick())[TIMER] == 1
    await h.refresh()
    reminder = h.replies("budi")
    assert len(reminder) == 1 and "belum selesai" in reminder[0].text
    assert "Pengecatan" in reminder[0].text
    h.clock.advance(hours=1)
    assert (await scheduler.tick())[TIMER] == 0
    await h.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    await h.press("budi", "Besok")
    summary = h.last("budi").text
    assert "Cat ulang dinding" in summary and "Jl. Sudirman No. 12" in summary


async def test_no_reminder_outside_the_window_or_after_leaving(t: Harness) -> None:
    """A warga who left the booking with "menu" gets no reminder (the draft waits for "Pesan
    tukang"); one silent for more than a day gets none either (WhatsApp would refuse it, and
    it is late anyway)."""
    await _half_way(t, "budi")
    await _half_way(t, "sari")
    await t.send("sari", "menu")
    t.replies("sari")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.advance(hours=21)
    assert (await scheduler.tick())[TIMER] == 1
    await t.refresh()
    assert len(t.replies("budi")) == 1 and t.replies("sari") == []
    await _half_way(t, "dewi")
    t.clock.advance(hours=25)
    assert (await scheduler.tick())[TIMER] == 0
    await t.refresh()
    assert t.replies("dewi") == []


async def test_no_reminder_at_night(t: Harness) -> None:
    """A booking left at 02:00 WIB would be recalled at 22:00-02:00: outside the waking hours
    (06:00-21:00 WIB), so not at all."""
    t.clock.advance(hours=17)  # 02:00 WIB
    await _half_way(t, "budi")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.advance(hours=21)  # 23:00 WIB
    assert (await scheduler.tick())[TIMER] == 0
    t.clock.advance(hours=2)  # 01:00 WIB
    assert (await scheduler.tick())[TIMER] == 0
    await t.refresh()
    assert t.replies("budi") == []
