"""How many messages a warga sends to get a booking sent, counted from transcripts on every
channel (recorded in docs/conversations.md): a new warga from "halo", a returning one from the
menu. The job told at the menu as a photo's caption starts the booking and answers the kind
(guessed), the description and the first photo; a returning warga is offered the address of
their last booking in that kecamatan."""

from __future__ import annotations

from dataclasses import dataclass

from tests import media_samples as samples
from tests.factories import job_of, make_tukang
from tests.harness import Harness

DESCRIPTION = "Cat ulang dinding ruang tamu yang mengelupas"
ADDRESS = "Jl. Sudirman No. 12, RT 03/RW 05"


@dataclass
class Counted:
    """The person's side of a transcript, counted: every text, press and photo is one."""

    h: Harness
    who: str
    sent: int = 0

    async def send(self, text: str) -> None:
        self.sent += 1
        await self.h.send(self.who, text)

    async def press(self, label: str) -> None:
        self.sent += 1
        await self.h.press(self.who, label)

    async def photo(self, caption: str) -> None:
        self.sent += 1
        await self.h.photo(self.who, samples.JPEG, caption=caption)


async def _sign_up(p: Counted) -> None:
    """First contact, counted: halo, Setuju, name, phone (unless WhatsApp vouches for the
    number), kecamatan."""
    await p.send("halo")
    await p.press("Setuju")
    await p.send("Budi Santoso")
    if await p.h.step(p.who) == "start.phone":
        await p.send("081234567890")
    await p.press("Batam Kota")


async def _booking(p: Counted, *, returning: bool) -> None:
    await p.photo(DESCRIPTION)  # the job told at the menu, as the photo's caption: kind guessed
    assert "Pengecatan" in p.h.got(p.who, "Jenis pekerjaan:").text
    assert p.h.got(p.who, "kami bantu pesan tukang")
    assert p.h.last(p.who).labels == ["Selesai"]  # the photo is in; more may follow
    await p.press("Selesai")
    await p.press("Batam Kota ← kecamatan Anda")
    if returning:
        await p.press("Pakai: Jl. Sudirman No. 12, RT 03/RW 05")
    else:
        await p.send(ADDRESS)
    await p.press("Besok")
    summary = p.h.last(p.who).text
    assert DESCRIPTION in summary and "Foto: 1" in summary and ADDRESS in summary
    await p.press("Kirim")


async def test_messages_from_a_new_and_a_returning_warga(any_channel: Harness) -> None:
    """A new warga: 11 messages to a sent booking (10 on WhatsApp, which vouches for the
    number); the same warga booking again: 6, the address a press instead of typing."""
    h = any_channel
    await make_tukang(h, "andi", "Andi")
    p = Counted(h, "budi")
    await _sign_up(p)
    assert "Ceritakan saja pekerjaannya" in h.got("budi", "Pendaftaran selesai").text
    await _booking(p, returning=False)
    first = await job_of(h.db, "J-2611-0001")
    assert (first.description, first.address, len(first.photos or [])) == (
        DESCRIPTION, ADDRESS, 1)
    assert p.sent == (10 if h.channel == "whatsapp" else 11)

    await h.send("budi", "menu")
    again = Counted(h, "budi")
    await _booking(again, returning=True)
    second = await job_of(h.db, "J-2611-0002")
    assert second.address == ADDRESS
    assert again.sent == 6


async def test_a_photo_without_caption_is_kept_and_the_description_asked(t: Harness) -> None:
    """A photo sent at the description question is kept for the booking, the description
    asked again; the photo question then starts from it."""
    await make_tukang(t, "andi", "Andi")
    p = Counted(t, "budi")
    await _sign_up(p)
    await p.press("Pesan tukang")
    await p.press("Pengecatan")
    await p.photo("")
    assert "Foto kami simpan (1)" in t.last("budi").text
    await t.assert_step("budi", "booking.description")
    await p.send(DESCRIPTION)
    assert t.last("budi").labels == ["Selesai"]
    await p.press("Selesai")
    await t.assert_step("budi", "booking.kecamatan")


async def test_a_description_at_the_kind_question(t: Harness) -> None:
    """Typed instead of choosing: a clear kind is guessed and the description not asked
    again; an unclear one keeps the description and asks the kind from the list, then goes on
    to the photos; the summary shows both, and Ubah corrects a wrong guess."""
    await make_tukang(t, "andi", "Andi")
    p = Counted(t, "budi")
    await _sign_up(p)
    await p.press("Pesan tukang")
    await p.send("Tolong perbaiki sesuatu di rumah saya")
    assert "Pilih jenis pekerjaannya" in t.all("budi")[-2].text
    await t.assert_step("budi", "booking.category")
    await p.press("Renovasi rumah")
    await t.assert_step("budi", "booking.photos")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Mulai baru")
    await t.send("budi", "Genteng dapur pecah dan atap bocor saat hujan")
    assert "Perbaikan atap/genteng" in t.got("budi", "Jenis pekerjaan").text
    await t.press("budi", "Lewati")
    await t.send("budi", "1")
    await t.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    await t.press("budi", "Besok")
    summary = t.last("budi").text
    assert "Perbaikan atap/genteng" in summary and "Genteng dapur pecah" in summary
    await t.press("budi", "Ubah")
    await t.press("budi", "Jenis pekerjaan")
    await t.press("budi", "Waterproofing")
    assert "Waterproofing" in t.last("budi").text and "Genteng dapur pecah" in t.last("budi").text


async def test_the_menu_takes_a_job_only_when_it_is_clearly_one(t: Harness) -> None:
    """At the menu, words that name no kind of job get the menu's help (with the hint that a
    job may be told there); with a booking left half-way the warga chooses between it and the
    job just told (nothing lost either way); a tukang's words at the menu start no booking."""
    await make_tukang(t, "andi", "Andi")
    p = Counted(t, "budi")
    await _sign_up(p)
    await t.send("budi", "Saya mau bertanya soal izin bangunan")
    assert "Ceritakan saja pekerjaannya" in t.all("budi")[-2].text
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Perbaikan atap/genteng")
    await t.send("budi", "menu")  # left half-way: the draft is kept
    await t.send("budi", DESCRIPTION)
    assert t.last("budi").labels[:2] == ["Lanjutkan", "Mulai baru"]
    await t.press("budi", "Mulai baru")
    assert "Pengecatan" in t.got("budi", "Jenis pekerjaan:").text
    await t.assert_step("budi", "booking.photos")
    await t.send("budi", "menu")
    await t.send("budi", "Genteng dapur pecah dan atap bocor saat hujan")
    await t.press("budi", "Lanjutkan")  # the painting job, where it was left
    await t.assert_step("budi", "booking.photos")
    await t.press("budi", "Lewati")
    await t.press("budi", "Batam Kota ← kecamatan Anda")
    await t.send("budi", ADDRESS)
    await t.press("budi", "Besok")
    assert DESCRIPTION in t.last("budi").text
    await t.send("andi", "Atap rumah bocor perlu diperbaiki segera")
    await t.assert_step("andi", "menu.home")
