"""`sijakon-admin catalog`: job categories, SKK skills (jabatan kerja) and the areas.

Categories and skills are never deleted (jobs and tukang point at them); they are
deactivated, which hides them from new bookings and registrations.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from sqlalchemy import delete, func, select

from admin_cli.common import AsOpt, JsonOpt, Refused, audit, emit, operator, run, say
from admin_cli.lookup import resolve_category
from storage.db import Database
from storage.models import Category, Kecamatan, Skill, SkillCategory, TukangProfile

app = typer.Typer(help="Katalog: kategori pekerjaan, keahlian (jabatan kerja), wilayah.",
                  no_args_is_help=True)

SlugArg = Annotated[str, typer.Argument(help="Slug kategori (mis. atap) atau ID-nya.")]
CodeArg = Annotated[str, typer.Argument(help="Kode jabatan kerja (mis. SI013001).")]
NameArg = Annotated[str, typer.Argument(help="Nama yang dibaca warga/tukang.")]


def _name(text: str, limit: int) -> str:
    name = " ".join(text.split())
    if not name or len(name) > limit:
        raise typer.BadParameter(f"nama harus 1-{limit} karakter")
    return name


async def _skill(s: Any, code: str) -> Skill:
    skill = await s.get(Skill, code.strip().upper())
    if skill is None:
        raise Refused(f"keahlian {code!r} tidak ada; lihat `sijakon-admin catalog skills`")
    return skill


@app.command("categories")
def categories(json_: JsonOpt = False) -> None:
    """Kategori pekerjaan dan keahlian yang melayaninya."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            cats = (await s.execute(select(Category).order_by(Category.position,
                                                              Category.id))).scalars().all()
            links = (await s.execute(select(SkillCategory))).scalars().all()
        by_cat: dict[int, list[str]] = {}
        for link in links:
            by_cat.setdefault(link.category_id, []).append(link.skill_code)
        return [{"id": c.id, "slug": c.slug, "nama": c.name, "urutan": c.position,
                 "aktif": c.active, "keahlian": sorted(by_cat.get(c.id or 0, []))} for c in cats]

    emit(run(go), ["id", "slug", "nama", "urutan", "aktif", "keahlian"], as_json=json_,
         title="Kategori pekerjaan")


@app.command("skills")
def skills(json_: JsonOpt = False) -> None:
    """Keahlian (jabatan kerja SKK) dan kategori yang dilayani masing-masing."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            rows = (await s.execute(select(Skill).order_by(Skill.code))).scalars().all()
            links = (await s.execute(select(SkillCategory.skill_code, Category.slug)
                                     .join(Category, Category.id == SkillCategory.category_id)
                                     .order_by(Category.position))).all()
        by_skill: dict[str, list[str]] = {}
        for code, slug in links:
            by_skill.setdefault(code, []).append(slug)
        return [{"kode": k.code, "nama": k.name, "aktif": k.active,
                 "kategori": by_skill.get(k.code, [])} for k in rows]

    emit(run(go), ["kode", "nama", "aktif", "kategori"], as_json=json_,
         title="Keahlian (jabatan kerja)")


@app.command("areas")
def areas(json_: JsonOpt = False) -> None:
    """Kecamatan layanan, tetangganya, dan jumlah tukang aktif yang melayani."""

    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.read() as s:
            kec = (await s.execute(select(Kecamatan).order_by(Kecamatan.code))).scalars().all()
            served = (await s.execute(select(TukangProfile.areas).where(
                TukangProfile.status == "active"))).scalars().all()
        names = {k.code: k.name for k in kec}
        count: dict[str, int] = {}
        for areas_ in served:
            for code in areas_ or []:
                count[code] = count.get(code, 0) + 1
        return [{"kode": k.code, "nama": k.name,
                 "tetangga": [names.get(n, n) for n in k.neighbours or []],
                 "tukang_aktif": count.get(k.code, 0)} for k in kec]

    emit(run(go), ["kode", "nama", "tetangga", "tukang_aktif"], as_json=json_,
         title="Wilayah layanan (kecamatan Kota Batam)")


@app.command("add-category")
def add_category(
    slug: Annotated[str, typer.Argument(help="Slug huruf kecil, mis. kanopi.")],
    name: NameArg,
    position: Annotated[int | None, typer.Option(help="Urutan di menu.")] = None,
    as_: AsOpt = None,
) -> None:
    """Tambah kategori pekerjaan."""
    who = operator(as_)
    slug_ = slug.strip().casefold()
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", slug_):
        raise typer.BadParameter("slug: huruf kecil, angka dan '-', paling panjang 40")
    name_ = _name(name, 80)

    async def go(db: Database) -> int:
        async with db.transaction() as s:
            if (await s.execute(select(Category).where(Category.slug == slug_))).first():
                raise Refused(f"kategori {slug_!r} sudah ada")
            pos = position
            if pos is None:
                pos = int((await s.execute(select(func.max(Category.position)))).scalar() or 0) + 1
            cat = Category(slug=slug_, name=name_, position=pos, active=True)
            s.add(cat)
            await s.flush()
            assert cat.id is not None
            audit(s, who, "catalog.add_category", "category", cat.id, slug=slug_, name=name_)
            return cat.id

    cid = run(go)
    say(f"Kategori #{cid} {slug_} «{name_}» ditambahkan. Petakan keahlian dengan: "
        f"sijakon-admin catalog map KODE {slug_}")


@app.command("rename-category")
def rename_category(slug: SlugArg, name: NameArg, as_: AsOpt = None) -> None:
    """Ganti nama kategori."""
    who = operator(as_)
    name_ = _name(name, 80)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            cat = await resolve_category(s, slug)
            audit(s, who, "catalog.rename_category", "category", cat.id, before=cat.name,
                  after=name_)
            cat.name = name_

    run(go)
    say(f"Kategori {slug} sekarang bernama «{name_}».")


def _set_category_active(slug: str, as_: str | None, active: bool) -> None:
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            cat = await resolve_category(s, slug)
            if cat.active == active:
                raise Refused(f"kategori {cat.slug} sudah {'aktif' if active else 'nonaktif'}")
            cat.active = active
            audit(s, who, "catalog.activate_category" if active
                  else "catalog.deactivate_category", "category", cat.id, slug=cat.slug)

    run(go)
    say(f"Kategori {slug} {'diaktifkan' if active else 'dinonaktifkan'}.")


@app.command("deactivate-category")
def deactivate_category(slug: SlugArg, as_: AsOpt = None) -> None:
    """Sembunyikan kategori dari pemesanan baru (data lama tetap)."""
    _set_category_active(slug, as_, False)


@app.command("activate-category")
def activate_category(slug: SlugArg, as_: AsOpt = None) -> None:
    """Tampilkan lagi kategori yang dinonaktifkan."""
    _set_category_active(slug, as_, True)


@app.command("add-skill")
def add_skill(
    code: CodeArg, name: NameArg,
    category: Annotated[list[str] | None, typer.Option(
        "--category", help="Kategori yang dilayani (boleh berulang).")] = None,
    as_: AsOpt = None,
) -> None:
    """Tambah keahlian (jabatan kerja SKK) dan kategori yang dilayaninya."""
    who = operator(as_)
    code_ = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{4,16}", code_):
        raise typer.BadParameter("kode: 4-16 huruf/angka, mis. SI013001")
    name_ = _name(name, 120)

    async def go(db: Database) -> list[str]:
        async with db.transaction() as s:
            if await s.get(Skill, code_) is not None:
                raise Refused(f"keahlian {code_} sudah ada")
            s.add(Skill(code=code_, name=name_, active=True))
            await s.flush()
            slugs = []
            for ref in category or []:
                cat = await resolve_category(s, ref)
                s.add(SkillCategory(skill_code=code_, category_id=cat.id or 0))
                slugs.append(cat.slug)
            audit(s, who, "catalog.add_skill", "skill", None, code=code_, name=name_,
                  categories=slugs)
            return slugs

    slugs = run(go)
    say(f"Keahlian {code_} «{name_}» ditambahkan"
        + (f", melayani: {', '.join(slugs)}." if slugs else " (belum dipetakan ke kategori)."))


@app.command("rename-skill")
def rename_skill(code: CodeArg, name: NameArg, as_: AsOpt = None) -> None:
    """Ganti nama keahlian."""
    who = operator(as_)
    name_ = _name(name, 120)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            skill = await _skill(s, code)
            audit(s, who, "catalog.rename_skill", "skill", None, code=skill.code,
                  before=skill.name, after=name_)
            skill.name = name_

    run(go)
    say(f"Keahlian {code.upper()} sekarang bernama «{name_}».")


def _set_skill_active(code: str, as_: str | None, active: bool) -> None:
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            skill = await _skill(s, code)
            if skill.active == active:
                raise Refused(f"keahlian {skill.code} sudah {'aktif' if active else 'nonaktif'}")
            skill.active = active
            audit(s, who, "catalog.activate_skill" if active else "catalog.deactivate_skill",
                  "skill", None, code=skill.code)

    run(go)
    say(f"Keahlian {code.upper()} {'diaktifkan' if active else 'dinonaktifkan'}.")


@app.command("deactivate-skill")
def deactivate_skill(code: CodeArg, as_: AsOpt = None) -> None:
    """Sembunyikan keahlian dari pendaftaran tukang baru."""
    _set_skill_active(code, as_, False)


@app.command("activate-skill")
def activate_skill(code: CodeArg, as_: AsOpt = None) -> None:
    """Tampilkan lagi keahlian yang dinonaktifkan."""
    _set_skill_active(code, as_, True)


@app.command("map")
def map_(code: CodeArg, slug: SlugArg, as_: AsOpt = None) -> None:
    """Keahlian KODE melayani kategori SLUG."""
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            skill = await _skill(s, code)
            cat = await resolve_category(s, slug)
            if await s.get(SkillCategory, (skill.code, cat.id)) is not None:
                raise Refused(f"{skill.code} sudah melayani {cat.slug}")
            s.add(SkillCategory(skill_code=skill.code, category_id=cat.id or 0))
            audit(s, who, "catalog.map", "skill", None, code=skill.code, category=cat.slug)

    run(go)
    say(f"{code.upper()} sekarang melayani kategori {slug}.")


@app.command("unmap")
def unmap(code: CodeArg, slug: SlugArg, as_: AsOpt = None) -> None:
    """Keahlian KODE tidak lagi melayani kategori SLUG."""
    who = operator(as_)

    async def go(db: Database) -> None:
        async with db.transaction() as s:
            skill = await _skill(s, code)
            cat = await resolve_category(s, slug)
            res = await s.execute(delete(SkillCategory).where(
                SkillCategory.skill_code == skill.code, SkillCategory.category_id == cat.id))
            if res.rowcount == 0:
                raise Refused(f"{skill.code} memang tidak melayani {cat.slug}")
            audit(s, who, "catalog.unmap", "skill", None, code=skill.code, category=cat.slug)

    run(go)
    say(f"{code.upper()} tidak lagi melayani kategori {slug}.")
