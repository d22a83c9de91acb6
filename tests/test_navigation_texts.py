"""Texts that follow the screen they are on: no neighbouring kecamatan promised when none is
left to try, and example dates that are always ahead of today."""

from __future__ import annotations

from bot.scheduler import Scheduler
from flows.context import FlowConfig
from storage.db import Database
from tests.factories import book
from tests.harness import Harness, StepClock
from tests.test_tukang_reg import JPG, first_contact_as_tukang


async def test_none_found_stops_offering_neighbours_once_all_are_tried(t: Harness) -> None:
    """Each neighbour tried leaves the list; when only "Kabari saya / Batalkan pesanan"
    remain, neither the question nor its help mentions a neighbouring kecamatan."""
    await book(t, "budi")
    first = t.last("budi")
    assert "kecamatan tetangga" in first.text
    while (near := [x for x in t.last("budi").labels if x.startswith("Cari di")]):
        await t.press("budi", near[0])
    last = t.last("budi")
    assert last.labels == ["Kabari saya", "Batalkan pesanan"]
    assert "tetangga" not in last.text and "Kami kabari jika ada" in last.text
    t.replies("budi")
    await t.send("budi", "bantuan")
    help_ = t.replies("budi")[0]
    assert "tetangga" not in help_.text and "Kabari saya" in help_.text


async def test_the_skk_date_example_is_ahead_of_today(t: Harness) -> None:
    """The SKK validity question gives the end of the year after next as its example (31-12-2028
    on 23-11-2026), and a year later the example moves with it."""
    await first_contact_as_tukang(t, "joko")
    await t.press("joko", "Lanjut")
    await t.send("joko", "skk-123.456/2025")
    await t.press("joko", "Tukang Cat Bangunan Gedung")
    await t.press("joko", "Selesai")
    await t.press("joko", "Jenjang 3 (operator)")
    assert "31-12-2028" in t.last("joko").text
    await t.send("joko", "bantuan")
    assert "31-12-2028" in t.all("joko")[-2].text
    await t.send("joko", "31-12-2028")
    await t.send("joko", media=(JPG,))
    await t.assert_step("joko", "tukang_reg.photo")


async def test_the_dinas_office_is_named_where_the_bot_cannot_help(db: Database,
                                                                  clock: StepClock) -> None:
    """With the office configured: "bantuan" at the menu names it, and so does the message
    that closes a request no tukang took in two weeks."""
    config = FlowConfig(dinas_address="Jl. Engku Putri No. 1, Batam Centre",
                        dinas_phone="(0778) 462000")
    t = Harness.console(db, clock=clock, config=config)
    await book(t, "budi")
    await t.press("budi", "Kabari saya")
    await t.send("budi", "bantuan")
    assert "Jl. Engku Putri No. 1" in t.got("budi", "Bantuan").text
    clock.advance(days=15)
    await Scheduler(db, config, clock=clock).tick()
    await t.refresh()
    closed = t.got("budi", "dua minggu")
    assert "Jl. Engku Putri No. 1" in closed.text and "(0778) 462000" in closed.text
    await t.close()
