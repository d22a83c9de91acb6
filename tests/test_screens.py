"""Screens people can read: "Data saya" as a card, info topics by their titles, a refused
erasure said once with the Dinas's contact, the kecamatan list numbered the same for everyone,
and the officer's previews without Markdown marks."""

from __future__ import annotations

import json
from pathlib import Path

from flows.render import render, to_plain
from storage.db import Database
from storage.models import Complaint
from tests.admin.conftest import Admin
from tests.factories import (
    NONGSA,
    PAINTER,
    make_article,
    make_complaint,
    make_job,
    make_person,
    make_tukang,
    user_id,
)
from tests.harness import Harness, StepClock, register_warga
from tests.test_consent import DINAS

KECAMATAN = ["Batam Kota", "Batu Aji", "Batu Ampar", "Belakang Padang", "Bengkong", "Bulang",
             "Galang", "Lubuk Baja", "Nongsa", "Sagulung", "Sei Beduk", "Sekupang"]
INTERNAL = ("kecamatan_code", "is_demo", "version", "user_id", "category_id", "_tag",
            "_choices", "skk_media", "217110", "SI013001", "True", "False", "None")


async def data_saya(h: Harness, who: str) -> str:
    await h.send(who, "menu")
    await h.press(who, "Pengaturan")
    h.replies(who)
    await h.press(who, "Data saya")
    texts = h.texts(who)
    assert texts[0].startswith("Data saya: semua yang kami simpan")
    assert texts[-1].startswith("Pengaturan")
    return "\n".join(texts[1:-1])


async def test_data_saya_is_a_card_people_can_read(t: Harness) -> None:
    """Names instead of codes, words instead of flags, WIB times, no field of ours."""
    await register_warga(t, "budi")
    uid = await user_id(t.db, "budi")
    tk = await make_tukang(t, "andi", "Andi Wijaya")
    job = await make_job(t, uid, tukang_id=tk, code="J-2611-0042")
    cid = await make_complaint(t, job)
    async with t.db.read() as s:
        code = (await s.get(Complaint, cid)).code  # type: ignore[union-attr]
    card = await data_saya(t, "budi")
    for line in ("Nama: Budi Santoso", "Nomor HP: +6281234567890", "Peran: warga",
                 "Kecamatan: Batam Kota", "Bahasa: Bahasa Indonesia",
                 "Siaran informasi: aktif", "Persetujuan data: 23-11-2026 09:00",
                 "• Konsol budi · terakhir aktif 23-11-2026 09:00",
                 "• J-2611-0042 · Renovasi rumah · Batam Kota · selesai · 23-11-2026",
                 f"• {code} (J-2611-0042) · diajukan · 23-11-2026"):
        assert line in card, line
    for word in INTERNAL:
        assert word not in card, word


async def test_a_tukang_sees_skills_and_areas_by_name(t: Harness) -> None:
    """A tukang's card names the SKK skill and the kecamatan served, and the status."""
    await make_tukang(t, "andi", "Andi Wijaya", skills=(PAINTER,), areas=("217110", NONGSA),
                      skk="SKK-778899")
    card = await data_saya(t, "andi")
    for line in ("Profil tukang", "Status: aktif",
                 "Nomor SKK: SKK-778899 · jenjang 3 · berlaku sampai 01-01-2029",
                 "Keahlian: Tukang Cat Bangunan Gedung", "Wilayah kerja: Batam Kota, Nongsa",
                 "Menerima pekerjaan: Ya", "Foto SKK: 1"):
        assert line in card, line
    for word in INTERNAL:
        assert word not in card, word


async def test_topics_are_shown_by_their_titles(t: Harness) -> None:
    """"k3" reads as its title, an unknown word is made readable; in English too."""
    await make_article(t, "Helm dan sepatu", "k3", "Isi.")
    await make_article(t, "Rumah sederhana", "rumah_tinggal", "Isi.")
    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    assert t.last("budi").labels == ["Keselamatan dan kesehatan kerja (K3) (1)",
                                     "Rumah tinggal (1)", "Kembali ke menu"]
    await t.send("budi", "1")
    assert t.last("budi").text.startswith("Keselamatan dan kesehatan kerja (K3) — pilih judul")
    await make_person(t, "john", locale="en")
    await t.send("john", "menu")
    await t.press("john", "Construction info")
    assert t.last("john").labels[0] == "Occupational health and safety (K3) (1)"


async def test_a_refused_erasure_says_why_once_and_whom_to_call(db: Database,
                                                                clock: StepClock) -> None:
    """Every reason is listed once under one sentence, with the Dinas's office."""
    h = Harness.console(db, clock=clock, config=DINAS)
    await register_warga(h, "budi")
    await make_job(h, await user_id(db, "budi"), status="accepted", code="J-2611-0099")
    await h.press("budi", "Pengaturan")
    await h.press("budi", "Hapus data saya")
    await h.press("budi", "Ya, hapus")
    refused = h.got("budi", "belum bisa dihapus").text
    assert refused.count("belum bisa dihapus") == 1
    assert ("• masih ada pekerjaan yang berjalan (J-2611-0099); selesaikan atau batalkan dulu"
            in refused)
    assert "Telepon: (0778) 462000" in refused
    await h.close()


async def test_kecamatan_numbers_do_not_depend_on_the_person(t: Harness) -> None:
    """Two warga of different kecamatan see one list in one order; each sees their own marked
    in its place, and "9" means Nongsa to both."""
    await register_warga(t, "budi")  # Batam Kota
    await make_person(t, "sari", name="Sari Dewi", kecamatan=NONGSA)
    lists = {}
    for who in ("budi", "sari"):
        await t.send(who, "menu")
        await t.press(who, "Pengaturan")
        await t.press(who, "Ubah kecamatan")
        lists[who] = t.last(who).labels
    assert lists["budi"][:12] == ["Batam Kota ← kecamatan Anda", *KECAMATAN[1:]]
    assert lists["sari"][:12] == [*KECAMATAN[:8], "Nongsa ← kecamatan Anda", *KECAMATAN[9:]]
    await t.send("budi", "9")
    assert "Kecamatan disimpan: Nongsa." in t.got("budi", "disimpan").text


async def test_first_contact_lists_the_kecamatan_in_the_same_order(t: Harness) -> None:
    """Registering, the list is the same fixed list (nothing to mark yet)."""
    await t.send("budi", "halo")
    await t.press("budi", "Setuju")
    await t.send("budi", "Budi Santoso")
    await t.send("budi", "081234567890")
    assert t.last("budi").labels == KECAMATAN


def test_a_decision_keeps_its_note_in_a_paragraph_of_its_own() -> None:
    """"...tukang SIJAKON." and "Catatan Dinas: ..." never run together."""
    text = to_plain(render("admin.complaint_decided_tukang", "id", upheld=True,
                           complaint_code="P-2611-0001", job_code="J-2611-0042",
                           note="Tidak datang dua kali.", object_until=""))
    assert "daftar tukang SIJAKON.\n\nCatatan Dinas: Tidak datang dua kali." in text


async def test_the_cli_previews_articles_and_broadcasts_as_people_read_them(
        db: Database, clock: StepClock, tmp_path: Path) -> None:
    """`info show` and `broadcast preview` show the Markdown rendered, never a `**`."""
    admin = Admin.on(db, tmp_path / "data", clock)
    body = "# Pelatihan K3\n\nPelatihan **gratis** untuk tukang, _Sabtu_ ini.\n\n- Helm\n- Sepatu"
    r = await admin("info", "add", "--title", "Pelatihan K3", "--topic", "k3", "--file", "-",
                    input=body)
    assert r.exit_code == 0, r.output
    shown = (await admin("info", "show", "1")).stdout
    assert "Pelatihan gratis untuk tukang, Sabtu ini." in shown and "• Helm" in shown
    assert "**" not in shown and "Keselamatan dan kesehatan kerja (K3)" in shown
    source = (await admin("info", "show", "1", "--source")).stdout
    assert "Pelatihan **gratis**" in source
    rec = json.loads((await admin("info", "show", "1", "--json")).stdout)
    assert rec["isi"] == body and "**" not in rec["tampilan"]

    r = await admin("broadcast", "create", "--text", "Pelatihan **gratis** hari _Sabtu_.")
    assert r.exit_code == 0, r.output
    preview = (await admin("broadcast", "preview", "1")).stdout
    assert "Pelatihan gratis hari Sabtu." in preview and "**" not in preview
    texts = json.loads((await admin("broadcast", "preview", "1", "--json")).stdout)["text"]
    assert all("**" not in x and "gratis" in x for x in texts.values())


async def test_the_card_speaks_the_persons_language(t: Harness) -> None:
    """In English the card's fields, statuses and history are English words."""
    uid = await make_person(t, "john", name="John Tan", locale="en")
    await make_job(t, uid, status="cancelled", code="J-2611-0050")
    await t.send("john", "menu")
    await t.press("john", "Settings")
    t.replies("john")
    await t.press("john", "My data")
    card = "\n".join(t.texts("john")[1:-1])
    for line in ("Profile", "Name: John Tan", "Role: resident", "Kecamatan: Batam Kota",
                 "Language: English", "• J-2611-0050 · Renovasi rumah · Batam Kota · cancelled"):
        assert line in card, line
    for word in INTERNAL:
        assert word not in card, word
