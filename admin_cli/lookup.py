"""Lookups the command groups share: kecamatan, skills and categories by name, a complaint by
its code (`tukang remove` and `complaints` name complaints the same way)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from admin_cli.common import Refused
from storage.models import Category, Complaint, Kecamatan, Skill


async def kecamatan_names(s: AsyncSession) -> dict[str, str]:
    return {k.code: k.name for k in (await s.execute(select(Kecamatan))).scalars()}


async def skill_names(s: AsyncSession) -> dict[str, str]:
    return {k.code: k.name for k in (await s.execute(select(Skill))).scalars()}


async def category_names(s: AsyncSession) -> dict[int, str]:
    return {c.id or 0: c.name for c in (await s.execute(select(Category))).scalars()}


async def resolve_kecamatan(s: AsyncSession, text: str) -> str:
    """A kecamatan code from its code or (part of) its name; refused when unknown."""
    names = await kecamatan_names(s)
    raw = text.strip()
    if raw in names:
        return raw
    hits = [code for code, name in names.items() if raw.casefold() in name.casefold()]
    exact = [code for code, name in names.items() if raw.casefold() == name.casefold()]
    if exact:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    raise Refused(f"kecamatan {raw!r} tidak dikenal; lihat `sijakon-admin catalog areas`")


async def resolve_skill(s: AsyncSession, text: str) -> str:
    """A skill code from its code or (part of) its name; refused when unknown or ambiguous."""
    names = await skill_names(s)
    raw = text.strip()
    if raw.upper() in names:
        return raw.upper()
    hits = [code for code, name in names.items() if raw.casefold() in name.casefold()]
    if len(hits) == 1:
        return hits[0]
    raise Refused(f"keahlian {raw!r} tidak dikenal atau tidak jelas; "
                  "lihat `sijakon-admin catalog skills`")


async def resolve_category(s: AsyncSession, text: str) -> Category:
    """A category by slug or id; refused when unknown."""
    raw = text.strip()
    stmt = select(Category).where(Category.slug == raw.casefold())
    if raw.isdigit():
        stmt = select(Category).where(Category.id == int(raw))
    cat = (await s.execute(stmt)).scalar_one_or_none()
    if cat is None:
        raise Refused(f"kategori {raw!r} tidak ada; lihat `sijakon-admin catalog categories`")
    return cat


async def find_complaint(s: AsyncSession, ref: str) -> Complaint:
    """A complaint by code or numeric id; refused when there is none."""
    raw = ref.strip()
    stmt = select(Complaint).where(Complaint.code == raw.upper())
    if raw.isdigit():
        stmt = select(Complaint).where(Complaint.id == int(raw))
    c = (await s.execute(stmt)).scalar_one_or_none()
    if c is None:
        raise Refused(f"tidak ada pengaduan {raw!r}")
    return c
