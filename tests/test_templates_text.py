"""Every message, in both languages, rendered with sample data and read the way a person reads
it: no phrase said twice in a row, no sentence running into the next one."""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import meta

from flows.render import LOCALES, environment, message_keys, render, to_plain

# Realistic values for the variables whose words meet the template's own words; any other
# variable reads as a number, so no made-up word of ours meets the template's.
SAMPLES: dict[str, Any] = {
    "name": "Budi Santoso", "code": "J-2611-0042", "job_code": "J-2611-0042",
    "complaint_code": "P-2611-0001", "phone": "+6281234567890", "example": "0812-3456-7890",
    "reason": "SKK sudah tidak berlaku", "note": "Bukti foto cukup jelas",
    "blocks": [{"kind": "jobs", "codes": "J-2611-0042"}, {"kind": "offers", "codes": "J-2611-0043"}],
    "pdp_name": "Dewi Lestari", "pdp_contact": "0778 123456",
    "dinas_address": "Jl. Engku Putri No. 1, Batam Centre", "dinas_phone": "(0778) 462000",
    "dinas_hours": "Senin–Jumat 08.00–16.00 WIB",
}
ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|dll|dsb|mis|No|Jl|Rp)\.", re.IGNORECASE)
WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
WINDOW = 8  # words: a phrase again this close is the same thing said twice


class Sample:
    """Any variable a template may use, as a string, a number, a list of one or a record;
    `truthy` picks the branch of every `{% if %}` that tests it."""

    def __init__(self, name: str, truthy: bool) -> None:
        self._name, self._truthy = name, truthy

    def __str__(self) -> str:
        return "1234" if self._truthy else ""

    def __html__(self) -> str:
        return html.escape(str(self))

    def __getattr__(self, attr: str) -> Sample:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return Sample(attr, self._truthy)

    def __getitem__(self, key: object) -> Sample:
        return Sample(str(key), self._truthy)

    def __call__(self, *args: object, **kwargs: object) -> Sample:
        return self

    def __iter__(self) -> Iterator[Sample]:
        return iter([Sample(self._name, self._truthy)] if self._truthy else [])

    def __len__(self) -> int:
        return 1 if self._truthy else 0

    def __bool__(self) -> bool:
        return self._truthy

    def __int__(self) -> int:
        return 3 if self._truthy else 0

    __index__ = __int__

    def __float__(self) -> float:
        return float(int(self))

    def __lt__(self, other: Any) -> bool:
        return int(self) < other

    def __gt__(self, other: Any) -> bool:
        return int(self) > other

    def __le__(self, other: Any) -> bool:
        return int(self) <= other

    def __ge__(self, other: Any) -> bool:
        return int(self) >= other

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sample) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)

    def __add__(self, other: Any) -> Any:
        return int(self) + other

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        return int(self) - other

    def __format__(self, spec: str) -> str:
        return format(int(self), spec) if spec else str(self)


def variables(locale: str, key: str) -> set[str]:
    env = environment(locale)
    assert env.loader is not None
    source = env.loader.get_source(env, key + ".j2")[0]
    return meta.find_undeclared_variables(env.parse(source))


def renderings(locale: str, key: str) -> list[str]:
    """The message with every condition true, then every condition false, as plain text."""
    out = []
    for truthy in (True, False):
        values = {n: SAMPLES[n] if truthy and n in SAMPLES else Sample(n, truthy)
                  for n in variables(locale, key)}
        out.append(to_plain(render(key, locale, **values)))
    return out


def run_on(text: str) -> list[str]:
    """Sentences run together: a full stop directly followed by a letter ("SIJAKON.Catatan"),
    abbreviations (e.g., No., Jl.) aside."""
    cleaned = ABBREVIATIONS.sub("", text)
    return [m.group(0) for m in re.finditer(r"\S*\.(?=[^\W\d_])\S*", cleaned)]


def doubled(text: str) -> list[str]:
    """A phrase of three words said again within a few words ("Data Anda belum bisa dihapus.
    Data belum bisa dihapus: ...")."""
    words = [w.casefold() for w in WORD.findall(text)]
    seen: dict[tuple[str, ...], int] = {}
    found = []
    for i in range(len(words) - 2):
        gram = tuple(words[i:i + 3])
        if gram in seen and i - seen[gram] < WINDOW:
            found.append(" ".join(gram))
        seen.setdefault(gram, i)
    return found


def eaten_blank_lines(locale: str, key: str) -> list[str]:
    """A paragraph whose last sentence ends inside a block tag at the end of its line: the
    tag takes the newline after it (trim_blocks), the blank line under it goes, and the next
    paragraph runs on ("...tukang SIJAKON.{% endif %}" then "Catatan Dinas")."""
    env = environment(locale)
    assert env.loader is not None
    lines = env.loader.get_source(env, key + ".j2")[0].rstrip().split("\n")
    return [line for line, after in itertools.pairwise(lines)
            if re.search(r"[.!?]\s*\{%-?[^%+]*%\}\s*$", line) and not after.strip()]


def _problems(locale: str, key: str) -> list[str]:
    problems: list[str] = []
    for text in renderings(locale, key):
        problems += [f"said twice: {p!r}" for p in doubled(text)]
        problems += [f"no space after the full stop: {p!r}" for p in run_on(text)]
    problems += [f"blank line lost after: {p!r}" for p in eaten_blank_lines(locale, key)]
    return sorted(set(problems))


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_reads_cleanly(locale: str) -> None:
    """No phrase twice, no missing space after a full stop, no paragraph run into the next,
    in any message (each listed with what is wrong with it)."""
    found = {key: problems for key in message_keys(locale)
             if (problems := _problems(locale, key))}
    assert not found, "\n".join(f"{locale}/{key}: " + "; ".join(p) for key, p in found.items())


def test_the_checks_catch_the_defects_they_are_for() -> None:
    """The defects of issue 16 are caught by the checks (so a pass means something)."""
    assert doubled("Data Anda belum bisa dihapus. Data belum bisa dihapus: ada pesanan.")
    assert run_on("dari daftar tukang SIJAKON.Catatan Dinas: x") == ["SIJAKON.Catatan"]
    assert not run_on("Contoh: Jl. Sudirman No. 12, e.g. here. Rp1.500.000 Batam.")
    assert not doubled("Survei · Sarana dan prasarana\nBagaimana pendapat Saudara tentang "
                       "kualitas sarana dan prasarana?")


def test_every_message_has_both_languages() -> None:
    """Each key exists in Indonesian and English (one file per key and language)."""
    assert set(message_keys("id")) == set(message_keys("en"))
