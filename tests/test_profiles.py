"""A tukang's profile for warga (flows/tukang_profile.py, flows/profile_view.py): the tukang
sets a photo, photos of past work (six at most) and a description; a warga opens the card
from a "Lihat profil" button on any message and sees who the tukang is, never their phone;
Data saya, erasure, retention and the media sweep know the new files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from flows.offers import profile_button
from flows.outbox import Outgoing
from flows.privacy import erase_user, export_user_data, published_profile_line
from flows.profile_view import profile_target
from flows.render import render
from storage import media_sweep, retention
from storage.db import Database
from storage.models import AuditLog, Rating, TukangProfile
from tests.factories import NOW, make_job, make_person, make_tukang, profile_of
from tests.harness import Harness
from tests.media_samples import JPEG, JPEG_2, PDF, PNG, WEBP

STATUS = "Status & ketersediaan"
PROFILE = "Profil untuk warga (foto, deskripsi)"
BIO = ("Tukang cat berpengalaman 10 tahun, rapi dan tepat waktu. Biasa mengerjakan rumah "
       "tinggal dan ruko di Batam Kota.")


async def set_profile(db: Database, uid: int, **values: object) -> None:
    async with db.transaction() as s:
        await s.execute(update(TukangProfile).where(TukangProfile.user_id == uid)  # type: ignore[arg-type]
                        .values(**values))


async def to_profile_page(h: Harness, who: str) -> None:
    await h.send(who, "menu")
    await h.press(who, STATUS)
    await h.press(who, PROFILE)
    await h.assert_step(who, "tukang.profile")


async def send_button(h: Harness, warga: int, tukang: int) -> None:
    """A message carrying "Lihat profil" (as the list of tukang or "tukang X mau" will)."""
    out = Outgoing()
    async with h.db.transaction() as s:
        await out.notify(s, warga, "profile.choice_view", actions=[profile_button(tukang)])
        await out.write(s, h.clock())
    await h.refresh()


def media_received(sent: list) -> list[str]:  # type: ignore[type-arg]
    return [m for s in sent for m in s.media]


# --- the tukang's side ---------------------------------------------------------------------


async def test_a_tukang_sets_photo_work_photos_and_description(any_channel: Harness) -> None:
    """From "Status & ketersediaan": a profile photo, two photos of past work (a JPEG, a PNG)
    and a description; the page then says what warga will see, and each change is audited."""
    h = any_channel
    uid = await make_tukang(h, "andi", "Andi Saputra")
    await to_profile_page(h, "andi")
    page = h.last("andi")
    assert "Foto profil: belum ada" in page.text and "Foto hasil kerja: 0 dari 6" in page.text
    assert "Nomor HP dan alamat Anda tidak ditampilkan" in page.text
    await h.press("andi", "Foto profil")
    assert "satu foto" in h.last("andi").text
    await h.photo("andi", JPEG)
    assert "Foto profil tersimpan" in h.got("andi", "Foto profil tersimpan").text
    assert "Foto profil: sudah ada" in h.last("andi").text
    await h.press("andi", "Tambah foto hasil kerja")
    assert "Sudah 0 dari 6 foto" in h.last("andi").text
    await h.photo("andi", JPEG_2)
    assert "(1/6)" in h.last("andi").text
    await h.photo("andi", PNG, content_type="image/png")
    assert "(2/6)" in h.last("andi").text
    await h.press("andi", "Selesai")
    await h.press("andi", "Tulis deskripsi")
    await h.send("andi", BIO)
    assert "Deskripsi tersimpan" in h.got("andi", "Deskripsi tersimpan").text
    page = h.last("andi")
    assert "Foto hasil kerja: 2 dari 6" in page.text and "berpengalaman 10 tahun" in page.text
    await h.assert_step("andi", "tukang.profile")
    p = await profile_of(h.db, uid)
    assert p is not None and p.photo and len(p.work_photos) == 2 and p.bio == BIO
    async with h.db.read() as s:
        actions = set((await s.execute(select(AuditLog.action).where(
            AuditLog.actor == f"user:{uid}"))).scalars())
    assert {"tukang.profile_photo", "tukang.profile_work_add", "tukang.profile_bio"} <= actions


async def test_a_new_profile_photo_replaces_the_old(t: Harness) -> None:
    """One profile photo: a second one takes its place, and the tukang is told so."""
    uid = await make_tukang(t, "andi")
    await to_profile_page(t, "andi")
    await t.press("andi", "Foto profil")
    await t.photo("andi", JPEG)
    first = (await profile_of(t.db, uid)).photo  # type: ignore[union-attr]
    await t.press("andi", "Foto profil")
    assert "Foto yang lama akan diganti" in t.last("andi").text
    await t.photo("andi", JPEG_2)
    assert "menggantikan foto yang lama" in t.got("andi", "tersimpan").text
    second = (await profile_of(t.db, uid)).photo  # type: ignore[union-attr]
    assert second and second != first


async def test_a_sticker_or_pdf_gets_a_friendly_answer_and_nothing_is_lost(
        any_channel: Harness) -> None:
    """At the photos of past work a PDF and a sticker (WebP) are refused in words a person
    understands (JPG/PNG); the photo saved before stays, the question stays, and a real photo
    after them is taken."""
    h = any_channel
    uid = await make_tukang(h, "andi")
    await to_profile_page(h, "andi")
    await h.press("andi", "Tambah foto hasil kerja")
    await h.photo("andi", JPEG)
    h.replies("andi")
    await h.photo("andi", PDF, content_type="application/pdf")
    answer = h.replies("andi")[0].text
    assert "bukan foto JPG/PNG" in answer and "tetap aman" in answer
    await h.assert_step("andi", "tukang.profile_work")
    await h.photo("andi", WEBP, content_type="image/webp")
    assert "JPG/PNG" in h.replies("andi")[0].text  # console: our answer; the apps: their notice
    await h.assert_step("andi", "tukang.profile_work")
    p = await profile_of(h.db, uid)
    assert p is not None and len(p.work_photos) == 1
    await h.photo("andi", JPEG_2)
    assert "(2/6)" in h.last("andi").text


async def test_a_sticker_at_the_profile_photo_keeps_the_old_photo(t: Harness) -> None:
    """A sticker sent as the profile photo: the friendly answer, the old photo kept."""
    uid = await make_tukang(t, "andi")
    await set_profile(t.db, uid, photo="/tmp/old-face.jpg")
    await to_profile_page(t, "andi")
    await t.press("andi", "Foto profil")
    await t.photo("andi", WEBP, content_type="image/webp")
    assert "stiker" in t.last("andi").text or "stiker" in t.all("andi")[-2].text
    await t.assert_step("andi", "tukang.profile_photo")
    assert (await profile_of(t.db, uid)).photo == "/tmp/old-face.jpg"  # type: ignore[union-attr]


async def test_a_seventh_work_photo_is_refused_with_the_count(any_channel: Harness) -> None:
    """With five photos of past work a sixth is taken and the tukang told the limit is
    reached; asking to add a seventh says 6 of 6 and to remove one first."""
    h = any_channel
    uid = await make_tukang(h, "andi")
    await set_profile(h.db, uid, work_photos=[f"/tmp/w{i}.jpg" for i in range(5)])
    await to_profile_page(h, "andi")
    await h.press("andi", "Tambah foto hasil kerja")
    assert "masih bisa 1 lagi" in h.last("andi").text
    await h.photo("andi", JPEG)
    assert "(6/6)" in h.got("andi", "(6/6)").text
    await h.assert_step("andi", "tukang.profile")
    await h.press("andi", "Tambah foto hasil kerja")
    refused = h.got("andi", "jumlah paling banyak").text
    assert "sudah 6 dari 6" in refused and "hapus dulu foto yang lama" in refused
    await h.assert_step("andi", "tukang.profile")
    assert len((await profile_of(h.db, uid)).work_photos) == 6  # type: ignore[union-attr]


async def test_an_album_past_the_limit_keeps_what_fits(t: Harness) -> None:
    """Three photos in one message with room for two: two are saved, the third refused with
    the count."""
    uid = await make_tukang(t, "andi")
    await set_profile(t.db, uid, work_photos=[f"/tmp/w{i}.jpg" for i in range(4)])
    await to_profile_page(t, "andi")
    await t.press("andi", "Tambah foto hasil kerja")
    from flows.types import Media

    album = tuple(Media(f"/tmp/new{i}.jpg", "image/jpeg", 100) for i in range(3))
    await t.send("andi", media=album)
    said = t.got("andi", "jumlah paling banyak").text
    assert "sudah 6 dari 6" in said and "1 foto terakhir tidak kami simpan" in said
    p = await profile_of(t.db, uid)
    assert p is not None and p.work_photos[-2:] == ["/tmp/new0.jpg", "/tmp/new1.jpg"]


async def test_removing_one_or_all_work_photos(t: Harness) -> None:
    """"Hapus foto hasil kerja" shows the photos numbered; one goes by its number, then all."""
    uid = await make_tukang(t, "andi")
    await set_profile(t.db, uid, work_photos=["/tmp/a.jpg", "/tmp/b.jpg", "/tmp/c.jpg"])
    await to_profile_page(t, "andi")
    assert t.last("andi").labels[-2:] == ["Hapus foto hasil kerja", "Kembali"]
    await t.press("andi", "Hapus foto hasil kerja")
    ask = t.last("andi")
    assert ask.media == ["/tmp/a.jpg", "/tmp/b.jpg", "/tmp/c.jpg"]
    assert ask.labels == ["Foto 1", "Foto 2", "Foto 3", "Hapus semua", "Kembali"]
    await t.press("andi", "Foto 2")
    assert "Foto 2 dihapus; sisa 2 foto" in t.got("andi", "dihapus").text
    assert (await profile_of(t.db, uid)).work_photos == ["/tmp/a.jpg", "/tmp/c.jpg"]  # type: ignore[union-attr]
    await t.press("andi", "Hapus foto hasil kerja")
    await t.press("andi", "Hapus semua")
    assert "Semua foto hasil kerja dihapus" in t.got("andi", "dihapus").text
    assert (await profile_of(t.db, uid)).work_photos == []  # type: ignore[union-attr]
    assert "Hapus foto hasil kerja" not in t.last("andi").labels


async def test_a_long_description_is_cut_and_a_phone_number_refused(t: Harness) -> None:
    """Over 300 characters: the first 300 kept and the tukang told; a phone number in it is
    refused (warga get the number with an accepted booking), the question asked again."""
    uid = await make_tukang(t, "andi")
    await to_profile_page(t, "andi")
    await t.press("andi", "Tulis deskripsi")
    await t.send("andi", "Hubungi saya di 0812-3456-7890 ya")
    assert "nomor HP tidak boleh" in t.got("andi", "nomor HP tidak boleh").text
    await t.assert_step("andi", "tukang.profile_bio")
    await t.send("andi", "Rapi dan cepat. " * 30)
    assert "kami simpan 300 huruf pertama" in t.got("andi", "terlalu panjang").text
    bio = (await profile_of(t.db, uid)).bio  # type: ignore[union-attr]
    assert len(bio) == 300 and bio.endswith("…")
    await t.press("andi", "Tulis deskripsi")
    await t.press("andi", "Hapus deskripsi")
    assert (await profile_of(t.db, uid)).bio == ""  # type: ignore[union-attr]


async def test_kembali_from_the_profile_steps(t: Harness) -> None:
    """Kembali at a profile question goes to the profile page, and from it to the status."""
    await make_tukang(t, "andi")
    await to_profile_page(t, "andi")
    await t.press("andi", "Tulis deskripsi")
    await t.send("andi", "kembali")
    await t.assert_step("andi", "tukang.profile")
    await t.send("andi", "kembali")
    await t.assert_step("andi", "tukang.status")


# --- the warga's side ----------------------------------------------------------------------


async def rated(db: Database, warga: int, tukang: int, reviews: list[tuple[int, str]]) -> None:
    """Finished jobs of `warga` by `tukang`, rated in this order a day apart."""
    for i, (score, comment) in enumerate(reviews):
        job = await make_job(db, warga, tukang_id=tukang, status="done")
        async with db.transaction() as s:
            s.add(Rating(job_id=job, warga_id=warga, tukang_id=tukang, score=score,
                         comment=comment, created_at=NOW - timedelta(days=30 - i)))


async def test_a_warga_opens_the_profile_from_the_button(any_channel: Harness,
                                                          tmp_path: Path) -> None:
    """"Lihat profil" on a message: the card with name, description, jenjang and validity,
    areas, jobs done, the average with its count and the latest three written reviews
    (newest first, no reviewer named), the photos as media; never the tukang's phone. The
    warga stays where they were."""
    h = any_channel
    folder = tmp_path / "data" / "media" / "2026-11"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, content in (("face.jpg", JPEG), ("w1.jpg", JPEG_2), ("w2.png", PNG)):
        (folder / name).write_bytes(content)
        files.append(str(folder / name))
    tukang = await make_tukang(h, "andi", "Andi Saputra", phone="+6281299998888", jenjang=4,
                               jobs_done=12, rating_sum=18, rating_count=4, at_menu=False)
    await set_profile(h.db, tukang, photo=files[0], work_photos=files[1:], bio=BIO)
    warga = await make_person(h, "budi", name="Budi Santoso")
    sari = await make_person(h, "sari", name="Sari Wulandari", at_menu=False)
    await rated(h.db, sari, tukang, [(5, "Yang paling lama, tidak tampil"),
                                     (4, "Rapi, tapi datang agak terlambat"), (5, ""),
                                     (5, "Hasil cat sangat rapi " * 10),
                                     (3, "Cukup baik, bersih setelah selesai")])
    await send_button(h, warga, tukang)
    h.replies("budi")
    await h.press("budi", "Lihat profil")
    got = h.replies("budi")
    card = h.got("budi", "Ulasan terbaru").text
    assert "Andi Saputra" in card and "berpengalaman 10 tahun" in card
    assert "SKK jenjang 4, berlaku sampai 01-01-2029" in card
    assert "Wilayah kerja: Batam Kota" in card and "Pekerjaan selesai: 12" in card
    assert "4.5 dari 4 penilaian" in card
    newest, middle, oldest = (card.index("Cukup baik"), card.index("Hasil cat sangat rapi"),
                              card.index("datang agak terlambat"))
    assert newest < middle < oldest and "paling lama" not in card
    assert "…" in card and ("Hasil cat sangat rapi " * 10).strip() not in card  # clipped
    assert "Sari" not in card and "8888" not in card and "Jl." not in card
    assert len(media_received(got)) == 3
    await h.assert_step("budi", "menu.home")


async def test_the_card_leaves_the_warga_at_their_question(t: Harness) -> None:
    """Opened half-way through a booking, the card comes and the question is asked again,
    nothing of the booking lost."""
    tukang = await make_tukang(t, "andi", "Andi Saputra")
    warga = await make_person(t, "budi")
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    await t.press("budi", "Pengecatan")
    await send_button(t, warga, tukang)
    await t.press("budi", "Lihat profil")
    keys = [s.key for s in t.replies("budi")][-2:]
    assert keys == ["profile.card", "booking.ask_description"]
    await t.assert_step("budi", "booking.description")


async def test_an_inactive_tukang_is_not_available(any_channel: Harness) -> None:
    """A suspended tukang's card is not shown: one friendly line instead."""
    h = any_channel
    tukang = await make_tukang(h, "andi", "Andi Saputra", status="suspended", at_menu=False)
    warga = await make_person(h, "budi")
    await send_button(h, warga, tukang)
    await h.press("budi", "Lihat profil")
    said = h.got("budi", "tidak tersedia").text
    assert "profil tukang ini sedang tidak tersedia" in said and "Andi" not in said


async def test_only_a_warga_opens_a_profile_and_a_forged_id_is_refused(t: Harness) -> None:
    """Another tukang pressing the button is told the cards are for warga; a forged
    payload gets "not available"; a tukang previews their own card from the page."""
    andi = await make_tukang(t, "andi", "Andi Saputra")
    dedi = await make_tukang(t, "dedi", "Dedi")
    await send_button(t, dedi, andi)
    await t.press("dedi", "Lihat profil")
    assert "hanya bisa dibuka oleh warga" in t.got("dedi", "warga").text
    await make_person(t, "budi")
    await t.send("budi", choice="!tukang.profile:99999")
    assert "tidak tersedia" in t.got("budi", "tidak tersedia").text
    await to_profile_page(t, "andi")
    await t.press("andi", "Lihat profil saya")
    assert "Begini warga melihat profil Anda" in t.got("andi", "Begini").text
    await t.assert_step("andi", "tukang.profile")


def test_profile_button_names_the_action() -> None:
    """The helper's button: the action with the tukang's id, labelled "Lihat profil"."""
    button = profile_button(42)
    assert button.id == "tukang.profile:42" and render(button.label, "id") == "Lihat profil"
    assert profile_target(button.id) == 42 and profile_target("job.pick:42") is None


# --- privacy, retention, sweep -------------------------------------------------------------


async def test_data_saya_line_counts_the_profile_photos(db: Database) -> None:
    """What Data saya says of the published profile: a photo set, how many photos of past
    work, the description."""
    uid = await make_tukang(db, "andi")
    await set_profile(db, uid, photo="/tmp/face.jpg", work_photos=["/tmp/a.jpg", "/tmp/b.jpg"],
                      bio="Tukang cat")
    async with db.read() as s:
        export = await export_user_data(s, uid)
    line = published_profile_line(export["tukang_profile"],
                                  lambda key, **v: render(key, "id", **v))
    assert line == ("Profil untuk warga: foto profil ada, foto hasil kerja 2, deskripsi "
                    "“Tukang cat”")


async def test_data_saya_shows_the_profile_counts(t: Harness) -> None:
    """Pengaturan → Data saya of a tukang: the profile photo set and two photos of past work."""
    uid = await make_tukang(t, "andi")
    await set_profile(t.db, uid, photo="/tmp/face.jpg", work_photos=["/tmp/a.jpg", "/tmp/b.jpg"])
    await t.send("andi", "menu")
    await t.press("andi", "Pengaturan")
    await t.press("andi", "Data saya")
    assert "foto profil ada, foto hasil kerja 2" in t.got("andi", "Profil tukang").text


async def test_erasing_a_tukang_removes_the_profile_files(db: Database, tmp_path: Path) -> None:
    """Erasure deletes the profile photo and the photos of past work from disk and empties
    the description."""
    uid = await make_tukang(db, "andi")
    files = [tmp_path / n for n in ("face.jpg", "a.jpg", "b.jpg")]
    for f in files:
        f.write_bytes(JPEG)
    await set_profile(db, uid, photo=str(files[0]), work_photos=[str(f) for f in files[1:]],
                      bio="Tukang cat")
    async with db.transaction() as s:
        await erase_user(s, uid, NOW)
    assert not any(f.exists() for f in files)
    p = await profile_of(db, uid)
    assert p is not None and p.photo is None and p.work_photos == [] and p.bio == ""


async def test_retention_takes_a_removed_tukangs_profile_photos(db: Database) -> None:
    """A tukang removed longer than the tukang media period loses the profile photo and the
    photos of past work with the SKK photos; an active one keeps them all."""
    gone = await make_tukang(db, "andi", status="removed", submitted_at=NOW - timedelta(days=400))
    kept = await make_tukang(db, "dedi")
    for uid in (gone, kept):
        await set_profile(db, uid, photo=f"/tmp/face{uid}.jpg",
                          work_photos=[f"/tmp/w{uid}a.jpg", f"/tmp/w{uid}b.jpg"])
    keep = timedelta(days=365)
    async with db.read() as s:
        due = (await retention.pending(
            s, NOW, dedupe=keep, conversation=keep, job_media=keep, complaint_media=keep,
            tukang_media=keep))["tukang_media"]
    assert (due.rows, due.files) == (1, 4)  # an SKK photo, the face, two of past work
    async with db.transaction() as s:
        rows, files = await retention.strip_tukang_media(s, NOW, keep)
    assert rows == 1 and sorted(files) == sorted(
        ["/tmp/skk.jpg", f"/tmp/face{gone}.jpg", f"/tmp/w{gone}a.jpg", f"/tmp/w{gone}b.jpg"])
    p, q = await profile_of(db, gone), await profile_of(db, kept)
    assert p is not None and p.photo is None and p.work_photos == [] and p.skk_media == []
    assert q is not None and q.photo and len(q.work_photos) == 2


async def test_the_sweep_keeps_profile_photos(db: Database) -> None:
    """The media sweep counts a profile photo and photos of past work as referenced."""
    uid = await make_tukang(db, "andi")
    await set_profile(db, uid, photo="/data/media/2026-11/face.jpg",
                      work_photos=["/data/media/2026-11/work.png"])
    async with db.read() as s:
        names = await media_sweep.referenced(s)
    assert {"face.jpg", "work.png"} <= names
