"""`sijakon-admin skk import` and the SKK check an officer sees before activating a tukang."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import AuditLog, SkkHolder, TukangProfile
from storage.skk import parse_csv
from tests.admin.conftest import Admin, make_tukang
from tests.harness import StepClock

FIRST = (
    "\ufeffNomor SKK;Nama;Jabatan Kerja;Jenjang;Berlaku Sampai\n"
    "1.2.3.4567;Joko Susilo;Tukang Cat Bangunan Gedung;3;31-12-2029\n"
    "SKK-200;Rina Marlina;Tukang Pasang Bata;2;2020-06-30\n"
    "SKK-300;Agus Salim;Tukang Listrik;3;2028-01-15\n"
    "SKK-400;;Tukang Kayu;2;2028-01-15\n"  # line 5: no name
    "\n"
    "SKK-500;Dewi Lestari;Tukang Besi;3;tiga puluh Juni\n"  # line 7: a date nobody reads
    "SKK-600;Budi Hartono;Tukang Plester;2;30/06/2030\n"
)


@pytest.fixture
def admin_any(any_db: Database, tmp_path: Path, clock: StepClock) -> Admin:
    """The CLI on SQLite and on PostgreSQL."""
    return Admin.on(any_db, tmp_path / "data", clock)


def write(tmp_path: Path, text: str, name: str = "skk.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_parse_tolerates_what_spreadsheets_write() -> None:
    """BOM, header, semicolons, three date forms; bad rows named by their line."""
    parsed = parse_csv(FIRST.encode())
    assert parsed.header and parsed.separator == ";"
    assert [r.number for r in parsed.rows] == ["1.2.3.4567", "SKK-200", "SKK-300", "SKK-600"]
    assert parsed.rows[0].valid_until == date(2029, 12, 31)
    assert parsed.rows[-1].valid_until == date(2030, 6, 30)
    assert [n for n, _ in parsed.errors] == [5, 7]
    assert "nama kosong" in parsed.errors[0][1]
    assert "tidak dikenali" in parsed.errors[1][1]


def test_parse_commas_without_header_and_other_orders() -> None:
    """No header: the standard order; a header in another order is followed; a short row,
    a repeated number and Windows-1252 text are handled."""
    plain = parse_csv(b"A1,Siti Aminah,Tukang Cat,2,2029-01-01\nA2,Only two\n"
                      b"A-1,Siti Lain,Tukang Cat,2,2029-01-01\n")
    assert not plain.header and [r.key for r in plain.rows] == ["A1"]
    assert [n for n, _ in plain.errors] == [2, 3]
    assert "2 kolom" in plain.errors[0][1] and "sudah ada di baris 1" in plain.errors[1][1]
    moved = parse_csv("Nama,Berlaku sampai,Nomor,Jenjang,Jabatan kerja\n"
                      "Éko Prasetyo,01.02.2030,B7,3,Tukang Besi\n".encode("cp1252"))
    [row] = moved.rows
    assert (row.number, row.name, row.jabatan, row.jenjang) == ("B7", "Éko Prasetyo",
                                                                "Tukang Besi", "3")
    assert row.valid_until == date(2030, 2, 1)
    spelled = parse_csv(b"C1;Ani;Tukang Cat;1;31 Desember 2028\nC2;Ina;Tukang Cat;1;31 Juni 2028\n")
    assert [r.valid_until for r in spelled.rows] == [date(2028, 12, 31)]
    assert [n for n, _ in spelled.errors] == [2]


async def holders(db: Database) -> dict[str, SkkHolder]:
    async with db.read() as s:
        return {h.number: h for h in (await s.execute(select(SkkHolder))).scalars()}


async def test_import_then_reimport_replaces_the_list(any_db: Database, admin_any: Admin,
                                                      tmp_path: Path) -> None:
    """The first import adds the good rows and names the bad lines; a re-import says how
    many were added, changed and removed; both are in the audit log."""
    never = await admin_any.as_("rina")("skk", "status")
    assert "belum pernah diimpor" in never.stdout
    first = await admin_any("skk", "import", write(tmp_path, FIRST))
    assert first.exit_code == 0, first.output
    out = first.stdout
    assert "4 baris terbaca, 2 baris dilewati" in out
    assert "Ditambah 4, diubah 0, dihapus 0, tetap 0" in out
    assert "daftar kini berisi 4 pemegang SKK" in out
    assert "Baris 5 dilewati: nama kosong" in out and "Baris 7 dilewati" in out
    assert set(await holders(any_db)) == {"1.2.3.4567", "SKK-200", "SKK-300", "SKK-600"}

    second = ("1234567,Joko Susilo,Tukang Cat Bangunan Gedung,3,2029-12-31\n"  # same, no dots
              "SKK-200,Rina Marlina,Tukang Pasang Bata,2,2030-06-30\n"  # renewed
              "SKK-300,Agus Salim,Tukang Listrik,3,2028-01-15\n"
              "SKK-700,Yanti Sari,Tukang Keramik,1,2031-03-01\n")  # new; SKK-600 gone
    again = await admin_any("skk", "import", write(tmp_path, second, "baru.csv"))
    assert again.exit_code == 0, again.output
    assert "Ditambah 1, diubah 2, dihapus 1, tetap 1" in again.stdout
    listed = await holders(any_db)
    assert set(listed) == {"1234567", "SKK-200", "SKK-300", "SKK-700"}
    assert listed["SKK-200"].valid_until == date(2030, 6, 30)
    async with any_db.read() as s:
        rows = (await s.execute(select(AuditLog).where(AuditLog.action == "skk.import")
                                .order_by(AuditLog.id))).scalars().all()
    assert [r.actor for r in rows] == ["admin:siti", "admin:siti"]
    seen = await admin_any.as_("rina")("skk", "status")  # a viewer may look
    assert "berisi 4 pemegang, terakhir diimpor 23-11-2026 09:00 oleh siti dari baru.csv" \
        in seen.stdout
    assert {"file": "skk.csv", "rows": 4, "skipped": 2, "added": 4,
            "bad_lines": [5, 7]}.items() <= rows[0].detail.items()
    assert {"added": 1, "changed": 2, "removed": 1, "total": 4}.items() <= rows[1].detail.items()


async def test_an_import_that_empties_most_of_the_list_asks_first(
        any_db: Database, admin_any: Admin, tmp_path: Path) -> None:
    """A file that would drop more than half the list (a wrong export?) is confirmed first;
    a file with no readable row changes nothing."""
    await admin_any("skk", "import", write(tmp_path, FIRST))
    small = write(tmp_path, "SKK-300;Agus Salim;Tukang Listrik;3;2028-01-15\n", "kecil.csv")
    no = await admin_any("skk", "import", small, input="n\n")
    assert no.exit_code == 1 and "menghapus 3 dari 4" in no.stdout
    assert len(await holders(any_db)) == 4
    bad = await admin_any("skk", "import", write(tmp_path, "nomor,nama\nx,y\n", "rusak.csv"))
    assert bad.exit_code == 1 and "tidak ada baris yang terbaca" in bad.stderr
    assert len(await holders(any_db)) == 4
    yes = await admin_any("skk", "import", small, "--yes")
    assert yes.exit_code == 0 and "dihapus 3" in yes.stdout


async def test_viewer_cannot_import(any_db: Database, admin_any: Admin, tmp_path: Path) -> None:
    """Replacing the list is an admin's change; a viewer is refused before anything is read."""
    r = await admin_any.as_("rina")("skk", "import", write(tmp_path, FIRST))
    assert r.exit_code == 2 and "berperan viewer" in r.stderr
    assert await holders(any_db) == {}


async def test_show_and_activate_warn_on_each_mismatch(any_db: Database, admin_any: Admin,
                                                       tmp_path: Path) -> None:
    """Before any import the officer is told there is no list; afterwards each difference
    (not found, name, expired, expiry) is a warning, a match says so, and the officer's
    activation goes through either way, with what was shown in its audit row."""
    joko = await make_tukang(any_db, "joko", "Joko Susilo", skk="1234567",
                             valid_until=date(2029, 12, 31))
    none_yet = await admin_any("tukang", "show", str(joko))
    assert "daftar SKK belum diimpor" in none_yet.stdout
    await admin_any("skk", "import", write(tmp_path, FIRST))
    shown = await admin_any("tukang", "show", str(joko))
    assert "cocok dengan daftar SKK (Tukang Cat Bangunan Gedung, jenjang 3)" in shown.stdout
    assert (await admin_any.json("tukang", "show", str(joko)))["cek_skk"]["cocok"] is True

    rina = await make_tukang(any_db, "rina", "Rina Marlina", skk="SKK-200",
                             valid_until=date(2030, 6, 30), phone="+6281299990002")
    agus = await make_tukang(any_db, "agus", "Agus Salimin", skk="SKK-300",
                             valid_until=date(2028, 1, 15), phone="+6281299990003")
    dewi = await make_tukang(any_db, "dewi", "Dewi Lestari", skk="SKK-999",
                             phone="+6281299990004")
    pending = {r["nama"]: r["cek_skk"] for r in await admin_any.json("tukang", "pending")}
    assert pending["Joko Susilo"]["cocok"] is True
    assert pending["Rina Marlina"]["masalah"] == [
        "SKK kedaluwarsa menurut daftar (30-06-2020)",
        "masa berlaku berbeda: di daftar SKK 30-06-2020"]
    assert pending["Agus Salimin"]["masalah"] == ["nama berbeda: di daftar SKK 'Agus Salim'"]
    assert pending["Dewi Lestari"]["masalah"] == ["nomor SKK SKK-999 tidak ada di daftar SKK"]
    table = await admin_any("tukang", "pending")
    assert "PERINGATAN: nama beda" in table.stdout  # the column is narrow: a short word each
    assert "PERINGATAN: tidak ada di" in table.stdout
    assert "PERINGATAN: kedaluwarsa," in table.stdout

    for uid, warning in ((rina, "SKK kedaluwarsa menurut daftar"),
                         (agus, "nama berbeda"), (dewi, "nomor SKK SKK-999 tidak ada")):
        r = await admin_any("tukang", "activate", str(uid), "--yes")
        assert r.exit_code == 0, r.output
        assert f"PERINGATAN SKK: {warning}" in r.stdout and "keputusan tetap" in r.stdout
    ok = await admin_any("tukang", "activate", str(joko), "--yes")
    assert "Cek SKK: cocok dengan daftar SKK" in ok.stdout and "PERINGATAN" not in ok.stdout
    async with any_db.read() as s:
        statuses = (await s.execute(select(TukangProfile.status))).scalars().all()
        decided = (await s.execute(select(AuditLog).where(
            AuditLog.action == "tukang.activate", AuditLog.subject_id == dewi))).scalar_one()
        checked = (await s.execute(select(AuditLog).where(
            AuditLog.action == "admin.view", AuditLog.subject_id == dewi))).scalars().all()
    assert set(statuses) == {"active"}
    assert decided.detail["skk_check"] == ["nomor SKK SKK-999 tidak ada di daftar SKK"]
    assert any(c.detail["what"] == "tukang.skk_check" for c in checked)
