"""Tukang registration (/start tukang and from the warga menu), status, availability, edits."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from flows.types import Media
from storage.models import TukangProfile, User
from tests.factories import (
    BATAM_KOTA,
    NONGSA,
    make_job,
    make_person,
    make_tukang,
    profile_of,
    user_id,
)
from tests.harness import Harness, register_warga

JPG = Media("/tmp/sijakon-test/skk.jpg", "image/jpeg", 120_000)
JPG2 = Media("/tmp/sijakon-test/skk-back.jpg", "image/jpeg", 110_000)
PDF = Media("/tmp/sijakon-test/skk.pdf", "application/pdf", 300_000)
DOCX = Media("/tmp/sijakon-test/skk.docx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 9_000)


async def first_contact_as_tukang(t: Harness, who: str = "joko") -> None:
    """/start tukang, consent, name, phone, kecamatan: lands at the registration intro."""
    await t.send(who, "/start tukang")
    await t.press(who, "Setuju")
    await t.send(who, "Joko Susilo")
    await t.send(who, "081234567891")
    await t.press(who, "Batam Kota")
    await t.assert_step(who, "tukang_reg.begin")


async def fill_registration(t: Harness, who: str = "joko", skk: str = "skk-123.456/2025") -> None:
    """From the intro to the summary with good answers."""
    await t.press(who, "Lanjut")
    await t.send(who, skk)
    await t.press(who, "Tukang Cat Bangunan Gedung")
    await t.press(who, "Tukang Plester")
    await t.press(who, "Selesai")
    await t.press(who, "Jenjang 3 (operator)")
    await t.send(who, "31-12-2029")
    await t.send(who, media=(JPG,))
    await t.press(who, "Selesai")
    await t.press(who, "Nongsa")
    await t.press(who, "Selesai")
    await t.assert_step(who, "tukang_reg.confirm")


async def test_start_tukang_registers_a_pending_tukang(t: Harness) -> None:
    """The whole /start tukang path ends with a pending profile and the tukang menu."""
    await first_contact_as_tukang(t)
    intro = t.last("joko")
    assert "Pendaftaran tukang" in intro.text and "nomor SKK" in intro.text
    assert intro.labels == ["Lanjut", "Nanti saja"]
    await fill_registration(t)
    summary = t.last("joko").text
    for part in ("Joko Susilo", "+6281234567891", "SKK-123.456/2025", "Tukang Cat Bangunan Gedung",
                 "Tukang Plester", "Jenjang: 3", "31-12-2029", "File sertifikat: 1",
                 "Batam Kota, Nongsa"):
        assert part in summary, part
    assert "diperiksa lagi" not in summary
    t.replies("joko")
    await t.press("joko", "Kirim")
    texts = t.texts("joko")
    assert "menunggu pemeriksaan Dinas" in texts[0]
    assert "Status & ketersediaan" in t.last("joko").labels
    assert "Pesan tukang" not in t.last("joko").labels
    await t.assert_step("joko", "menu.home")
    uid = await user_id(t.db, "joko")
    async with t.db.read() as s:
        user = await s.get(User, uid)
        profile = (await s.execute(select(TukangProfile))).scalar_one()
    assert user is not None and user.role == "tukang" and user.kecamatan_code == BATAM_KOTA
    assert (profile.status, profile.skk_number, profile.jenjang) == ("pending", "SKK-123.456/2025", 3)
    assert profile.skills == ["SI013001", "SI013002"]
    assert sorted(profile.areas) == sorted([BATAM_KOTA, NONGSA])
    assert profile.skk_valid_until == date(2029, 12, 31)
    assert profile.skk_media == [JPG.path]
    assert profile.submitted_at == t.clock()
    # the menu entry shows the status
    await t.press("joko", "Status & ketersediaan")
    status = t.last("joko")
    assert "menunggu pemeriksaan Dinas" in status.text
    assert "Libur dulu" not in status.labels


async def test_unknown_input_at_every_step_gets_that_steps_help(t: Harness) -> None:
    """Nonsense at each registration step is answered with help and the same question."""
    await first_contact_as_tukang(t)
    t.replies("joko")

    async def nonsense(text: str, expect: str, step: str) -> None:
        t.replies("joko")
        await t.send("joko", text)
        texts = t.texts("joko")
        assert expect in texts[0], (texts, t.show())
        assert len(texts) >= 2  # the question again
        await t.assert_step("joko", step)

    await nonsense("🤷 apa ini?", "Jawab Ya atau Tidak", "tukang_reg.begin")
    await t.press("joko", "Lanjut")
    await nonsense("🤷", "tidak sesuai format", "tukang_reg.skk")
    await nonsense("12", "tidak sesuai format", "tukang_reg.skk")
    await nonsense("SKK-<script>123456", "tidak sesuai format", "tukang_reg.skk")
    await t.send("joko", "SKK 1234 5678")
    await nonsense("apa ya", "Tekan pilihan untuk menandai", "tukang_reg.skills")
    await nonsense("selesai", "paling sedikit", "tukang_reg.skills")
    await nonsense("99", "Tekan pilihan untuk menandai", "tukang_reg.skills")
    await t.send("joko", "1, 3")  # typed numbers work
    await t.send("joko", "selesai")
    await nonsense("tinggi sekali", "angka 1 sampai 9", "tukang_reg.jenjang")
    await t.send("joko", "7")  # the seventh option is jenjang 7
    await nonsense("besok", "tidak bisa kami baca", "tukang_reg.valid")
    await nonsense("31-02-2029", "tidak bisa kami baca", "tukang_reg.valid")
    await nonsense("01-01-2020", "sudah habis masa berlakunya", "tukang_reg.valid")
    await nonsense("22-11-2026", "sudah habis", "tukang_reg.valid")  # yesterday in Batam
    await nonsense("01-01-2045", "terlalu jauh", "tukang_reg.valid")
    await t.send("joko", "23-11-2026")  # today is still valid
    await nonsense("ini fotonya", "foto atau PDF sertifikat", "tukang_reg.photo")
    await nonsense("selesai", "paling sedikit 1", "tukang_reg.photo")
    t.replies("joko")
    await t.send("joko", media=(DOCX,))
    texts = t.texts("joko")
    assert "JPG/PNG) atau PDF" in texts[0]
    await t.assert_step("joko", "tukang_reg.photo")
    await t.send("joko", media=(PDF,))
    await nonsense("hmm", "foto atau PDF", "tukang_reg.photo")
    await t.send("joko", media=(JPG,))  # the second file fills it up: straight on
    await t.assert_step("joko", "tukang_reg.areas")
    await nonsense("di mana saja", "Tekan pilihan untuk menandai", "tukang_reg.areas")
    await t.send("joko", "selesai")  # Batam Kota is ticked already
    await nonsense("mungkin", "Jawab Ya atau Tidak", "tukang_reg.confirm")
    await t.press("joko", "Ubah")
    await nonsense("semuanya", "Pilih salah satu", "tukang_reg.fix")
    await t.press("joko", "Jenjang")
    await t.press("joko", "Jenjang 8 (ahli)")
    await t.assert_step("joko", "tukang_reg.confirm")  # straight back to the summary
    summary = t.last("joko").text
    assert "SKK12345678" in summary and "Jenjang: 8" in summary and "File sertifikat: 2" in summary
    assert "23-11-2026" in summary
    await t.send("joko", "ya")
    async with t.db.read() as s:
        profile = (await s.execute(select(TukangProfile))).scalar_one()
    assert profile.skills == ["SI013001", "SI013003"] or len(profile.skills) == 2
    assert profile.skk_media == [PDF.path, JPG.path] and profile.jenjang == 8


async def test_batal_and_menu_mid_registration_store_nothing(t: Harness) -> None:
    """batal during /start tukang leaves no user; menu during a warga's registration keeps
    them a warga."""
    await first_contact_as_tukang(t)
    await t.press("joko", "Lanjut")
    await t.send("joko", "SKK-998877")
    await t.send("joko", "batal")
    assert "Dibatalkan" in t.got("joko", "Dibatalkan").text
    await t.assert_step("joko", "start.welcome")
    async with t.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(User))).scalar() == 0
    # "Nanti saja" at the intro also stores nothing
    await first_contact_as_tukang(t, "sri")
    await t.press("sri", "Nanti saja")
    assert "Tidak ada data pendaftaran yang disimpan" in t.got("sri", "dibatalkan").text
    await t.assert_step("sri", "start.welcome")
    # a registered warga: menu mid-flow goes home, still a warga
    await register_warga(t, "budi")
    await t.press("budi", "Daftar sebagai tukang")
    await t.press("budi", "Lanjut")
    await t.send("budi", "SKK-554433")
    await t.press("budi", "Tukang Kayu")
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    assert "Pesan tukang" in t.last("budi").labels
    async with t.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(TukangProfile))).scalar() == 0
        assert (await s.execute(select(User.role).where(User.name == "Budi Santoso"))).scalar() == "warga"
    # and at the date step
    await t.press("budi", "Daftar sebagai tukang")
    await t.press("budi", "Lanjut")
    await t.send("budi", "SKK-554433")
    await t.press("budi", "Tukang Kayu")
    await t.press("budi", "Selesai")
    await t.press("budi", "Jenjang 2 (operator)")
    await t.send("budi", "batal")
    await t.assert_step("budi", "menu.home")


async def test_warga_registers_as_tukang_from_the_menu(t: Harness) -> None:
    """A registered warga chooses "Daftar sebagai tukang" and becomes a pending tukang."""
    await register_warga(t, "budi")
    await t.press("budi", "Daftar sebagai tukang")
    assert "Pendaftaran tukang" in t.last("budi").text
    await fill_registration(t, "budi", skk="SKK/2025/0001")
    assert "Budi Santoso" in t.last("budi").text
    await t.press("budi", "Kirim")
    await t.assert_step("budi", "menu.home")
    uid = await user_id(t.db, "budi")
    async with t.db.read() as s:
        user = await s.get(User, uid)
    assert user is not None and user.role == "tukang"
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.status == "pending"
    assert "Daftar sebagai tukang" not in t.last("budi").labels
    # coming back to the registration shows the status instead of a second registration
    await t.send("budi", "/start tukang")
    await t.assert_step("budi", "tukang.status")
    assert "sudah terdaftar sebagai tukang" in t.got("budi", "sudah terdaftar").text
    assert "menunggu pemeriksaan Dinas" in t.last("budi").text


async def test_warga_with_an_open_job_cannot_register_yet(t: Harness) -> None:
    """Registering as tukang waits until the warga's own bookings are finished."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    await make_job(t, uid, status="offered", code="J-2611-0042")
    await t.press("budi", "Daftar sebagai tukang")
    assert "J-2611-0042" in t.got("budi", "masih punya pesanan").text
    await t.assert_step("budi", "menu.home")


async def test_stale_button_during_registration(t: Harness) -> None:
    """An old jenjang button pressed at the date step is refused; the date is asked again."""
    await first_contact_as_tukang(t)
    await t.press("joko", "Lanjut")
    await t.send("joko", "SKK-112233")
    await t.press("joko", "Tukang Kayu")
    await t.press("joko", "Selesai")
    await t.press("joko", "Jenjang 4 (teknisi)")
    await t.assert_step("joko", "tukang_reg.valid")
    t.replies("joko")
    await t.press("joko", "Jenjang 9 (ahli)")
    texts = t.texts("joko")
    assert texts[0].startswith("Pilihan itu sudah tidak berlaku")
    assert "berlaku sampai" in texts[1]
    await t.assert_step("joko", "tukang_reg.valid")


async def test_skk_number_of_someone_else_is_refused(t: Harness) -> None:
    """The same SKK number cannot be registered twice."""
    await make_tukang(t, "andi", skk="SKK-777888")
    await first_contact_as_tukang(t)
    await t.press("joko", "Lanjut")
    await t.send("joko", "skk-777888")
    assert "sudah terdaftar" in t.texts("joko")[-2]
    await t.assert_step("joko", "tukang_reg.skk")


async def test_rejected_tukang_sees_reason_and_resubmits(t: Harness) -> None:
    """The Dinas's reason is on the status page; correcting and resending makes it pending."""
    uid = await make_tukang(t, "andi", status="rejected", reason="Foto SKK buram",
                            skills=["SI013015"], areas=[BATAM_KOTA], skk="SKK-0042-2025",
                            valid_until=date(2029, 6, 30))
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    status = t.last("andi")
    assert "ditolak" in status.text and "Foto SKK buram" in status.text
    assert status.labels == ["Perbaiki & kirim ulang", "Kembali ke menu"]
    await t.press("andi", "Perbaiki & kirim ulang")
    assert "Foto SKK buram" in t.got("andi", "Alasan penolakan").text
    await t.press("andi", "Tetap: SKK-0042-2025")
    await t.assert_step("andi", "tukang_reg.skills")
    assert "✅ Tukang Kayu" in t.last("andi").labels
    await t.press("andi", "Selesai")
    assert "✅ Jenjang 3 (operator)" in t.last("andi").labels
    await t.press("andi", "Jenjang 3 (operator)")
    await t.press("andi", "Tetap: 30-06-2029")
    await t.assert_step("andi", "tukang_reg.photo")
    assert t.last("andi").labels == ["Pakai foto sebelumnya"]
    await t.send("andi", media=(JPG2,))
    await t.press("andi", "Selesai")
    await t.press("andi", "Selesai")  # areas as they were
    await t.press("andi", "Kirim")
    profile = await profile_of(t.db, uid)
    assert profile is not None
    assert (profile.status, profile.decision_reason, profile.skk_media) == ("pending", None, [JPG2.path])
    assert profile.submitted_at == t.clock()
    await t.press("andi", "Status & ketersediaan")
    assert "menunggu pemeriksaan Dinas" in t.last("andi").text


async def test_availability_switches_between_siap_and_libur(t: Harness) -> None:
    """An active tukang goes on a break and back; the profile follows."""
    uid = await make_tukang(t, "andi")
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    page = t.last("andi")
    assert "aktif" in page.text and "siap menerima pesanan" in page.text
    await t.press("andi", "Libur dulu")
    assert "libur" in t.got("andi", "libur").text
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.available is False
    await t.press("andi", "Status & ketersediaan")
    await t.press("andi", "Siap menerima pesanan")
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.available is True


async def test_areas_change_at_once(t: Harness) -> None:
    """New service areas apply immediately; the tukang stays active."""
    uid = await make_tukang(t, "andi", areas=[BATAM_KOTA])
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    await t.press("andi", "Ubah wilayah kerja")
    assert "✅ Batam Kota" in t.last("andi").labels
    await t.press("andi", "Nongsa")
    await t.press("andi", "Batam Kota")  # untick
    await t.send("andi", "halo")
    assert "Tekan pilihan" in t.texts("andi")[-2]
    await t.press("andi", "Selesai")
    assert "Wilayah kerja disimpan: Nongsa" in t.got("andi", "disimpan").text
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.areas == [NONGSA] and profile.status == "active"


async def test_new_skill_goes_back_to_the_dinas(t: Harness) -> None:
    """Adding a skill puts the profile back to pending; removing one applies at once."""
    uid = await make_tukang(t, "andi", skills=["SI013001", "SI013002"])
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    await t.press("andi", "Ubah jabatan kerja")
    await t.press("andi", "Tukang Plester")  # untick
    await t.press("andi", "Selesai")
    assert "diperiksa lagi" in t.last("andi").text
    await t.press("andi", "Kirim")
    assert "sudah diperbarui" in t.got("andi", "diperbarui").text
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.skills == ["SI013001"] and profile.status == "active"
    await t.press("andi", "Ubah jabatan kerja")
    await t.press("andi", "Tukang Las Konstruksi")
    await t.press("andi", "Selesai")
    await t.press("andi", "Kirim")
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.status == "pending"
    assert set(profile.skills) == {"SI013001", "ME013001"}


async def test_skk_data_update_goes_back_to_the_dinas(t: Harness) -> None:
    """A renewed SKK (number, jenjang, date, photo) is checked again: status pending."""
    uid = await make_tukang(t, "andi")
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    await t.press("andi", "Perbarui data SKK")
    await t.send("andi", "SKK-2026-0001")
    await t.press("andi", "Jenjang 4 (teknisi)")
    await t.send("andi", "01-12-2031")
    await t.press("andi", "Pakai foto sebelumnya")
    summary = t.last("andi").text
    assert "SKK-2026-0001" in summary and "01-12-2031" in summary and "diperiksa lagi" in summary
    await t.press("andi", "Kirim")
    profile = await profile_of(t.db, uid)
    assert profile is not None
    assert (profile.status, profile.skk_number, profile.jenjang) == ("pending", "SKK-2026-0001", 4)
    assert profile.skk_valid_until == date(2031, 12, 1)
    assert profile.skk_media == ["/tmp/skk.jpg"]


async def test_suspended_tukang_only_sees_the_status(t: Harness) -> None:
    """A suspended tukang reads the reason and can change nothing."""
    await make_tukang(t, "andi", status="suspended", reason="Pengaduan P-2611-0003 terbukti")
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    page = t.last("andi")
    assert "dihentikan sementara" in page.text and "P-2611-0003" in page.text
    assert page.labels == ["Kembali ke menu"]
    await t.send("andi", "1")
    await t.assert_step("andi", "menu.home")


async def test_warga_menu_entry_needs_known_phone(t: Harness) -> None:
    """A warga without a phone on file is asked for it before the SKK number."""
    uid = await make_person(t, "tini")
    async with t.db.transaction() as s:
        user = await s.get(User, uid)
        assert user is not None
        user.phone = None
    await t.send("tini", "menu")
    await t.press("tini", "Daftar sebagai tukang")
    await t.press("tini", "Lanjut")
    await t.assert_step("tini", "tukang_reg.phone")
    await t.send("tini", "12345")
    assert "nomor HP Indonesia" in t.texts("tini")[-2]
    await t.send("tini", "0813-1111-2222")
    await t.assert_step("tini", "tukang_reg.skk")


async def test_registration_on_sqlite_and_postgresql(any_db) -> None:  # type: ignore[no-untyped-def]
    """The /start tukang path and a status edit behave the same on both databases."""
    t = Harness.console(any_db)
    await first_contact_as_tukang(t)
    await fill_registration(t)
    await t.press("joko", "Kirim")
    uid = await user_id(t.db, "joko")
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.status == "pending"
    async with any_db.transaction() as s:
        p = await s.get(TukangProfile, profile.id)
        assert p is not None
        p.status = "active"
    await t.press("joko", "Status & ketersediaan")
    await t.press("joko", "Ubah wilayah kerja")
    await t.press("joko", "Nongsa")
    await t.press("joko", "Selesai")
    profile = await profile_of(t.db, uid)
    assert profile is not None and profile.areas == [BATAM_KOTA]
    assert t.engine is not None
    await t.engine.stop()


async def test_status_page_help_menu_and_stale(t: Harness) -> None:
    """Unknown input on the status page gets help; menu leaves; an old button is refused."""
    await make_tukang(t, "andi")
    await t.send("andi", "menu")
    await t.press("andi", "Status & ketersediaan")
    t.replies("andi")
    await t.send("andi", "kapan saya dapat kerja?")
    texts = t.texts("andi")
    assert texts[0].startswith("Pilih salah satu") and "Status pendaftaran" in texts[1]
    await t.press("andi", "Ubah wilayah kerja")
    await t.send("andi", "batal")
    await t.assert_step("andi", "menu.home")
    t.replies("andi")
    await t.press("andi", "Libur dulu")
    assert t.texts("andi")[0].startswith("Pilihan itu sudah tidak berlaku")
