"""Lookups the command groups share: kecamatan, skills and categories by name, a complaint by
its code (`tukang remove` and `complaints` name complaints the same way)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

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


# --- Indonesian words for stable status codes (human output; `--json` keeps the codes) -------
COMPLAINT_STATUS = {"submitted": "baru, menunggu verifikasi",
                    "awaiting_statement": "menunggu pernyataan tukang",
                    "under_review": "ditinjau Dinas", "upheld": "terbukti",
                    "dismissed": "tidak terbukti"}
TUKANG_STATUS = {"pending": "menunggu aktivasi", "active": "aktif", "rejected": "ditolak",
                 "suspended": "dinonaktifkan sementara", "removed": "dikeluarkan",
                 "erased": "dihapus"}
OBJECTION_STATUS = {"submitted": "menunggu keputusan", "reinstated": "diterima (aktif kembali)",
                    "kept": "ditolak (tetap dikeluarkan)"}


def word(table: dict[str, str], code: str | None) -> str:
    """The Indonesian word for a status code (the code itself when it has none)."""
    return table.get(code or "", code or "")


def size_text(n: int | None) -> str:
    """A file size as an officer reads it: 930 B, 12 KB, 1.4 MB; "hilang" for a missing file."""
    if n is None:
        return "hilang"
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{round(n / 1024)} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def file_size(path: str) -> int | None:
    """The size of a stored file, None when it is gone (retention, a restore elsewhere)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def export_files(paths: list[str], out: Path, prefix: str) -> list[dict[str, Any]]:
    """Copy stored files into `out` as PREFIX-1.jpg, PREFIX-2.pdf, ... (never overwriting);
    returns one row per file: the source, the copy (empty when the file is gone), its size."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, src in enumerate(paths, start=1):
        size = file_size(src)
        dest = out / f"{prefix}-{i}{Path(src).suffix.lower()}"
        n = 1
        while dest.exists():
            n += 1
            dest = out / f"{prefix}-{i}-{n}{Path(src).suffix.lower()}"
        if size is not None:
            shutil.copyfile(src, dest)
        rows.append({"file": src, "salinan": str(dest) if size is not None else "",
                     "ukuran": size})
    return rows
