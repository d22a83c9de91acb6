"""Info jasa konstruksi (browse published articles) and Pengaturan (language, broadcasts,
Data saya, corrections, erasure)."""

from __future__ import annotations

from sqlalchemy import func, select

from flows.context import FlowConfig
from storage.models import AuditLog, Conversation, InfoArticle, User
from tests.factories import (
    NONGSA,
    get,
    make_article,
    make_complaint,
    make_job,
    make_tukang,
    user_id,
)
from tests.harness import Harness, register_warga

# --- info -------------------------------------------------------------------------------------


async def test_info_with_nothing_published(t: Harness) -> None:
    """No published article: say so and show the menu."""
    await make_article(t, "Draf", "Perizinan", published=False)
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    texts = t.texts("budi")
    assert "Belum ada informasi" in texts[0] and "Menu utama" in texts[1]
    await t.assert_step("budi", "menu.home")


async def test_browse_topics_titles_and_an_article(t: Harness) -> None:
    """Topics with counts -> titles newest first -> the article; back buttons work."""
    await make_article(t, "Cara mengurus PBG", "Perizinan", "Persyaratan PBG: gambar, KTP.",
                       age_days=10)
    await make_article(t, "PBG untuk rumah tinggal", "Perizinan", "Rumah tinggal sederhana.",
                       age_days=1)
    await make_article(t, "Memilih tukang bersertifikat", "Tips", "Periksa SKK tukang.")
    await make_article(t, "Draf rahasia", "Perizinan", "belum terbit", published=False)
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    topics = t.last("budi")
    assert topics.labels == ["Perizinan (2)", "Tips (1)", "Kembali ke menu"]
    await t.send("budi", "1")
    titles = t.last("budi")
    assert "Perizinan" in titles.text
    assert titles.labels == ["PBG untuk rumah tinggal", "Cara mengurus PBG", "Daftar topik"]
    await t.press("budi", "Cara mengurus PBG")
    article = t.last("budi")
    assert "Cara mengurus PBG" in article.text and "Persyaratan PBG" in article.text
    assert "13-11-2026" in article.text
    assert article.labels == ["Daftar judul", "Kembali ke menu"]
    await t.press("budi", "Daftar judul")
    await t.press("budi", "Daftar topik")
    await t.press("budi", "Tips (1)")
    await t.press("budi", "Memilih tukang bersertifikat")
    assert "Periksa SKK" in t.last("budi").text
    await t.press("budi", "Kembali ke menu")
    await t.assert_step("budi", "menu.home")


async def test_info_pages_long_lists_and_long_articles(db, clock) -> None:  # type: ignore[no-untyped-def]
    """Seven topics show five at a time; a long article is read in parts."""
    t = Harness.console(db, clock=clock, config=FlowConfig(page_size=5))
    for i in range(7):
        await make_article(t, f"Judul {i}", f"Topik {i}", "Isi.")
    long_body = "\n".join(f"Paragraf {i}: " + "kata " * 60 for i in range(30))
    await make_article(t, "Panduan panjang", "Topik 6", long_body)
    await make_tukang(t, "andi")  # a tukang reads the same information
    await t.send("andi", "menu")
    await t.press("andi", "Info jasa konstruksi")
    first = t.last("andi").labels
    assert first == ["Topik 0 (1)", "Topik 1 (1)", "Topik 2 (1)", "Topik 3 (1)", "Topik 4 (1)",
                     "Berikutnya ▶", "Kembali ke menu"]
    await t.press("andi", "Berikutnya ▶")
    second = t.last("andi").labels
    assert second == ["Topik 5 (1)", "Topik 6 (2)", "◀ Sebelumnya", "Kembali ke menu"]
    await t.send("andi", "2")  # typed number on the second page
    await t.press("andi", "Panduan panjang")
    part1 = t.last("andi")
    assert "bagian 1/" in part1.text and len(part1.text) < 4096
    assert part1.labels[0] == "Lanjut membaca"
    parts = int(part1.text.split("bagian 1/")[1].split()[0])
    seen = part1.text
    for _ in range(parts - 1):
        await t.press("andi", "Lanjut membaca")
        seen += t.last("andi").text
    assert "Paragraf 29" in seen and "Lanjut membaca" not in t.last("andi").labels
    await t.press("andi", "Daftar judul")
    await t.press("andi", "Daftar topik")
    assert t.last("andi").labels == second  # the page is remembered within the visit
    await t.press("andi", "Kembali ke menu")
    await t.press("andi", "Info jasa konstruksi")
    assert t.last("andi").labels == first  # a new visit starts at the first page
    await engine_stop(t)


async def engine_stop(t: Harness) -> None:
    assert t.engine is not None
    await t.engine.stop()


async def test_info_help_stale_button_and_withdrawn_article(t: Harness) -> None:
    """Unknown input gets help; an old button is refused; a withdrawn article says so."""
    aid = await make_article(t, "Cara mengurus PBG", "Perizinan", "Isi.")
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    t.replies("budi")
    await t.send("budi", "📚📚📚")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    await t.press("budi", "Perizinan (1)")
    t.replies("budi")
    await t.send("budi", "🤔")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    async with t.db.transaction() as s:
        a = await s.get(InfoArticle, aid)
        assert a is not None
        a.published = False
    await t.press("budi", "Cara mengurus PBG")
    texts = t.texts("budi")
    assert any("sudah tidak tersedia" in x for x in texts)
    assert any("Belum ada informasi" in x for x in texts)
    await t.assert_step("budi", "menu.home")
    # a button from the topic list, pressed now, is stale
    t.replies("budi")
    await t.press("budi", "Perizinan (1)")
    assert t.texts("budi")[0].startswith("Pilihan itu sudah tidak berlaku")


# --- settings ---------------------------------------------------------------------------------


async def open_settings(t: Harness, who: str = "budi") -> None:
    await t.press(who, "Pengaturan")
    await t.assert_step(who, "settings.home")


async def test_settings_page_and_switching_to_english(t: Harness) -> None:
    """Choosing English changes the very next reply, the menu, and the stored locale."""
    await register_warga(t, "budi")
    await open_settings(t)
    page = t.last("budi")
    assert "Budi Santoso" in page.text and "+62812****7890" in page.text
    assert "Batam Kota" in page.text and "Bahasa Indonesia" in page.text
    await t.press("budi", "Bahasa / Language")
    t.replies("budi")
    await t.press("budi", "English")
    texts = t.texts("budi")
    assert texts[0] == "Done: from now on we will write in English."
    assert texts[1].startswith("Settings")
    assert "Language: English" in texts[1]
    assert "Back to menu" in t.last("budi").labels
    await t.press("budi", "Back to menu")
    assert "Main menu" in t.last("budi").text
    uid = await user_id(t.db, "budi")
    assert (await get(t.db, User, uid)).locale == "en"
    async with t.db.read() as s:
        assert (await s.execute(select(Conversation.locale))).scalar() == "en"
    # and back to Indonesian
    await t.press("budi", "Settings")
    await t.press("budi", "Bahasa / Language")
    await t.press("budi", "Bahasa Indonesia")
    assert "Bahasa Indonesia" in t.got("budi", "mulai sekarang").text


async def test_broadcasts_off_and_on(t: Harness) -> None:
    """The broadcast switch flips User.broadcast_opt_out and is recorded."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    await open_settings(t)
    await t.press("budi", "Matikan siaran informasi")
    assert "dimatikan" in t.got("budi", "dimatikan").text
    assert (await get(t.db, User, uid)).broadcast_opt_out is True
    assert "Siaran informasi: mati" in t.last("budi").text
    await t.press("budi", "Nyalakan siaran informasi")
    assert (await get(t.db, User, uid)).broadcast_opt_out is False
    async with t.db.read() as s:
        actions = (await s.execute(select(AuditLog.action).where(
            AuditLog.action.like("broadcast.%")).order_by(AuditLog.id))).scalars().all()
    assert actions == ["broadcast.opt_out", "broadcast.opt_in"]


async def test_data_saya_shows_everything_and_is_audited(t: Harness) -> None:
    """Data saya lists profile, accounts, jobs and complaints, readably, and leaves a record."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    tk = await make_tukang(t, "andi")
    job = await make_job(t, uid, tukang_id=tk, code="J-2611-0042")
    await make_complaint(t, job)
    await open_settings(t)
    t.replies("budi")
    await t.press("budi", "Data saya")
    texts = t.texts("budi")
    assert texts[0].startswith("Data saya: semua yang kami simpan")
    body = "\n".join(texts[1:-1])
    for fragment in ("Profil", "Budi Santoso", "+6281234567890", "Akun chat", "Konsol",
                     "Pesanan", "J-2611-0042", "Pengaduan", "Tukang tidak datang",
                     "Riwayat akses", "23-11-2026 09:00"):
        assert fragment in body, fragment
    assert all(len(x) <= 4096 for x in texts)
    assert "T02:00" not in body  # times are shown in WIB, not as ISO strings
    assert texts[-1].startswith("Pengaturan")
    async with t.db.read() as s:
        n = (await s.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "privacy.view", AuditLog.subject_id == uid))).scalar()
    assert n == 1


async def test_correct_name_and_kecamatan(t: Harness) -> None:
    """A wrong name is refused with help; good ones are saved; the kecamatan changes."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    await open_settings(t)
    await t.press("budi", "Ubah nama")
    t.replies("budi")
    await t.send("budi", "12345 ###")
    assert "tidak bisa kami pakai" in t.texts("budi")[0]
    await t.send("budi", "Budi Santosa")
    assert "Nama disimpan: Budi Santosa" in t.got("budi", "disimpan").text
    await t.press("budi", "Ubah kecamatan")
    t.replies("budi")
    await t.send("budi", "di rumah")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    await t.press("budi", "Nongsa")
    user = await get(t.db, User, uid)
    assert (user.name, user.kecamatan_code) == ("Budi Santosa", NONGSA)
    await t.press("budi", "Ubah nama")
    await t.press("budi", "Kembali")
    await t.assert_step("budi", "settings.home")


async def test_menu_batal_and_unknown_input_in_settings(t: Harness) -> None:
    """Help at each settings step; batal and menu leave without changing anything."""
    await register_warga(t, "budi")
    await open_settings(t)
    t.replies("budi")
    await t.send("budi", "ganti semua")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    await t.press("budi", "Bahasa / Language")
    t.replies("budi")
    await t.send("budi", "klingon")
    assert t.texts("budi")[0].startswith("Pilih salah satu")
    await t.send("budi", "batal")
    await t.assert_step("budi", "menu.home")
    await open_settings(t)
    await t.press("budi", "Ubah nama")
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    await open_settings(t)
    await t.press("budi", "Hapus data saya")
    t.replies("budi")
    await t.send("budi", "mungkin")
    assert "Jawab Ya atau Tidak" in t.texts("budi")[0]
    await t.send("budi", "batal")
    uid = await user_id(t.db, "budi")
    assert (await get(t.db, User, uid)).name == "Budi Santoso"
    # a stale button from the settings page
    t.replies("budi")
    await t.press("budi", "Data saya")
    assert t.texts("budi")[0].startswith("Pilihan itu sudah tidak berlaku")


async def test_delete_refused_while_a_job_is_open(t: Harness) -> None:
    """Erasure waits for open jobs; the reason names the job."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    await make_job(t, uid, status="accepted", code="J-2611-0099")
    await open_settings(t)
    await t.press("budi", "Hapus data saya")
    assert "tidak bisa dibatalkan" in t.last("budi").text
    await t.press("budi", "Ya, hapus")
    refused = t.got("budi", "belum bisa dihapus").text
    assert "J-2611-0099" in refused
    await t.assert_step("budi", "settings.home")
    assert (await get(t.db, User, uid)).status == "active"


async def test_delete_refused_while_a_complaint_is_open(t: Harness) -> None:
    """A tukang with an undecided complaint about them cannot be erased yet."""
    await register_warga(t, "budi")
    tk = await make_tukang(t, "andi")
    job = await make_job(t, await user_id(t.db, "budi"), tukang_id=tk)
    await make_complaint(t, job, status="awaiting_statement")
    await t.send("andi", "menu")
    await t.press("andi", "Pengaturan")
    await t.press("andi", "Hapus data saya")
    await t.press("andi", "Ya, hapus")
    assert "pengaduan" in t.got("andi", "belum bisa dihapus").text
    assert (await get(t.db, User, tk)).status == "active"


async def test_delete_my_data_makes_a_stranger(t: Harness) -> None:
    """After erasure the person is unknown: the next message starts first contact."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    await make_job(t, uid, status="done", code="J-2611-0007")
    await open_settings(t)
    await t.press("budi", "Hapus data saya")
    await t.press("budi", "Jangan")
    assert "tidak dihapus" in t.got("budi", "tidak dihapus").text
    await t.press("budi", "Hapus data saya")
    t.replies("budi")
    await t.press("budi", "Ya, hapus")
    texts = t.texts("budi")
    assert len(texts) == 1 and "sudah dihapus" in texts[0]
    user = await get(t.db, User, uid)
    assert (user.status, user.phone) == ("erased", None) and user.name != "Budi Santoso"
    await t.send("budi", "halo")
    assert "Selamat datang" in t.last("budi").text
    await t.assert_step("budi", "start.welcome")
    async with t.db.read() as s:
        conv = (await s.execute(select(Conversation).where(
            Conversation.address == "budi"))).scalar_one()
    assert conv.user_id is None and "_role" not in (conv.data or {})
    # registering again makes a new person
    await t.press("budi", "Setuju")
    await t.send("budi", "Budi Baru")
    await t.send("budi", "081234567890")
    await t.press("budi", "Batam Kota")
    assert await user_id(t.db, "budi") != uid


async def test_english_user_erasure_and_settings(t: Harness) -> None:
    """An English speaker gets the erasure answer in English; the stranger starts in Indonesian."""
    await register_warga(t, "budi")
    await open_settings(t)
    await t.press("budi", "Bahasa / Language")
    await t.press("budi", "English")
    await t.press("budi", "Delete my data")
    await t.press("budi", "Yes, delete")
    assert "Your data has been deleted" in t.last("budi").text
    await t.send("budi", "hello")
    assert "Selamat datang" in t.last("budi").text


async def test_article_step_help_and_menu_mid_browse(t: Harness) -> None:
    """Nonsense while reading an article gets help; menu and batal leave the browsing."""
    await make_article(t, "Cara mengurus PBG", "Perizinan", "Isi tulisan PBG.")
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    await t.press("budi", "Perizinan (1)")
    await t.press("budi", "Cara mengurus PBG")
    t.replies("budi")
    await t.send("budi", "bagus 👍")
    texts = t.texts("budi")
    assert texts[0].startswith("Pilih salah satu") and "Isi tulisan PBG" in texts[1]
    await t.send("budi", "menu")
    await t.assert_step("budi", "menu.home")
    await t.press("budi", "Info jasa konstruksi")
    await t.send("budi", "batal")
    await t.assert_step("budi", "menu.home")
    assert "Dibatalkan" in t.got("budi", "Dibatalkan").text
