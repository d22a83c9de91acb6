"""Every message key renders in both languages, with the same variables in each."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jinja2 import meta

from flows.render import LOCALES, MESSAGES_DIR, environment, message_keys, render, to_plain


class Sample:
    """Stands in for any variable: a string, a number, a list, an object with attributes."""

    def __init__(self, name: str = "x") -> None:
        self.name = name

    def __str__(self) -> str:
        return f"<{self.name}>"

    def __html__(self) -> str:
        return f"&lt;{self.name}&gt;"  # proves autoescaping reaches every variable

    def __getattr__(self, item: str) -> Sample:
        if item.startswith("__"):
            raise AttributeError(item)
        return Sample(f"{self.name}.{item}")

    def __getitem__(self, item: Any) -> Sample:
        return Sample(f"{self.name}[{item}]")

    def __iter__(self) -> Any:
        return iter([Sample(f"{self.name}[0]"), Sample(f"{self.name}[1]")])

    def __len__(self) -> int:
        return 2

    def __bool__(self) -> bool:
        return True

    def __int__(self) -> int:
        return 2

    def __float__(self) -> float:
        return 2.0

    def __index__(self) -> int:
        return 2

    def __format__(self, spec: str) -> str:
        return format(2, spec) if spec else str(self)

    def _cmp(self, other: Any) -> bool:
        return True

    __lt__ = __le__ = __gt__ = __ge__ = _cmp

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return hash(self.name)

    def __add__(self, other: Any) -> Any:
        return other if isinstance(other, int | float) else self

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __add__


def variables(key: str, locale: str) -> set[str]:
    env = environment(locale)
    source = (MESSAGES_DIR / locale / f"{key}.j2").read_text(encoding="utf-8")
    return meta.find_undeclared_variables(env.parse(source))


def test_both_locales_have_the_same_keys() -> None:
    """No message exists in one language only."""
    assert set(message_keys("id")) == set(message_keys("en"))
    assert len(message_keys("id")) > 20


@pytest.mark.parametrize("locale", LOCALES)
def test_every_key_renders(locale: str) -> None:
    """Each template renders with StrictUndefined and stays within Telegram's text limit."""
    for key in message_keys(locale):
        names = variables(key, locale)
        text = render(key, locale, **{n: Sample(n) for n in names})
        assert text.strip(), key
        assert len(text) <= 4096, key
        tags = set(re.findall(r"</?([a-zA-Z]+)[^>]*>", text))
        assert tags <= {"b", "i"}, (key, tags)  # Telegram HTML that WhatsApp can mirror
        assert to_plain(text).strip(), key


def test_variables_match_between_locales() -> None:
    """A variable used in Indonesian is used in English too (and the other way round)."""
    for key in message_keys("id"):
        assert variables(key, "id") == variables(key, "en"), key


def test_variables_are_escaped() -> None:
    """A name with markup characters cannot break the HTML the adapters send."""
    text = render("start.registered", "id", name="<b>Budi & Co</b>")
    assert "&lt;b&gt;Budi &amp; Co&lt;/b&gt;" in text
