"""The small text helpers of every flow, in one place: reading what people type (phone numbers,
dates, names), the row ids buttons carry, masking a phone and clipping a long text.
"""

from __future__ import annotations

import re
from datetime import date

import phonenumbers

EXAMPLE_PHONE = "0812-3456-7890"


def normalize_phone(text: str) -> str | None:
    """A phone number in E.164, or None if it is not a valid one.

    Indonesian numbers may be written any way people write them (0812..., 62812..., +62 812...).
    A foreign number counts when it carries its country code ("+65 9123 4567", or the
    "whatsapp:+1..." a platform vouches for): many Batam homeowners live in Singapore, and
    they are not to be asked for an Indonesian number they do not have.
    """
    raw = text.strip().removeprefix("whatsapp:")
    if not re.fullmatch(r"[\d\s+().-]{6,25}", raw):
        return None
    try:
        number = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException:
        return None
    international = raw.startswith("+")
    if not phonenumbers.is_valid_number(number) or (number.country_code != 62
                                                    and not international):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str | None) -> str:
    """+6281234567890 -> +62812****7890: enough to recognise, not enough to call."""
    if not phone:
        return "-"
    if len(phone) < 9:
        return phone[:3] + "****"
    return phone[:6] + "****" + phone[-4:]


# Characters that change how text is shown without being text: the bidi embeddings, overrides
# and isolates (U+202A-U+202E, U+2066-U+2069) and marks (U+200E, U+200F, U+061C), which can make
# "Budi" display as something else when echoed back to the person or to a tukang (CVE-2021-42574,
# "Trojan Source"); C0/C1 controls and DEL except tab and newline; a byte-order mark.
_INVISIBLE = re.compile("[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f"
                        "\u202a-\u202e\u2066-\u2069\ufeff]")


def clean_text(text: str) -> str:
    """What a person typed, without the invisible characters that control how it is shown
    (`_INVISIBLE`): every adapter passes names and free text through it before a flow sees
    them. Line breaks become plain newlines (CR LF and CR too)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _INVISIBLE.sub("", text)


def clean_name(text: str) -> str | None:
    """A person's name: 2-80 characters with at least two letters."""
    name = " ".join(text.split())
    if not 2 <= len(name) <= 80 or sum(ch.isalpha() for ch in name) < 2:
        return None
    if re.search(r"[<>{}\[\]|\\/@#$%^*=_~`]", name) or re.search(r"\d{3,}", name):
        return None
    return name


def row_id(text: str) -> int | None:
    """A row id from a button payload, or None: forged, empty, "²" or "٣" (digits `int` would
    read but a person never typed), or too large for a database id."""
    return int(text) if re.fullmatch(r"[0-9]{1,12}", text) else None


def clip(text: str, limit: int, *, mark: str = "…") -> str:
    """`text` if it fits in `limit` characters, else cut to fit with `mark` at the end."""
    if len(text) <= limit:
        return text
    return text[:limit - len(mark)].rstrip() + mark


_DATE = re.compile(r"^\s*(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{2,4})\s*$")


def parse_date(text: str) -> date | None:
    """DD-MM-YYYY (or with / . or spaces, two-digit years as 20xx)."""
    m = _DATE.match(text)
    if not m:
        return None
    d, mth, y = (int(g) for g in m.groups())
    if y < 100:
        y += 2000
    try:
        return date(y, mth, d)
    except ValueError:
        return None


def dmy(value: date | str | None) -> str:
    """A date as people in Batam write it (31-12-2026); "-" for none."""
    if value is None or value == "":
        return "-"
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return d.strftime("%d-%m-%Y")
