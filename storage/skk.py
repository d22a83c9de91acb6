"""The national SKK holder list: reading the Dinas's CSV export, replacing the stored list,
and checking a tukang's SKK against it.

The Dinas exports the holders from the national registry (LPJK) as a CSV file with the
columns number, name, jabatan kerja, jenjang, valid until. Spreadsheets save it in many ways:
with or without a header row, with a byte-order mark, separated by semicolons (Indonesian
Excel) or commas, dates as 2028-12-31 or 31-12-2028 or 31/12/2028. A bad row is reported by
its line number and the good ones still count: one typo must not keep a thousand holders out.

The check never decides anything: it tells the officer what differs, and the officer decides
(docs/admin-guide.md, "Memeriksa SKK").
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from storage.models import SkkHolder

COLUMNS = ("nomor", "nama", "jabatan kerja", "jenjang", "berlaku sampai")
# what can differ, and how a narrow column says it
PROBLEMS = {"no_list": "belum ada daftar", "not_found": "tidak ada di daftar",
            "name": "nama beda", "expired": "kedaluwarsa", "expiry": "tanggal beda"}
# header words (lower case, without punctuation) naming each column, in the order above
_HEADERS: tuple[tuple[str, ...], ...] = (
    ("nomor", "no", "number", "nomor skk", "no skk", "nomor sertifikat", "no sertifikat",
     "nomor registrasi", "no registrasi", "skk"),
    ("nama", "name", "nama lengkap", "nama pemegang", "nama tenaga kerja"),
    ("jabatan kerja", "jabatan", "jabatan kerja jabker", "jabker", "kualifikasi",
     "subklasifikasi"),
    ("jenjang", "level", "jenjang kualifikasi"),
    ("berlaku sampai", "berlaku hingga", "masa berlaku", "tanggal berlaku", "valid until",
     "berlaku sd", "berlaku", "tanggal kedaluwarsa", "kedaluwarsa", "expiry", "expires"),
)
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d")


def skk_key(number: str) -> str:
    """The number as the list is searched by: no spaces, dots, dashes or slashes, upper-case
    ("1.23-45" and "12345" are one certificate as typed by two people)."""
    return re.sub(r"[\s.\-/]", "", number).upper()


def _name_key(name: str) -> str:
    """A name for comparing: case, punctuation and spacing left out."""
    return " ".join(re.sub(r"[^\w\s]", " ", name.casefold()).split())


_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "mei": 5, "may": 5, "jun": 6, "jul": 7,
           "agu": 8, "ags": 8, "aug": 8, "sep": 9, "okt": 10, "oct": 10, "nov": 11, "des": 12,
           "dec": 12}


def parse_date(text: str) -> date | None:
    """A valid-until date in the forms spreadsheets write (2028-12-31, 31-12-2028, 31/12/2028,
    31.12.2028, 31 Desember 2028); None if it is none of them."""
    raw = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    m = re.fullmatch(r"(\d{1,2})\s+([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{4})", raw)
    month = _MONTHS.get(m[2].lower()) if m else None
    if m is None or month is None:
        return None
    try:
        return date(int(m[3]), month, int(m[1]))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Row:
    """One good row of the file."""

    line: int
    number: str
    name: str
    jabatan: str
    jenjang: str
    valid_until: date

    @property
    def key(self) -> str:
        return skk_key(self.number)


@dataclass(slots=True)
class Parsed:
    """What a file held: its good rows and, per bad line, why it was left out."""

    rows: list[Row] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    header: bool = False
    separator: str = ","


def _decode(data: bytes) -> str:
    """UTF-8 (a byte-order mark dropped), else Windows-1252 (older Excel exports)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _separator(text: str) -> str:
    """Semicolon, tab or comma: whichever the first non-empty line has most of."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = {sep: first.count(sep) for sep in (";", "\t", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _header_order(cells: list[str]) -> list[int] | None:
    """The column positions a header row names (in `COLUMNS` order); None if the row is not
    a header. A header naming only some columns keeps the standard order."""
    words = [" ".join(re.sub(r"[^\w\s]", " ", c.casefold()).split()) for c in cells]
    if any(parse_date(c) for c in cells):
        return None
    found: list[int | None] = []
    for names in _HEADERS:
        found.append(next((i for i, w in enumerate(words) if w in names), None))
    if sum(f is not None for f in found) < 2:
        return None
    if None in found or len(set(found)) < len(found):
        return list(range(len(COLUMNS)))
    return [f for f in found if f is not None]


def parse_csv(data: bytes) -> Parsed:
    """Read the Dinas's export: a header row tolerated (and its column order used), a BOM,
    semicolons or commas; a row that cannot be read goes to `errors` with its line number."""
    text = _decode(data)
    out = Parsed(separator=_separator(text))
    reader = csv.reader(io.StringIO(text), delimiter=out.separator)
    order = list(range(len(COLUMNS)))
    seen: dict[str, int] = {}
    first = True
    line = 1  # the line a record starts on (a quoted cell may span lines)
    for cells in reader:
        start, line = line, reader.line_num + 1
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if first:
            first = False
            header = _header_order(cells)
            if header is not None:
                out.header, order = True, header
                continue
        if len(cells) <= max(order):
            out.errors.append((start, f"{len(cells)} kolom, seharusnya {len(COLUMNS)} "
                                      f"({', '.join(COLUMNS)})"))
            continue
        number, name, jabatan, jenjang, until = (cells[i] for i in order)
        why = None
        valid = parse_date(until)
        if not skk_key(number):
            why = "nomor SKK kosong"
        elif len(number) > 60:
            why = "nomor SKK terlalu panjang"
        elif not name:
            why = "nama kosong"
        elif valid is None:
            why = f"tanggal berlaku {until!r} tidak dikenali (contoh: 2028-12-31 atau 31-12-2028)"
        elif skk_key(number) in seen:
            why = f"nomor SKK {number} sudah ada di baris {seen[skk_key(number)]}"
        if why is not None or valid is None:
            out.errors.append((start, why or "tidak terbaca"))
            continue
        seen[skk_key(number)] = start
        out.rows.append(Row(start, number, name[:160], jabatan[:200], jenjang[:20], valid))
    return out


@dataclass(frozen=True, slots=True)
class Replaced:
    """How the stored list changed."""

    added: int
    changed: int
    removed: int
    unchanged: int


async def replace_list(s: AsyncSession, rows: list[Row], at: datetime) -> Replaced:
    """Make the stored list exactly `rows` (in the caller's transaction): holders new to the
    list are added, those whose name, jabatan, jenjang or date moved are changed, those no
    longer in it are removed."""
    old = {h.key: h for h in (await s.execute(select(SkkHolder))).scalars()}
    new: list[dict[str, object]] = []
    changed = unchanged = 0
    for row in rows:
        h = old.pop(row.key, None)
        if h is None:
            new.append({"key": row.key, "number": row.number, "name": row.name,
                        "jabatan": row.jabatan, "jenjang": row.jenjang,
                        "valid_until": row.valid_until, "imported_at": at})
        elif (h.number, h.name, h.jabatan, h.jenjang, h.valid_until) != (
                row.number, row.name, row.jabatan, row.jenjang, row.valid_until):
            h.number, h.name, h.jabatan, h.jenjang = row.number, row.name, row.jabatan, \
                row.jenjang
            h.valid_until, h.imported_at = row.valid_until, at
            changed += 1
        else:
            unchanged += 1
    if old:
        ids = [h.id for h in old.values()]
        for i in range(0, len(ids), 500):
            await s.execute(delete(SkkHolder).where(col(SkkHolder.id).in_(ids[i:i + 500])))
    await s.flush()
    for i in range(0, len(new), 1000):  # a whole export: one executemany per thousand
        await s.execute(insert(SkkHolder), new[i:i + 1000])
    return Replaced(len(new), changed, len(old), unchanged)


async def list_size(s: AsyncSession) -> int:
    """How many holders the stored list has (0: never imported, or emptied)."""
    return int((await s.execute(select(func.count()).select_from(SkkHolder))).scalar_one())


@dataclass(frozen=True, slots=True)
class Check:
    """How a tukang's SKK compares with the list: `problems` empty means everything matches.

    `listed` is False when the list is empty (nothing to compare with); `holder` is the
    list's entry for the number, if any. Each problem is (code, text): the code one of
    `PROBLEMS`, for short columns and scripts; the text a whole sentence for the officer."""

    listed: bool
    holder: SkkHolder | None
    problems: tuple[tuple[str, str], ...]

    @property
    def ok(self) -> bool:
        return self.listed and not self.problems


async def check(s: AsyncSession, number: str, name: str, valid_until: date,
                today: date) -> Check:
    """Compare what the tukang typed (SKK number, their name, valid-until date) with the
    list; each difference is one problem in the officer's words."""
    if (await s.execute(select(SkkHolder.id).limit(1))).first() is None:
        return Check(False, None, (("no_list", "daftar SKK belum diimpor "
                                               "(sijakon-admin skk import)"),))
    holder = (await s.execute(select(SkkHolder).where(SkkHolder.key == skk_key(number)))
              ).scalar_one_or_none()
    if holder is None:
        return Check(True, None, (("not_found", f"nomor SKK {number} tidak ada di daftar SKK"),))
    problems = []
    if _name_key(holder.name) != _name_key(name):
        problems.append(("name", f"nama berbeda: di daftar SKK {holder.name!r}"))
    if holder.valid_until < today:
        problems.append(("expired",
                         f"SKK kedaluwarsa menurut daftar ({holder.valid_until:%d-%m-%Y})"))
    if holder.valid_until != valid_until:
        problems.append(("expiry",
                         f"masa berlaku berbeda: di daftar SKK {holder.valid_until:%d-%m-%Y}"))
    return Check(True, holder, tuple(problems))
