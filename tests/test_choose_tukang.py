"""Asking up to three tukang at once (Step 8): each gets the offer, a yes from one while others
are asked only says they are willing, the warga confirms one and the others are released; nobody
gets an address or a phone number before the warga's choice. Then the work: the tukang's
"selesai" asks the warga, who confirms or says what is missing; and "Pesan lagi tukang ini"."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.scheduler import Scheduler
from storage.models import Offer, TukangProfile
from tests import media_samples as samples
from tests.factories import book, job_of, make_tukang
from tests.harness import Harness

ADDRESS = "Jl. Sudirman No. 12, RT 03/RW 05"
PHONES = {"andi": "+6281299990001", "cahya": "+6281299990002", "dedi": "+6281299990003"}


async def _three(h: Harness) -> dict[str, int]:
    """Three painters in Batam Kota with the chat open (on WhatsApp: the window too)."""
    ids = {}
    for who, phone in PHONES.items():
        ids[who] = await make_tukang(h, who, who.capitalize(), phone=phone)
        await h.send(who, "menu")
    return ids


def _never_saw(h: Harness, who: str, *fragments: str) -> None:
    seen = " ".join(s.text for s in h.all(who))
    for fragment in fragments:
        assert fragment not in seen, f"{who} saw {fragment!r} too early"


async def _statuses(h: Harness, ids: dict[str, int]) -> dict[str, str]:
    async with h.db.read() as s:
        rows = (await s.execute(select(Offer.tukang_id, Offer.status))).all()
    names = {v: k for k, v in ids.items()}
    return {names[t]: status for t, status in rows}


async def test_three_asked_two_say_yes_the_warga_chooses_one(any_channel: Harness) -> None:
    h = any_channel
    ids = await _three(h)
    await book(h, "budi", address=ADDRESS)
    await h.press("budi", "Andi")
    more = h.last("budi")
    assert "sampai 3 tukang sekaligus" in more.text
    assert "Andi" not in more.labels and "Cukup, tunggu jawaban" in more.labels
    await h.press("budi", "Cahya")
    await h.press("budi", "Dedi")
    await h.assert_step("budi", "menu.home")  # three asked: the most there can be
    for who in PHONES:
        assert h.got(who, "J-2611-0001").labels == ["Terima", "Tolak"]

    await h.press("andi", "Terima")
    assert "bersedia" in h.got("andi", "bersedia").text
    willing = h.got("budi", "Andi bersedia")
    assert willing.labels == ["Pilih tukang ini", "Lihat profil"] and "jenjang 3" in willing.text
    await h.press("cahya", "Terima")
    assert h.got("budi", "Cahya bersedia").labels == ["Pilih tukang ini", "Lihat profil"]
    _never_saw(h, "budi", *PHONES.values())
    for who in PHONES:
        _never_saw(h, who, "Sudirman", "HP:")
    assert (await job_of(h.db)).status == "offered"

    await h.press("budi", "Pilih tukang ini")  # on the newest: Cahya's
    assert PHONES["cahya"] in h.got("budi", "Cahya menerima pesanan").text
    assert ADDRESS in h.got("cahya", "Anda menerima").text
    assert "memilih tukang lain" in h.got("andi", "Terima kasih sudah bersedia").text
    assert "sudah mendapat tukang" in h.got("dedi", "tidak berlaku lagi").text
    _never_saw(h, "andi", "Sudirman")
    _never_saw(h, "dedi", "Sudirman")
    job = await job_of(h.db)
    assert (job.status, job.tukang_id) == ("accepted", ids["cahya"])
    assert await _statuses(h, ids) == {"andi": "released", "cahya": "accepted",
                                       "dedi": "released"}

    if h.channel != "whatsapp":  # WhatsApp's buttons are numbers: only the newest count
        await h.press("budi", "Pilih tukang ini", in_message=h.all("budi").index(willing))
        assert "sudah memilih Cahya" in h.got("budi", "sudah memilih").text
    await h.press("dedi", "Terima")  # too late: the warga has a tukang
    assert "sudah mendapat tukang" in h.got("dedi", "tidak berlaku lagi").text
    assert (await job_of(h.db)).tukang_id == ids["cahya"]


async def test_no_choice_in_time_gives_the_job_to_the_first_yes(any_channel: Harness) -> None:
    """The warga asked two, one said yes and the warga did not choose: an hour of waking
    time later the first who said yes gets the job; both are told why, the other released.
    Meanwhile the job's screen keeps Batalkan at 2 and shows who said yes."""
    t = any_channel
    ids = await _three(t)
    await book(t, "budi", address=ADDRESS)
    await t.press("budi", "Andi")
    await t.press("budi", "Cahya")
    await t.press("budi", "Cukup, tunggu jawaban")
    assert "Kami kabari jawaban tukang" in t.got("budi", "J-2611-0001").text
    await t.press("andi", "Terima")
    assert "10:00 WIB" in t.got("budi", "Andi bersedia").text  # 09:00 + 60 waking minutes
    await t.press("andi", "Pekerjaan saya")
    assert "J-2611-0001 · menunggu pilihan warga" in t.last("andi").labels
    await t.send("budi", "menu")  # on WhatsApp a number now answers Andi's message
    await t.press("budi", "Pesanan saya")
    await t.press("budi", "J-2611-0001 · Menunggu jawaban tukang")
    screen = t.last("budi")
    assert "Andi bersedia" in screen.text and "Menunggu jawaban Cahya" in screen.text
    assert screen.labels == ["Minta tukang lain juga", "Batalkan", "Kembali", "Pilih Andi"]
    await t.press("budi", "Kembali")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    t.clock.advance(minutes=59)
    assert (await scheduler.tick())["offers_choose"] == 0
    t.clock.advance(minutes=2)
    assert (await scheduler.tick())["offers_choose"] == 1
    await t.refresh()
    chosen = t.got("budi", "kami pilihkan").text
    assert "Andi" in chosen and "tukang pertama yang bersedia" in chosen
    assert PHONES["andi"] in t.got("budi", "Andi menerima pesanan").text
    assert ADDRESS in t.got("andi", "Anda menerima").text
    assert "tidak berlaku lagi" in t.got("cahya", "J-2611-0001").text
    assert await _statuses(t, ids) == {"andi": "accepted", "cahya": "released"}


async def test_one_asked_a_yes_is_final_at_once(t: Harness) -> None:
    """Asking just one is the choice already: that tukang's yes hands over the contacts."""
    await _three(t)
    await book(t, "budi", address=ADDRESS)
    await t.press("budi", "Andi")
    await t.press("budi", "Cukup, tunggu jawaban")
    await t.press("andi", "Terima")
    assert ADDRESS in t.got("andi", "Anda menerima").text
    assert (await job_of(t.db)).status == "accepted"


async def test_the_work_is_done_when_the_warga_says_so(any_channel: Harness) -> None:
    """The tukang's Selesai asks the warga; "Belum selesai" with what is missing goes to the
    tukang and the job stays taken; the next Selesai and "Ya, sudah selesai" close it, then
    the rating."""
    h = any_channel
    await _three(h)
    await book(h, "budi", address=ADDRESS)
    await h.press("budi", "Andi")
    await h.press("budi", "Cukup, tunggu jawaban")
    await h.press("andi", "Terima")
    for _ in range(2):
        await h.press("andi", "Pekerjaan saya")
        await h.press("andi", "J-2611-0001 · Diterima tukang")
        await h.press("andi", "Tandai selesai")
        await h.press("andi", "Ya")
        assert "Kami tanyakan ke warga" in h.got("andi", "tanyakan").text
        assert h.got("budi", "Andi menandai pekerjaan").labels == ["Ya, sudah selesai",
                                                                  "Belum selesai"]
        if _ == 0:
            await h.press("budi", "Belum selesai")
            await h.send("budi", "Dinding belakang belum dicat")
            assert "Dinding belakang belum dicat" in h.got("andi", "belum selesai").text
            assert (await job_of(h.db)).status == "accepted"
    await h.press("budi", "Ya, sudah selesai")
    assert "5" in " ".join(h.last("budi").labels)  # the rating's 1-5
    job = await job_of(h.db)
    assert (job.status, job.done_by) == ("done", "warga")
    assert "menandai" in h.got("andi", "selesai").text


async def test_book_the_same_tukang_again(any_channel: Harness) -> None:
    """"Pesan lagi tukang ini" on a finished job: the new request is told as usual and goes
    straight to that tukang, no list; a tukang no longer active cannot be booked again."""
    h = any_channel
    ids = await _three(h)
    await book(h, "budi", address=ADDRESS)
    await h.press("budi", "Cahya")
    await h.press("budi", "Cukup, tunggu jawaban")
    await h.press("cahya", "Terima")
    await h.press("budi", "Pesanan saya")
    await h.press("budi", "J-2611-0001 · Diterima tukang")
    await h.press("budi", "Tandai selesai")
    await h.press("budi", "Ya")
    await h.press("budi", "Nanti saja")
    await h.press("budi", "Pesanan saya")
    await h.press("budi", "J-2611-0001 · Selesai")
    await h.press("budi", "Pesan lagi tukang ini")
    assert "permintaan langsung kami kirim ke Cahya" in h.got("budi", "Pesan lagi ke").text
    await h.send("budi", "Cat ulang pagar depan rumah yang sudah kusam")
    await h.press("budi", "Lewati")
    await h.press("budi", "Batam Kota ← kecamatan Anda")
    await h.press("budi", f"Pakai: {ADDRESS}")
    await h.press("budi", "Besok")
    await h.press("budi", "Kirim")
    assert "J-2611-0002" in h.got("budi", "sudah dikirim").text
    await h.assert_step("budi", "menu.home")
    offer = h.got("cahya", "J-2611-0002")
    assert offer.labels == ["Terima", "Tolak"] and "pagar depan" in offer.text
    again = await job_of(h.db, "J-2611-0002")
    assert again.status == "offered" and "kusam" in again.description

    async with h.db.transaction() as s:
        profile = (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == ids["cahya"]))).scalar_one()
        profile.status = "suspended"
    await h.press("budi", "Pesanan saya")
    await h.press("budi", "J-2611-0001 · Selesai")
    await h.press("budi", "Pesan lagi tukang ini")
    assert "tidak bisa menerima pesanan" in h.got("budi", "Cahya tidak bisa").text
    await h.assert_step("budi", "jobs.detail")


async def test_a_profile_with_photos_opened_from_the_list(any_channel: Harness,
                                                          tmp_path: Path) -> None:
    """"Lihat profil tukang" under the list: whose, then the card with the profile photo and
    a photo of past work (as media) and the description; then the list again, where the warga
    chooses."""
    h = any_channel
    ids = await _three(h)
    folder = tmp_path / "data" / "media" / "2026-11"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "face.jpg").write_bytes(samples.JPEG)
    (folder / "work.png").write_bytes(samples.PNG)
    async with h.db.transaction() as s:
        profile = (await s.execute(select(TukangProfile).where(
            TukangProfile.user_id == ids["cahya"]))).scalar_one()
        profile.photo, profile.work_photos = str(folder / "face.jpg"), [str(folder / "work.png")]
        profile.bio = "Spesialis cat rumah tinggal, rapi dan bersih"
    await book(h, "budi", address=ADDRESS)
    await h.press("budi", "Lihat profil tukang")
    assert h.last("budi").labels == ["Andi", "Cahya", "Dedi", "Kembali ke daftar"]
    h.replies("budi")
    await h.press("budi", "Cahya")
    got = h.replies("budi")
    card = next(s for s in got if "Spesialis cat" in s.text)
    assert "Cahya" in card.text and "jenjang 3" in card.text and PHONES["cahya"] not in card.text
    assert sum(len(s.media) for s in got) == 2
    await h.assert_step("budi", "booking.pick")
    await h.press("budi", "Cahya")
    assert "Cahya" in h.got("budi", "sudah dikirim ke").text
