"""Offers: the tukang gets the job, accepts, declines or lets it expire; the warga is told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.scheduler import Scheduler
from flows.types import Media
from storage.db import Database
from tests.factories import book, job_of, make_tukang, offers_of, profile_of
from tests.harness import Harness, register_warga


@pytest.fixture
async def t(any_db: Database) -> AsyncIterator[Harness]:
    """Every offer test on SQLite and on PostgreSQL: the atomic claims must hold on both."""
    transcript = Harness.console(any_db)
    yield transcript
    assert transcript.engine is not None
    await transcript.engine.stop()


async def _offered(t: Harness, warga: str = "budi", tukang: str = "Andi", **kw: object) -> None:
    """Book and choose `tukang`; the warga ends at the menu."""
    await book(t, warga, **kw)  # type: ignore[arg-type]
    await t.press(warga, tukang)


async def test_offer_reaches_the_tukang_without_address_or_phone(t: Harness) -> None:
    """The tukang reads code, category, description, kecamatan, time, photos and expiry, with
    Terima/Tolak; not the address or the warga's phone. The warga is told who and until when."""
    andi = await make_tukang(t, "andi", "Andi")
    await register_and_book_with_photo(t)
    await t.press("budi", "Andi")
    offer = t.last("andi")
    for part in ("J-2611-0001", "Pengecatan", "Cat ulang dinding", "Batam Kota", "24-11-2026",
                 "Foto: 1", "Berlaku sampai 23-11-2026 12:00 WIB"):
        assert part in offer.text, part
    assert "Sudirman" not in offer.text and "0812" not in offer.text and "+62" not in offer.text
    assert offer.labels == ["Terima", "Tolak"]
    assert offer.media == ["media/roof.jpg"]
    told = t.got("budi", "sudah dikirim")
    assert "Andi" in told.text and "23-11-2026 12:00 WIB" in told.text
    await t.assert_step("budi", "menu.home")
    job = await job_of(t.db)
    assert job.status == "offered"
    [o] = await offers_of(t.db, job.id or 0)
    assert (o.tukang_id, o.status) == (andi, "pending")
    assert (await profile_of(t.db, andi)).last_offer_at is not None


async def register_and_book_with_photo(t: Harness) -> None:
    await register_warga(t, "budi")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await t.send("budi", media=(Media("media/roof.jpg", "image/jpeg", 10),))
    await t.send("budi", "selesai")
    await t.send("budi", "1")
    await t.send("budi", "Jl. Sudirman No. 12")
    await t.press("budi", "Besok")
    await t.press("budi", "Kirim")


async def test_accept_gives_both_sides_the_contacts(t: Harness) -> None:
    """Terima: the tukang gets the warga's name, phone and address; the warga the tukang's."""
    andi = await make_tukang(t, "andi", "Andi", phone="+6281299990001")
    await _offered(t)
    await t.press("andi", "Terima")
    mine = t.got("andi", "Anda menerima")
    for part in ("J-2611-0001", "Budi Santoso", "+6281234567890", "Jl. Sudirman No. 12",
                 "Batam Kota", "24-11-2026"):
        assert part in mine.text, part
    theirs = t.got("budi", "menerima pesanan")
    assert "Andi" in theirs.text and "+6281299990001" in theirs.text
    assert "J-2611-0001" in theirs.text
    job = await job_of(t.db)
    assert (job.status, job.tukang_id) == ("accepted", andi)
    assert [o.status for o in await offers_of(t.db, job.id or 0)] == ["accepted"]


async def test_typing_the_number_accepts(t: Harness) -> None:
    """On a channel without buttons the tukang types 1 for Terima."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    await t.send("andi", "1")
    assert "Anda menerima" in t.got("andi", "Anda menerima").text
    await t.assert_step("andi", "menu.home")
    assert (await job_of(t.db)).status == "accepted"


async def test_decline_asks_a_reason_and_the_warga_picks_again(t: Harness) -> None:
    """Tolak: declined at once, a short reason asked; the warga gets the list without them."""
    await make_tukang(t, "andi", "Andi")
    await make_tukang(t, "citra", "Citra", phone="+6281299990002")
    await book(t, "budi")
    first = t.last("budi").labels[0]
    await t.press("budi", first)
    other = "Citra" if first == "Andi" else "Andi"
    who = first.lower()
    await t.press(who, "Tolak")
    assert "tidak bisa diambil lagi" in t.last(who).text  # it cannot be undone: asked once more
    await t.press(who, "Ya, tolak")
    assert "alasannya" in t.last(who).text
    await t.assert_step(who, "offer.decline_reason")
    await t.send(who, "Jadwal saya penuh minggu ini")
    assert "sudah kami catat" in t.got(who, "catat").text
    await t.assert_step(who, "menu.home")
    told = t.got("budi", "tidak bisa mengambil")
    assert first in told.text and told.labels == ["Pilih tukang"]
    job = await job_of(t.db)
    assert job.status == "open"
    [o] = await offers_of(t.db, job.id or 0)
    assert (o.status, o.decline_reason) == ("declined", "Jadwal saya penuh minggu ini")
    await t.press("budi", "Pilih tukang")
    assert t.last("budi").labels == [other, "Lihat profil tukang", "Batalkan pesanan"]
    await t.press("budi", other)
    assert "sudah dikirim" in t.got("budi", "sudah dikirim").text


async def test_decline_reason_can_be_skipped_and_is_checked(t: Harness) -> None:
    """At the reason step: too short is asked again, a photo gets help, Lewati goes on."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    await t.press("andi", "Tolak")
    await t.press("andi", "Ya, tolak")
    t.replies("andi")
    await t.send("andi", "x")
    assert "terlalu singkat" in t.texts("andi")[0]
    await t.send("andi", media=(Media("p.jpg", "image/jpeg"),))
    assert "berupa teks" in t.texts("andi")[0]
    await t.press("andi", "Lewati")
    await t.assert_step("andi", "menu.home")


@pytest.mark.parametrize("command", ["menu", "batal"])
async def test_menu_and_batal_at_the_reason_step(t: Harness, command: str) -> None:
    """Leaving the reason step keeps the decline (the warga was already told)."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    await t.press("andi", "Tolak")
    await t.press("andi", "Ya, tolak")
    await t.send("andi", command)
    await t.assert_step("andi", "menu.home")
    assert (await offers_of(t.db, (await job_of(t.db)).id or 0))[0].status == "declined"


async def test_expiry_by_the_scheduler(t: Harness) -> None:
    """After the offer time the scheduler expires it: the warga may pick again, the tukang's
    late Terima says it expired."""
    await make_tukang(t, "andi", "Andi")
    await make_tukang(t, "citra", "Citra", phone="+6281299990002")
    await book(t, "budi")
    first = t.last("budi").labels[0]
    await t.press("budi", first)
    who = first.lower()
    t.clock.advance(hours=2, minutes=59)
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    assert (await scheduler.tick())["offers_expire"] == 0
    t.clock.advance(minutes=2)
    assert (await scheduler.tick())["offers_expire"] == 1
    await t.refresh()
    told = t.got("budi", "belum menjawab")
    assert first in told.text and told.labels == ["Pilih tukang"]
    assert "kedaluwarsa" in t.last(who).text
    job = await job_of(t.db)
    assert job.status == "open"
    assert [o.status for o in await offers_of(t.db, job.id or 0)] == ["expired"]
    await t.press(who, "Terima")
    assert "sudah kedaluwarsa" in t.got(who, "Maaf").text
    assert (await job_of(t.db)).status == "open"
    await t.press("budi", "Pilih tukang")
    assert first not in t.last("budi").labels


async def test_accept_after_expiry_before_the_scheduler_ran(t: Harness) -> None:
    """Terima one minute late is refused even if no timer ran yet; the warga is told then."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    t.clock.advance(hours=3, minutes=1)
    await t.press("andi", "Terima")
    assert "sudah kedaluwarsa" in t.got("andi", "Maaf").text
    assert "belum menjawab" in t.got("budi", "belum menjawab").text
    job = await job_of(t.db)
    assert (job.status, job.tukang_id) == ("open", None)
    assert (await Scheduler(t.db, t.config, clock=t.clock).tick())["offers_expire"] == 0


async def test_decline_after_expiry_says_so(t: Harness) -> None:
    """Tolak after the offer time says it expired and asks no reason."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    t.clock.advance(hours=4)
    await t.press("andi", "Tolak")
    await t.press("andi", "Ya, tolak")
    assert "sudah kedaluwarsa" in t.got("andi", "Maaf").text
    await t.assert_step("andi", "menu.home")


async def test_two_warga_choose_the_same_tukang(t: Harness) -> None:
    """Both offers live at once; the tukang accepts each on its own."""
    andi = await make_tukang(t, "andi", "Andi")
    await _offered(t, "budi")
    await _offered(t, "sari", phone="081298765432")
    offers = [m for m in t.all("andi") if m.key == "offer.new"]
    assert ["J-2611-0001" in offers[0].text, "J-2611-0002" in offers[1].text] == [True, True]
    await t.press("andi", "Terima", in_message=t.all("andi").index(offers[1]))
    assert "J-2611-0002" in t.got("andi", "Anda menerima").text
    assert "J-2611-0002" in t.got("sari", "menerima pesanan").text
    assert (await job_of(t.db, "J-2611-0001")).status == "offered"
    await t.press("andi", "Terima", in_message=t.all("andi").index(offers[0]))
    assert "J-2611-0001" in t.got("andi", "Anda menerima").text
    assert "J-2611-0001" in t.got("budi", "menerima pesanan").text
    for code in ("J-2611-0001", "J-2611-0002"):
        job = await job_of(t.db, code)
        assert (job.status, job.tukang_id) == ("accepted", andi)


async def test_warga_cancels_while_the_offer_is_pending(t: Harness) -> None:
    """The tukang is told; their Terima afterwards says the job was cancelled."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    assert "Menunggu jawaban Andi sampai 23-11-2026 12:00 WIB" in t.last("budi").text
    await t.press("budi", "Batalkan")
    assert "Batalkan pesanan J-2611-0001?" in t.last("budi").text
    await t.press("budi", "Ya")
    assert "J-2611-0001 dibatalkan" in t.got("budi", "dibatalkan").text
    assert "dibatalkan oleh warga" in t.last("andi").text
    await t.press("andi", "Terima")
    assert "sudah dibatalkan oleh warga" in t.got("andi", "Maaf").text
    job = await job_of(t.db)
    assert (job.status, job.cancelled_by, job.tukang_id) == ("cancelled", "warga", None)
    assert [o.status for o in await offers_of(t.db, job.id or 0)] == ["cancelled"]


async def test_pressing_terima_twice(t: Harness) -> None:
    """A second press on the same Terima says it was already accepted; nothing changes."""
    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    await t.press("andi", "Terima")
    t.replies("budi")
    await t.press("andi", "Terima")
    assert "sudah Anda terima sebelumnya" in t.got("andi", "sebelumnya").text
    assert t.replies("budi") == []


async def test_a_stale_step_button(t: Harness) -> None:
    """A button of an earlier question (the old tukang list) gets the polite stale answer."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    listing = len(t.all("budi")) - 1
    await t.press("budi", "Andi")
    t.replies("budi")
    await t.press("budi", "Andi", in_message=listing)
    texts = t.texts("budi")
    assert texts[0].startswith("Pilihan itu sudah tidak berlaku")
    assert len(await offers_of(t.db, (await job_of(t.db)).id or 0)) == 1


async def test_someone_elses_offer_is_not_found(t: Harness) -> None:
    """A crafted accept for another tukang's offer is refused."""
    await make_tukang(t, "andi", "Andi")
    await make_tukang(t, "citra", "Citra", phone="+6281299990002", skills=("ME011001",))
    await _offered(t)
    offer = (await offers_of(t.db, (await job_of(t.db)).id or 0))[0]
    await t.send("citra", "halo")  # Citra's conversation exists only once she writes
    await t.send("citra", choice=f"!offer.accept:{offer.id}")
    assert (await job_of(t.db)).status == "offered"


async def test_tukang_who_writes_first_is_recognised(db: Database) -> None:
    """A tukang the Dinas activated (no conversation yet) who says "halo" is greeted by name
    at the tukang menu, not sent through registration; typing 1 then accepts an offer."""
    from sqlalchemy import func, select

    from storage.models import User

    t = Harness.console(db)
    await make_tukang(db, "andi", "Andi", at_menu=False)
    await t.send("andi", "halo")
    texts = t.texts("andi")
    assert texts[0] == "Selamat datang kembali, Andi! Akun Anda sudah tersambung."
    assert "Pekerjaan saya" in t.last("andi").labels
    await t.assert_step("andi", "menu.home")
    await _offered(t)
    await t.send("andi", "1")
    assert "Anda menerima" in t.got("andi", "Anda menerima").text
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(User))).scalar_one() == 2
    assert t.engine is not None
    await t.engine.stop()


async def test_suspended_tukang_cannot_accept(t: Harness) -> None:
    """A tukang suspended after the offer was sent cannot accept it."""
    from sqlalchemy import update

    from storage.models import TukangProfile

    await make_tukang(t, "andi", "Andi")
    await _offered(t)
    async with t.db.transaction() as s:
        await s.execute(update(TukangProfile).values(status="suspended"))
    await t.press("andi", "Terima")
    assert "tidak aktif" in t.got("andi", "tidak aktif").text
    assert (await job_of(t.db)).status == "offered"
