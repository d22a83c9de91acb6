"""Pesan tukang: the booking questions, the summary, and choosing a tukang."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.scheduler import Scheduler
from flows.types import Media
from storage.db import Database
from storage.matching import bayes, fairness, find_tukang
from storage.models import Category, Job, User
from tests.factories import (
    BATAM_KOTA,
    BUILDER,
    BULANG,
    ELECTRICIAN,
    LUBUK_BAJA,
    book,
    category_id,
    job_of,
    make_job,
    make_person,
    make_tukang,
)
from tests.harness import Harness, register_warga

PHOTO = Media(path="media/a.jpg", content_type="image/jpeg", size=1000)
PDF = Media(path="media/a.pdf", content_type="application/pdf", size=1000)


async def _count_jobs(db: Database) -> int:
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(Job))).scalar_one()


async def test_booking_creates_a_job_and_lists_tukang(t: Harness) -> None:
    """Category, description, photos, kecamatan, address, time, summary, confirm: a coded
    job and a list of tukang with skill, jenjang, rating and jobs done."""
    await make_tukang(t, "andi", "Andi", rating_sum=9, rating_count=2, jobs_done=4)
    await register_warga(t, "budi")
    await t.press("budi", "Pesan tukang")
    assert "Pengecatan" in t.last("budi").labels
    await t.press("budi", "Pengecatan")
    assert "Ceritakan pekerjaannya" in t.last("budi").text
    await t.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    assert t.last("budi").labels == ["Lewati"]
    await t.send("budi", media=(PHOTO,))
    assert "Foto diterima (1/5)" in t.last("budi").text
    await t.press("budi", "Selesai")
    kec = t.last("budi")
    assert kec.labels[0] == "Batam Kota ← kecamatan Anda"
    await t.press("budi", "Batam Kota ← kecamatan Anda")
    assert "alamat lengkapnya" in t.last("budi").text
    await t.send("budi", "Jl. Sudirman No. 12, RT 03/RW 05")
    assert t.last("budi").labels == ["Hari ini", "Besok", "Minggu ini"]
    await t.press("budi", "Besok")
    summary = t.last("budi")
    for part in ("Pengecatan", "Cat ulang dinding", "Foto: 1", "Batam Kota",
                 "Jl. Sudirman No. 12", "24-11-2026", "gratis",
                 "Harga disepakati langsung antara Anda dan tukang",
                 "Dinas tidak ikut dalam tawar-menawar"):
        assert part in summary.text, part
    assert summary.labels == ["Kirim", "Ubah", "Jangan kirim"]
    t.replies("budi")
    await t.press("budi", "Kirim")
    created, listing = t.texts("budi")
    assert "J-2611-0001" in created
    assert "1. Andi — Tukang Cat Bangunan Gedung, jenjang 3, ⭐ 4.5 (2 penilaian), " \
           "4 pekerjaan selesai" in listing
    assert t.last("budi").labels == ["Andi", "Lihat profil tukang", "Batalkan pesanan"]
    await t.assert_step("budi", "booking.pick")
    job = await job_of(t.db)
    assert (job.code, job.status, job.kecamatan_code, job.preferred_time, job.photos) == (
        "J-2611-0001", "open", BATAM_KOTA, "24-11-2026", ["media/a.jpg"])
    assert job.description == "Cat ulang dinding ruang tamu yang mengelupas"


async def test_description_too_short_and_too_long(t: Harness) -> None:
    """A few words are asked again; a very long text is cut with a notice."""
    await _at(t, "budi", "booking.description")
    t.replies("budi")
    await t.send("budi", "bocor")
    texts = t.texts("budi")
    assert "terlalu singkat" in texts[0] and "Ceritakan pekerjaannya" in texts[1]
    await t.send("budi", "atap bocor")  # 2 words, still too short
    assert "terlalu singkat" in t.texts("budi")[0]
    await t.send("budi", "kata " * 400)
    texts = t.texts("budi")
    assert "kami potong menjadi 1000 karakter" in texts[0]
    await t.assert_step("budi", "booking.photos")


async def test_photos_refuse_other_files_and_stop_at_five(t: Harness) -> None:
    """A PDF is refused politely; the fifth photo moves on by itself."""
    await _at(t, "budi", "booking.photos")
    t.replies("budi")
    await t.send("budi", media=(PDF,))
    assert "bukan foto" in t.texts("budi")[0]
    await t.assert_step("budi", "booking.photos")
    for _ in range(4):
        await t.send("budi", media=(PHOTO,))
    await t.send("budi", media=(PHOTO, PHOTO))
    assert "Jumlah maksimum tercapai" in t.got("budi", "maksimum").text
    await t.assert_step("budi", "booking.kecamatan")
    t.replies("budi")
    for _ in range(2):  # the album's 6th and 7th photos arrive after the step moved on
        await t.send("budi", media=(PHOTO,))
    texts = t.texts("budi")
    assert len(texts) == 2 and all("tidak kami simpan" in x for x in texts)
    assert not any("kecamatan" in x.casefold() for x in texts)  # never taken as the answer
    await t.assert_step("budi", "booking.kecamatan")


async def test_time_refuses_past_and_unreadable_dates(t: Harness) -> None:
    """A past date or gibberish is refused with an example; a future date is kept."""
    await _at(t, "budi", "booking.time", kecamatan=LUBUK_BAJA, address="Jl. Raden Patah No. 5")
    t.replies("budi")
    await t.send("budi", "01-01-2020")
    assert "sudah lewat" in t.texts("budi")[0]
    await t.send("budi", "kapan-kapan")
    assert "tidak kami kenali" in t.texts("budi")[0]
    await t.send("budi", "01-01-2030")
    assert "terlalu jauh" in t.texts("budi")[0]
    await t.send("budi", "30/11/2026")
    assert "Waktu: 30-11-2026" in t.last("budi").text
    assert "Kecamatan: Lubuk Baja" in t.last("budi").text


async def test_this_week_and_today(t: Harness) -> None:
    """"Minggu ini" is stored as a date range, readable in any language."""
    await book(t, "budi", when="Minggu ini")
    assert (await job_of(t.db)).preferred_time == "23-11-2026 – 29-11-2026"


async def test_not_sending_stores_nothing(t: Harness) -> None:
    """"Jangan kirim" makes no job and returns to the menu."""
    await register_warga(t, "budi")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await t.send("budi", "Cat ulang dinding ruang tamu yang mengelupas")
    await t.send("budi", "selesai")
    await t.send("budi", "1")
    await t.send("budi", "Jl. Sudirman No. 12")
    await t.send("budi", "hari ini")
    await t.send("budi", "tidak")
    assert "tidak dikirim" in t.got("budi", "tidak dikirim").text
    await t.assert_step("budi", "menu.home")
    assert await _count_jobs(t.db) == 0


BOOKING_STEPS = ["booking.category", "booking.description", "booking.photos",
                 "booking.kecamatan", "booking.address", "booking.time", "booking.confirm"]


async def _at(t: Harness, who: str, step: str, **answers: object) -> None:
    """A registered warga at a booking step, with the answers of the steps before it (and its
    question on the screen); at booking.pick, with the job those answers made."""
    if step == "booking.pick":
        uid = await make_person(t, who, name="Budi Santoso")
        job = await make_job(t, uid, status="open", category="Pengecatan")
        await t.setup_state(who, step=step, data={"job_id": job}, user=uid)
        return
    given = {"category_id": await category_id(t.db, "Pengecatan"),
             "description": "Cat ulang dinding ruang tamu yang mengelupas", "photos": [],
             "kecamatan": BATAM_KOTA, "address": "Jl. Sudirman No. 12",
             "time": "24-11-2026"} | answers
    before = dict(list(given.items())[:BOOKING_STEPS.index(step)])
    await t.setup_state(who, step=step, data=before, user={"name": "Budi Santoso"})


STEPS_AND_HELP = [
    ("booking.category", "🤷", "Pilih jenis pekerjaan"),
    ("booking.description", "", "perlu jawaban berupa teks"),
    ("booking.photos", "halo", "Kirim foto (JPG/PNG)"),
    ("booking.kecamatan", "Jakarta", "Pilih kecamatan lokasi"),
    ("booking.address", "", "perlu jawaban berupa teks"),
    ("booking.time", "kapan saja", "tidak kami kenali"),
    ("booking.confirm", "mungkin", "Tekan Kirim untuk mengirim pesanan, Ubah"),
    ("booking.pick", "siapa saja", "Pilih tukang dengan menekan"),
]


@pytest.mark.parametrize(("step", "said", "help_text"), STEPS_AND_HELP)
async def test_unknown_input_gets_the_steps_help(t: Harness, step: str, said: str,
                                                 help_text: str) -> None:
    """At every booking step, input that does not fit is answered with help and the question."""
    await make_tukang(t, "andi", "Andi")
    await _at(t, "budi", step)
    question = t.last("budi").text
    t.replies("budi")
    if said:
        await t.send("budi", said)
    else:  # a sticker or a file where text is expected
        await t.send("budi", media=(Media(path="x.webp", content_type="image/webp"),))
    texts = t.texts("budi")
    assert help_text in texts[0]
    assert texts[-1] == question
    await t.assert_step("budi", step)


@pytest.mark.parametrize("step", [s for s, _, _ in STEPS_AND_HELP])
@pytest.mark.parametrize("command", ["menu", "batal"])
async def test_menu_and_batal_leave_every_step(t: Harness, step: str, command: str) -> None:
    """"menu" and "batal" return to the main menu from every booking step."""
    await make_tukang(t, "andi", "Andi")
    await _at(t, "budi", step)
    await t.send("budi", command)
    await t.assert_step("budi", "menu.home")
    assert "Menu utama" in t.last("budi").text
    if command == "batal":
        assert "Dibatalkan" in t.got("budi", "Dibatalkan").text


async def test_only_eligible_tukang_are_listed(t: Harness) -> None:
    """Inactive, unavailable, expired SKK, wrong skill or wrong area: not listed."""
    await make_tukang(t, "ok", "Tukang Oke", phone="+6281299990010")
    await make_tukang(t, "pending", "Belum Aktif", status="pending", phone="+6281299990011")
    await make_tukang(t, "libur", "Sedang Libur", available=False, phone="+6281299990012")
    await make_tukang(t, "lama", "SKK Kedaluwarsa", valid_until=date(2026, 11, 22),
                      phone="+6281299990013")
    await make_tukang(t, "listrik", "Tukang Listrik", skills=(ELECTRICIAN,),
                      phone="+6281299990014")
    await make_tukang(t, "jauh", "Tukang Jauh", areas=(BULANG,), phone="+6281299990015")
    await book(t, "budi")
    assert t.last("budi").labels == ["Tukang Oke", "Lihat profil tukang", "Batalkan pesanan"]


async def test_lainnya_pages_through_more_tukang(t: Harness) -> None:
    """Five per page; "Lainnya" shows the rest, then starts again from the top."""
    for i in range(7):
        await make_tukang(t, f"t{i}", f"Tukang {i}", phone=f"+628129999002{i}")
    await book(t, "budi")
    first = t.last("budi")
    assert len(first.labels) == 8 and first.labels[-3:] == ["Lainnya", "Lihat profil tukang",
                                                           "Batalkan pesanan"]
    assert "halaman 1/2" in first.text
    await t.press("budi", "Lainnya")
    second = t.last("budi")
    assert len(second.labels) == 5 and "halaman 2/2" in second.text
    assert not set(first.labels[:5]) & set(second.labels[:2])
    await t.send("budi", "3")  # "Lainnya" typed as its number
    assert t.last("budi").labels == first.labels


async def test_none_found_offers_neighbours_and_notice(t: Harness) -> None:
    """No tukang in the kecamatan: neighbours are offered; one there can be chosen."""
    await make_tukang(t, "andi", "Andi", areas=(LUBUK_BAJA,))
    await book(t, "budi")
    none = t.last("budi")
    assert "belum ada tukang" in none.text and "Batam Kota" in none.text
    assert "Cari di Lubuk Baja" in none.labels
    assert none.labels[-2:] == ["Kabari saya", "Batalkan pesanan"]
    await t.press("budi", "Cari di Lubuk Baja")
    listing = t.last("budi")
    assert "(Lubuk Baja)" in listing.text and listing.labels[0] == "Andi"
    await t.press("budi", "Andi")
    assert "sudah dikirim ke Andi" in t.got("budi", "dikirim").text


async def test_neighbour_without_tukang_comes_back_without_it(t: Harness) -> None:
    """A neighbour that has no tukang either is not offered a second time."""
    await book(t, "budi")
    await t.press("budi", "Cari di Lubuk Baja")
    again = t.last("budi")
    assert "Lubuk Baja" in again.text and "Cari di Lubuk Baja" not in again.labels


async def test_notify_when_a_tukang_becomes_available(t: Harness) -> None:
    """"Kabari saya": the scheduler tells the warga once a tukang qualifies, with a button."""
    await book(t, "budi")
    await t.press("budi", "Kabari saya")
    assert "Kami kabari" in t.got("budi", "kabari").text
    await t.assert_step("budi", "menu.home")
    scheduler = Scheduler(t.db, t.config, clock=t.clock)
    assert (await scheduler.tick())["jobs_notify_available"] == 0
    await make_tukang(t, "andi", "Andi")
    assert (await scheduler.tick())["jobs_notify_available"] == 1
    await t.refresh()
    news = t.last("budi")
    assert "sekarang ada 1 tukang" in news.text and news.labels == ["Pilih tukang"]
    await t.press("budi", "Pilih tukang")
    assert t.last("budi").labels[0] == "Andi"
    assert (await scheduler.tick())["jobs_notify_available"] == 0  # told once


async def test_waiting_job_closes_after_two_weeks(t: Harness) -> None:
    """Nobody for two weeks: the job expires and the warga is told."""
    await book(t, "budi")
    await t.press("budi", "Kabari saya")
    t.clock.advance(days=15)
    await Scheduler(t.db, t.config, clock=t.clock).tick()
    await t.refresh()
    assert "pesanan kami tutup" in t.last("budi").text
    assert (await job_of(t.db)).status == "expired"


async def test_cancel_from_the_list(t: Harness) -> None:
    """"Batalkan pesanan" on the list asks once more, then cancels the job."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.press("budi", "Batalkan pesanan")
    assert "Batalkan pesanan J-2611-0001?" in t.last("budi").text
    assert t.last("budi").labels == ["Ya, batalkan", "Tidak, lanjutkan"]
    await t.press("budi", "Ya, batalkan")
    assert "dibatalkan" in t.got("budi", "dibatalkan").text
    assert (await job_of(t.db)).status == "cancelled"
    await t.assert_step("budi", "menu.home")


async def test_pick_action_on_an_old_job_says_it_is_not_open(t: Harness) -> None:
    """A "Pilih tukang" button for a job already cancelled says so and keeps the menu."""
    await book(t, "budi")
    await t.press("budi", "Kabari saya")
    job = await job_of(t.db)
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Batalkan")
    await t.press("budi", "Ya")
    await t.send("budi", choice=f"!job.pick:{job.id}")
    assert "sudah tidak menunggu" in t.all("budi")[-2].text
    await t.assert_step("budi", "menu.home")


async def test_someone_elses_job_cannot_be_picked(t: Harness) -> None:
    """A crafted button for another warga's job is refused."""
    await book(t, "budi")
    await t.press("budi", "Kabari saya")
    job = await job_of(t.db)
    await register_warga(t, "sari", name="Sari", phone="081298765432")
    await t.send("sari", choice=f"!job.pick:{job.id}")
    assert "tidak ditemukan" in t.all("sari")[-2].text


# --- the matching rule ---------------------------------------------------------------------


def test_bayes_pulls_few_ratings_towards_the_prior() -> None:
    """One 5-star vote does not beat twenty 4.8 averages; no votes is the prior (4.0)."""
    assert bayes(0, 0) == 4.0
    assert bayes(5, 1) < bayes(96, 20)


def test_fairness_grows_with_time_since_the_last_offer() -> None:
    """Never offered: full bonus; just offered: none; three days: full again."""
    now = datetime(2026, 11, 23, tzinfo=UTC)
    assert fairness(None, now) == 1.0
    assert fairness(now, now) == 0.0
    assert fairness(now - timedelta(hours=36), now) == 0.5
    assert fairness(now - timedelta(days=10), now) == 1.0


async def test_new_tukang_are_not_buried(db: Database) -> None:
    """A new tukang ranks above a well-rated one who had an offer an hour ago, and below
    the same one after a quiet week."""
    now = datetime(2026, 11, 23, 2, tzinfo=UTC)
    old = await make_tukang(db, "old", "Lama", rating_sum=45, rating_count=10, jobs_done=10,
                            last_offer_at=now - timedelta(hours=1), phone="+6281299990031")
    new = await make_tukang(db, "new", "Baru", phone="+6281299990032", skills=(BUILDER,))
    async with db.read() as s:
        cat = (await s.execute(select(Category.id).where(Category.slug == "cat"))).scalar_one()
        ranked = await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                   today=date(2026, 11, 23), now=now)
        assert [c.user_id for c in ranked] == [new, old]
        later = now + timedelta(days=7)
        ranked = await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                   today=date(2026, 11, 30), now=later)
        assert [c.user_id for c in ranked] == [old, new]
        assert await find_tukang(s, category_id=cat, kecamatan_code=BATAM_KOTA,
                                 today=date(2026, 11, 23), now=now, exclude=[new, old]) == []
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(User))).scalar_one() == 2


async def test_none_found_step_answers_help_menu_and_batal(t: Harness) -> None:
    """The "none found" question answers stray text with help; menu and batal leave it."""
    await book(t, "budi")
    await t.assert_step("budi", "booking.none")
    question = t.last("budi").text
    t.replies("budi")
    await t.send("budi", "terserah")
    texts = t.texts("budi")
    assert "Pilih kecamatan tetangga" in texts[0] and texts[-1] == question
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Pesanan saya")
    await t.send("budi", "1")
    await t.press("budi", "Pilih tukang")
    await t.assert_step("budi", "booking.none")
    await t.send("budi", "batal")
    await t.assert_step("budi", "menu.home")
    assert (await job_of(t.db)).status == "open"


async def test_an_open_job_can_be_picked_from_pesanan_saya(t: Harness) -> None:
    """A job left at the list can be continued later from Pesanan saya."""
    await make_tukang(t, "andi", "Andi")
    await book(t, "budi")
    await t.send("budi", "menu")
    await t.press("budi", "Pesanan saya")
    assert t.last("budi").labels[0] == "J-2611-0001 · Menunggu pilihan tukang"
    await t.send("budi", "1")
    assert t.last("budi").labels == ["Pilih tukang", "Batalkan", "Kembali"]
    await t.press("budi", "Pilih tukang")
    await t.press("budi", "Andi")
    assert "sudah dikirim ke Andi" in t.got("budi", "dikirim").text
