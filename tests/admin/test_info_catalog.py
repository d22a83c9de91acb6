"""`sijakon-admin info` (what warga read in the bot) and `catalog` (categories, skills, areas)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from storage.db import Database
from storage.models import AuditLog, Category, InfoArticle, SkillCategory
from tests.admin.conftest import Admin
from tests.harness import Harness, register_warga

BODY = "Rumah tinggal di bawah 2 lantai tetap perlu **PBG**.\n\nUrus lewat SIMBG."


async def test_info_add_publish_browse_unpublish(db: Database, t: Harness, admin: Admin,
                                                 tmp_path: Path) -> None:
    """An article from a Markdown file is a draft until published; then warga read it."""
    md = tmp_path / "pbg.md"
    md.write_text(BODY, encoding="utf-8")
    r = await admin("info", "add", "--title", "Izin membangun (PBG)", "--topic", "Perizinan",
                    "--file", str(md), "--as", "siti")
    assert r.exit_code == 0, r.output
    assert "#1" in r.stdout
    r = await admin("info", "add", "--title", "Helm dan sepatu", "--topic", "keselamatan",
                    "--as", "siti", input="Selalu pakai helm di lokasi kerja.\n")
    assert r.exit_code == 0, r.output
    drafts = await admin.json("info", "list", "--drafts")
    assert [(a["id"], a["topik"], a["status"]) for a in drafts] == [
        (2, "keselamatan", "draf"), (1, "perizinan", "draf")]
    nobody = admin.as_(None)
    assert (await nobody("info", "publish", "1")).exit_code == 2  # no officer named
    assert (await admin("info", "publish", "1", "--as", "siti")).exit_code == 0
    assert (await admin("info", "publish", "1", "--as", "siti")).exit_code == 1
    rec = await admin.json("info", "show", "1")
    assert rec["status"] == "terbit" and rec["isi"] == BODY

    await register_warga(t, "budi")
    await t.press("budi", "Info jasa konstruksi")
    assert "Perizinan bangunan (1)" in t.last("budi").labels  # the topic by its title
    await t.press("budi", t.last("budi").labels[0])
    await t.press("budi", "Izin membangun (PBG)")
    assert "Urus lewat SIMBG" in t.last("budi").text

    r = await admin("info", "edit", "1", "--title", "Izin PBG", "--as", "siti")
    assert r.exit_code == 0
    r = await admin("info", "edit", "1", "--file", "-", "--as", "siti", input="Isi baru.\n")
    assert r.exit_code == 0
    async with db.read() as s:
        a = await s.get(InfoArticle, 1)
        assert a is not None and a.title == "Izin PBG" and a.body == "Isi baru."
    assert (await admin("info", "edit", "1", "--as", "siti")).exit_code == 2
    assert (await admin("info", "unpublish", "1", "--as", "siti")).exit_code == 0
    assert (await admin.json("info", "list", "--published")) == []
    assert (await admin("info", "publish", "99", "--as", "siti")).exit_code == 1
    table = await admin("info", "list")
    assert "Izin PBG" in table.stdout
    async with db.read() as s:
        actions = [a.action for a in (await s.execute(
            select(AuditLog).where(AuditLog.subject_type == "info",
                                   AuditLog.actor == "admin:siti").order_by(AuditLog.id)
        )).scalars()]
    assert actions == ["info.add", "info.add", "info.publish", "info.edit", "info.edit",
                       "info.unpublish"]


async def test_info_add_refuses_empty_body(admin: Admin) -> None:
    """An empty body is bad usage (exit 2) and nothing is stored."""
    r = await admin("info", "add", "--title", "Kosong", "--topic", "x", "--as", "siti",
                    input="   \n")
    assert r.exit_code == 2
    assert await admin.json("info", "list") == []


async def test_catalog_lists(admin: Admin) -> None:
    """Categories with their skills, skills with their categories, and the 12 kecamatan."""
    cats = await admin.json("catalog", "categories")
    cat = next(c for c in cats if c["slug"] == "listrik")
    assert cat["keahlian"] == ["ME011001"] and cat["aktif"] is True
    skills = await admin.json("catalog", "skills")
    assert next(s for s in skills if s["kode"] == "ME011001")["kategori"] == ["listrik",
                                                                              "lainnya"]
    areas = await admin.json("catalog", "areas")
    assert len(areas) == 12 and areas[0]["nama"] == "Belakang Padang"
    assert "Sekupang" in areas[0]["tetangga"]
    table = await admin("catalog", "skills")
    assert table.exit_code == 0 and "Tukang Pipa Air" in table.stdout


async def test_catalog_changes(db: Database, t: Harness, admin: Admin) -> None:
    """Add, rename, map, deactivate: warga see the change in the booking menu."""
    r = await admin("catalog", "add-category", "kanopi", "Pasang kanopi", "--as", "siti")
    assert r.exit_code == 0, r.output
    assert (await admin("catalog", "add-category", "kanopi", "Lagi", "--as", "siti")
            ).exit_code == 1
    assert (await admin("catalog", "add-category", "Bad Slug!", "X", "--as", "siti")
            ).exit_code == 2
    r = await admin("catalog", "add-skill", "SI013099", "Tukang Kanopi", "--category", "kanopi",
                    "--category", "las", "--as", "siti")
    assert r.exit_code == 0, r.output
    async with db.read() as s:
        links = (await s.execute(select(SkillCategory).where(
            SkillCategory.skill_code == "SI013099"))).scalars().all()
    assert len(links) == 2
    assert (await admin("catalog", "unmap", "SI013099", "las", "--as", "siti")).exit_code == 0
    assert (await admin("catalog", "unmap", "SI013099", "las", "--as", "siti")).exit_code == 1
    assert (await admin("catalog", "map", "ME013001", "kanopi", "--as", "siti")).exit_code == 0
    assert (await admin("catalog", "map", "ME013001", "kanopi", "--as", "siti")).exit_code == 1
    assert (await admin("catalog", "rename-category", "kanopi", "Kanopi dan pagar",
                        "--as", "siti")).exit_code == 0
    assert (await admin("catalog", "rename-skill", "SI013099", "Tukang Kanopi Baja",
                        "--as", "siti")).exit_code == 0
    assert (await admin("catalog", "deactivate-skill", "SI013099", "--as", "siti")
            ).exit_code == 0
    assert (await admin("catalog", "activate-skill", "SI013099", "--as", "siti")).exit_code == 0
    skills = {s["kode"]: s for s in await admin.json("catalog", "skills")}
    assert skills["SI013099"]["nama"] == "Tukang Kanopi Baja"
    assert skills["SI013099"]["kategori"] == ["kanopi"]

    await register_warga(t, "budi")
    await t.press("budi", "Pesan tukang")
    assert "Kanopi dan pagar" in t.last("budi").labels
    assert (await admin("catalog", "deactivate-category", "kanopi", "--as", "siti")
            ).exit_code == 0
    assert (await admin("catalog", "deactivate-category", "kanopi", "--as", "siti")
            ).exit_code == 1
    await t.send("budi", "menu")
    await t.press("budi", "Pesan tukang")
    assert "Kanopi dan pagar" not in t.last("budi").labels
    async with db.read() as s:
        cat = (await s.execute(select(Category).where(Category.slug == "kanopi"))).scalar_one()
    assert cat.active is False
    assert (await admin("catalog", "activate-category", str(cat.id), "--as", "siti")
            ).exit_code == 0
    assert (await admin("catalog", "map", "NOPE01", "kanopi", "--as", "siti")).exit_code == 1
