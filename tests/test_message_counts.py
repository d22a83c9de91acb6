"""How many messages a warga sends to get a booking sent, counted from transcripts on every
channel (recorded in docs/conversations.md): a new warga from "halo", a returning one from the
menu. The job told at once as a photo's caption answers the kind (guessed), the description
and the first photo; a returning warga is offered the address of their last booking in that
kecamatan."""

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


async def _booking(p: Counted, *, returning: bool) -> None:
    await p.press("Pesan tukang")
    await p.photo(DESCRIPTION)  # the job told at once, as the photo's caption: kind guessed
    assert "Pengecatan" in p.h.got(p.who, "Jenis pekerjaan:").text
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
    """A new warga: 12 messages to a sent booking (11 on WhatsApp, which vouches for the
    number); the same warga booking again: 7, the address a press instead of typing."""
    h = any_channel
    await make_tukang(h, "andi", "Andi")
    p = Counted(h, "budi")
    await p.send("halo")
    await p.press("Setuju")
    await p.send("Budi Santoso")
    if await h.step("budi") == "start.phone":
        await p.send("081234567890")
    await p.press("Batam Kota")
    await _booking(p, returning=False)
    first = await job_of(h.db, "J-2611-0001")
    assert (first.description, first.address, len(first.photos or [])) == (
        DESCRIPTION, ADDRESS, 1)
    assert p.sent == (11 if h.channel == "whatsapp" else 12)

    await h.send("budi", "menu")
    again = Counted(h, "budi")
    await _booking(again, returning=True)
    second = await job_of(h.db, "J-2611-0002")
    assert second.address == ADDRESS
    assert again.sent == 7


async def test_a_photo_without_caption_is_kept_and_the_description_asked(t: Harness) -> None:
    """A photo sent at the description question is kept for the booking, the description
    asked again; the photo question then starts from it."""
    await make_tukang(t, "andi", "Andi")
    p = Counted(t, "budi")
    await p.send("halo")
    await p.press("Setuju")
    await p.send("Budi Santoso")
    await p.send("081234567890")
    await p.press("Batam Kota")
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
    await p.send("halo")
    await p.press("Setuju")
    await p.send("Budi Santoso")
    await p.send("081234567890")
    await p.press("Batam Kota")
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
