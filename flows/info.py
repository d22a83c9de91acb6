"""Info jasa konstruksi: the articles the Dinas publishes, browsed by topic.

Topics -> titles -> the article. Lists longer than a page get "Berikutnya"/"Sebelumnya"
buttons; a long article is read in parts. Topics are referred to by their position in the list
shown (kept in the conversation data), so button payloads stay short whatever the topic is
called (Telegram's callback data is 64 bytes). A topic is stored as the short word the Dinas
typed ("k3"); people read its title (`topic_title`). Articles are Markdown, shown in each
channel's own markup (flows/render.py `markdown_html`).

Information is public: someone who declined the privacy notice reads it too (flows/start.py,
`PUBLIC`), and goes back to their own menu, not the main menu of registered people.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from flows.context import Context
from flows.parsing import row_id
from flows.render import markdown_html, render
from flows.steps import HOME, ChooseOne, Next, PagedChoice, Step
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message, Reprompt
from storage.clock import local
from storage.models import InfoArticle
from storage.reference import cached
from storage.sql import pk

TOPICS = "info.topics"
TITLES = "info.titles"
ARTICLE = "info.article"
PART = 3000  # characters of an article per message (Telegram allows 4096 with the markup)
PUBLIC = "start.public"  # the menu of someone who declined the privacy notice (flows/start.py)


def home(ctx: Context) -> str:
    """Where "Kembali ke menu" leads: the main menu, or for someone not registered (who
    declined the notice, or has not answered it yet) the public menu."""
    return HOME if ctx.conv.user_id is not None else PUBLIC


@lru_cache(maxsize=1024)  # a topic without a title would look for its message file every time
def topic_title(topic: str, locale: str) -> str:
    """What people read for a topic: its title in their language where the messages name it
    (`info.topic_<word>`), else the word itself made readable ("rumah_tinggal" -> "Rumah
    tinggal", "k3" -> "K3")."""
    if re.fullmatch(r"[a-z0-9_]{1,40}", topic):
        try:
            return render(f"info.topic_{topic}", locale)
        except KeyError:
            pass
    words = " ".join(re.split(r"[-_\s]+", topic)).strip()
    if len(words) <= 3 and words.isalnum():
        return words.upper()
    return words[:1].upper() + words[1:]


class Listing(PagedChoice):
    """A paged list; an empty one says so and goes back."""

    exits = (HOME, PUBLIC)

    async def enter(self, ctx: Context) -> Next:
        options = await self.options(ctx)
        if not options:
            ctx.say("info.none")
            return home(ctx)
        self.hold(ctx, options)
        return await super().enter(ctx)


def _published() -> ColumnElement[bool]:
    return col(InfoArticle.published).is_(True)


# --- topics ---------------------------------------------------------------------------------


async def _topics(ctx: Context) -> list[tuple[str, int]]:
    s = await ctx.db()

    async def load() -> list[tuple[str, int]]:
        rows = await s.execute(select(InfoArticle.topic, func.count()).where(_published())
                               .group_by(col(InfoArticle.topic))
                               .order_by(col(InfoArticle.topic)))
        return [(r[0], r[1]) for r in rows]

    return await cached(s, "info.topics", ctx.now, load)


async def _topic_options(ctx: Context) -> list[Choice]:
    topics = await _topics(ctx)
    ctx.data["info_topic_names"] = [t for t, _ in topics]
    return [Choice(f"t{i}", ctx.t("info.topic_label", topic=topic_title(t, ctx.locale), count=n))
            for i, (t, n) in enumerate(topics)]


async def _back_to_menu(ctx: Context) -> list[Choice]:
    return [Choice("_menu", ctx.t("info.back_menu"))]


async def _topic_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "_menu":
        return home(ctx)
    names = ctx.data.get("info_topic_names") or []
    index = row_id(choice.id[1:]) if choice.id.startswith("t") else None
    index = -1 if index is None else index
    if not 0 <= index < len(names):
        raise Reprompt("help.choose")
    ctx.data["info_topic"] = names[index]
    ctx.data["info_title_page"] = 0
    return TITLES


# --- titles ---------------------------------------------------------------------------------


async def _title_options(ctx: Context) -> list[Choice]:
    s = await ctx.db()
    rows = (await s.execute(
        select(pk(InfoArticle.id), InfoArticle.title).where(
            _published(), InfoArticle.topic == ctx.data.get("info_topic", ""))
        .order_by(col(InfoArticle.published_at).desc(), col(InfoArticle.id).desc()))).all()
    return [Choice(str(r.id), r.title) for r in rows]


async def _back_to_topics(ctx: Context) -> list[Choice]:
    return [Choice("_topics", ctx.t("info.back_topics"))]


async def _title_vars(ctx: Context) -> dict[str, Any]:
    return {"topic": topic_title(ctx.data.get("info_topic", ""), ctx.locale)}


async def _title_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "_topics":
        return TOPICS
    return await _title_gone(ctx, choice)


async def _title_gone(ctx: Context, choice: Choice) -> Next:
    """Open the article of a title: also one no longer listed (withdrawn since its button was
    sent), for the article page says so (it shows only published articles), rather than the
    list's help."""
    article = row_id(choice.id)
    if article is None:
        raise Reprompt("help.choose")
    ctx.data["info_article"] = article
    ctx.data["info_part"] = 0
    return ARTICLE


# --- the article ----------------------------------------------------------------------------


def _parts(body: str) -> list[str]:
    """Split at paragraph or line breaks where possible, never mid-word if avoidable."""
    parts: list[str] = []
    rest = body.strip()
    while len(rest) > PART:
        cut = max(rest.rfind("\n", 0, PART), rest.rfind(" ", 0, PART))
        cut = cut if cut > PART // 2 else PART
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    parts.append(rest)
    return parts


async def _article(ctx: Context) -> InfoArticle | None:
    s = await ctx.db()
    a = await s.get(InfoArticle, int(ctx.data.get("info_article") or 0))
    return a if a is not None and a.published else None


class ArticlePage(ChooseOne):
    """One part of an article; an article withdrawn meanwhile sends the reader back."""

    exits = (TITLES,)

    async def enter(self, ctx: Context) -> Next:
        if await _article(ctx) is None:
            ctx.say("info.gone")
            return TITLES
        return await super().enter(ctx)


async def _article_vars(ctx: Context) -> dict[str, Any]:
    a = await _article(ctx)
    if a is None:
        return {"title": "-", "body": "-", "date": "-", "part": 1, "parts": 1}
    parts = _parts(a.body)
    part = min(max(int(ctx.data.get("info_part", 0)), 0), len(parts) - 1)
    when = a.published_at or a.updated_at
    return {"title": a.title, "body": markdown_html(parts[part]),
            "date": local(when).strftime("%d-%m-%Y"), "part": part + 1, "parts": len(parts)}


async def _article_options(ctx: Context) -> list[Choice]:
    a = await _article(ctx)
    out = []
    if a is not None and int(ctx.data.get("info_part", 0)) < len(_parts(a.body)) - 1:
        out.append(Choice("_more", ctx.t("info.read_more")))
    out += [Choice("_titles", ctx.t("info.back_titles")), Choice("_menu", ctx.t("info.back_menu"))]
    return out


async def _article_chosen(ctx: Context, choice: Choice) -> Next:
    if choice.id == "_more":
        ctx.data["info_part"] = int(ctx.data.get("info_part", 0)) + 1
        return ARTICLE
    if choice.id == "_titles":
        return TITLES
    return home(ctx)


class FromMenu(Step):
    """The entry from the main menu: start at the first page of topics, not where one was."""

    exits = (TOPICS,)

    async def enter(self, ctx: Context) -> Next:
        for key in ("info_topic_page", "info_title_page", "info_topic", "info_article",
                    "info_part", "info_topic_names"):
            ctx.data.pop(key, None)
        return TOPICS

    async def handle(self, ctx: Context, msg: Message) -> Next:
        return TOPICS


def register(registry: Registry) -> None:
    registry.add(
        FromMenu(name="info.start", key="info.ask_topic"),
        Listing(name=TOPICS, key="info.ask_topic", options=_topic_options,
                extras=_back_to_menu, store="info_topic_page", then=_topic_chosen,
                goes_to=(HOME, PUBLIC, TITLES)),
        Listing(name=TITLES, key="info.ask_title", vars=_title_vars, options=_title_options,
                extras=_back_to_topics, store="info_title_page", then=_title_chosen,
                unlisted=_title_gone, goes_to=(TOPICS, ARTICLE)),
        ArticlePage(name=ARTICLE, key="info.article", vars=_article_vars,
                    options=_article_options, then=_article_chosen,
                    goes_to=(ARTICLE, TITLES, HOME, PUBLIC)),
    )
    registry.menu_entry(MenuEntry("info", "info.menu_item", "info.start",
                                  roles=("warga", "tukang"), position=30))
