"""Message templates: one Jinja2 file per key under messages/<locale>/, StrictUndefined.

Templates write Telegram-style HTML (<b>, <i>, <a href>); Jinja's autoescape escapes every
variable, so a name like "<Budi & Sons>" can never break the markup. `to_plain` and
`to_whatsapp` turn the result into what the console and WhatsApp read. Text the Dinas writes
in Markdown (articles, broadcasts) enters that same subset through `markdown_html`, so each
channel shows it its own way and nobody reads a raw `**`.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

MESSAGES_DIR = Path(__file__).resolve().parent.parent / "messages"
LOCALES = ("id", "en")
DEFAULT_LOCALE = "id"
SUFFIX = ".j2"
_GAP = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


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
    # an optional part left out (a Dinas contact not configured) leaves no gap of blank lines
    return _GAP.sub("\n\n", template.render(**vars)).strip()


def message_keys(locale: str = DEFAULT_LOCALE) -> list[str]:
    return sorted(p.name.removesuffix(SUFFIX) for p in (MESSAGES_DIR / locale).glob("*" + SUFFIX))


_TAG = re.compile(r"</?(b|i|u|s|code|pre)>")
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)


def _link_text(m: re.Match[str]) -> str:
    """A link where no link can be pressed: its words, then the address (once if the same)."""
    href, label = m.group(1), m.group(2)
    return label if html.unescape(href) == html.unescape(_TAG.sub("", label)) \
        else f"{label} ({href})"


@lru_cache(maxsize=4096)
def to_plain(text: str) -> str:
    """HTML-ish message text to plain text (console, logs); the same button labels come by on
    every message, so they are converted once."""
    return html.unescape(_TAG.sub("", _LINK.sub(_link_text, text)))


def to_whatsapp(text: str) -> str:
    """HTML-ish message text to WhatsApp's own markup (*bold*, _italic_)."""
    text = _LINK.sub(_link_text, text)
    text = re.sub(r"</?b>", "*", text)
    text = re.sub(r"</?i>", "_", text)
    return html.unescape(_TAG.sub("", text))


def escape(text: str) -> str:
    return html.escape(text, quote=False)


# --- Markdown from the Dinas -----------------------------------------------------------------

# CommonMark without raw HTML (it shows as the text it is) plus ~~strikethrough~~ (its words
# kept, the marks dropped); markdown-it refuses javascript: and data: links by itself
_MD = MarkdownIt("commonmark", {"html": False}).enable("strikethrough")
_INLINE_TAGS = {"strong_open": "<b>", "strong_close": "</b>", "em_open": "<i>",
                "em_close": "</i>"}


def _inline(tokens: list[Token]) -> str:
    """The inline tokens of one block as the message subset: bold, italic, links."""
    out: list[str] = []
    for tok in tokens:
        if tok.type in _INLINE_TAGS:
            out.append(_INLINE_TAGS[tok.type])
        elif tok.type == "link_open":
            out.append(f'<a href="{html.escape(str(tok.attrGet("href") or ""))}">')
        elif tok.type == "link_close":
            out.append("</a>")
        elif tok.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif tok.type == "image":
            out.append(escape(tok.content or str(tok.attrGet("alt") or "")))
        elif tok.type in ("text", "code_inline", "html_inline"):
            out.append(escape(tok.content))
    return "".join(out)


def markdown_html(text: str) -> Markup:
    """Markdown as the message subset (<b>, <i>, <a href>), safe to put into a template.

    Headings become bold lines, list items "•" (or their number) lines, code its plain text,
    blocks are separated by a blank line: what reads well in a chat on every channel.
    """
    blocks: list[str] = []
    prefix: list[str] = []  # the list markers open around the current block
    numbers: list[int | None] = []  # per open list: the next number, None for bullets
    tight = False
    for tok in _MD.parse(text):
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            start = tok.attrGet("start")
            numbers.append(int(start or 1) if tok.type == "ordered_list_open" else None)
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            numbers.pop()
        elif tok.type == "list_item_open":
            n = numbers[-1]
            mark = "•" if n is None else f"{n}."
            if n is not None:
                numbers[-1] = n + 1
            prefix.append("  " * (len(numbers) - 1) + mark + " ")
            tight = True
        elif tok.type == "list_item_close":
            prefix.pop()
        elif tok.type == "inline":
            lead = prefix[-1] if prefix and tight else ("  " * len(numbers) if prefix else "")
            tight = False
            content = _inline(tok.children or [])
            if blocks and blocks[-1] == "<h>":
                blocks[-1] = f"<b>{content}</b>"
            else:
                blocks.append(lead + content)
        elif tok.type == "heading_open":
            blocks.append("<h>")
        elif tok.type in ("fence", "code_block"):
            blocks.append(escape(tok.content.rstrip("\n")))
        elif tok.type == "hr":
            blocks.append("———")
    return Markup(_join(blocks))  # nosec B704 # every text in it went through escape()


def _join(blocks: list[str]) -> str:
    """List lines one under another; everything else apart by a blank line."""
    out = ""
    for block in blocks:
        if out:
            is_item = re.match(r"\s*(•|\d+\.) ", block) is not None
            out += "\n" if is_item and re.search(r"(^|\n)\s*(•|\d+\.) [^\n]*$", out) \
                else "\n\n"
        out += block
    return out
