"""Message templates: one Jinja2 file per key under messages/<locale>/, StrictUndefined.

Templates write Telegram-style HTML (<b>, <i>); Jinja's autoescape escapes every variable, so
a name like "<Budi & Sons>" can never break the markup. `to_plain` and `to_whatsapp` turn the
result into what the console and WhatsApp read.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

MESSAGES_DIR = Path(__file__).resolve().parent.parent / "messages"
LOCALES = ("id", "en")
DEFAULT_LOCALE = "id"
SUFFIX = ".j2"


def _rupiah(value: int | float) -> str:
    return "Rp" + f"{int(value):,}".replace(",", ".")


@lru_cache(maxsize=len(LOCALES))
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(MESSAGES_DIR / locale),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # templates do not change while the bot runs; saves a stat() per message
    )
    env.filters["rupiah"] = _rupiah
    return env


def render(key: str, locale: str = DEFAULT_LOCALE, **vars: Any) -> str:
    """Render a message key; an unknown locale falls back to Indonesian."""
    if not vars:
        return _render_constant(key, locale)
    return _render(key, locale, vars)


@lru_cache(maxsize=2048)
def _render_constant(key: str, locale: str) -> str:
    """Labels and fixed texts render the same every time: render them once."""
    return _render(key, locale, {})


def _render(key: str, locale: str, vars: dict[str, Any]) -> str:
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    try:
        template = environment(locale).get_template(key + SUFFIX)
    except TemplateNotFound:
        raise KeyError(f"no message {key!r} for locale {locale!r}") from None
    return template.render(**vars).strip()


def message_keys(locale: str = DEFAULT_LOCALE) -> list[str]:
    return sorted(p.name.removesuffix(SUFFIX) for p in (MESSAGES_DIR / locale).glob("*" + SUFFIX))


_TAG = re.compile(r"</?(b|i|u|s|code|pre)>")


@lru_cache(maxsize=4096)
def to_plain(text: str) -> str:
    """HTML-ish message text to plain text (console, logs); the same button labels come by on
    every message, so they are converted once."""
    return html.unescape(_TAG.sub("", text))


def to_whatsapp(text: str) -> str:
    """HTML-ish message text to WhatsApp's own markup (*bold*, _italic_)."""
    text = re.sub(r"</?b>", "*", text)
    text = re.sub(r"</?i>", "_", text)
    return html.unescape(_TAG.sub("", text))


def escape(text: str) -> str:
    return html.escape(text, quote=False)
