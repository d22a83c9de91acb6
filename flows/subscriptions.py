"""Langganan info: which topics of construction information a person wants as broadcasts.

Reached from the main menu ("Langganan info"). The topics are the
distinct topics of published articles, plus any the person subscribed to earlier. A broadcast
for a topic (`sijakon-admin broadcast create --topic ...`) goes only to its subscribers; general
broadcasts go to everyone who did not send STOP. Options are referred to by position, so button
payloads stay short whatever a topic is called.
"""

from __future__ import annotations

from sqlmodel import col, select

from flows.context import Context
from flows.info import topic_title
from flows.steps import HOME, ChooseMany, Next, Step
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message
from storage.models import InfoArticle

START = "subs.start"
CHOOSE = "subs.choose"
STORE = "subs_selected"


async def _topics(ctx: Context) -> list[str]:
    """Published topics and the person's own, in a stable order (kept for the step)."""
    s = await ctx.db()
    found = set((await s.execute(select(InfoArticle.topic).where(
        col(InfoArticle.published).is_(True)).distinct())).scalars())
    user = await ctx.user()
    found |= set(user.topics or []) if user is not None else set()
    return sorted(t for t in found if t)


async def _options(ctx: Context) -> list[Choice]:
    names = ctx.data.get("subs_topics") or []
    return [Choice(f"s{i}", topic_title(name, ctx.locale)) for i, name in enumerate(names)]


async def _saved(ctx: Context, picked: list[str]) -> Next:
    user = await ctx.require_user()
    names = ctx.data.pop("subs_topics", None) or []
    topics = [names[int(p[1:])] for p in picked if p[1:].isdigit() and int(p[1:]) < len(names)]
    if topics != list(user.topics or []):
        user.topics = topics
        await ctx.audit("broadcast.topics", "user", user.id, topics=topics)
    ctx.say("broadcast.subs_saved", topics=", ".join(topic_title(t, ctx.locale) for t in topics))
    if topics and user.broadcast_opt_out:
        ctx.say("broadcast.subs_off_note")
    return HOME


class Begin(Step):
    """Show the topics with the person's current subscriptions already ticked."""

    exits = (HOME, CHOOSE)

    async def enter(self, ctx: Context) -> Next:
        names = await _topics(ctx)
        if not names:
            ctx.say("broadcast.subs_none")
            return HOME
        user = await ctx.require_user()
        mine = set(user.topics or [])
        ctx.data["subs_topics"] = names
        ctx.data[STORE] = [f"s{i}" for i, name in enumerate(names) if name in mine]
        return CHOOSE

    async def handle(self, ctx: Context, msg: Message) -> Next:
        return CHOOSE


def register(registry: Registry) -> None:
    registry.add(
        Begin(name=START, key="broadcast.subs_ask"),
        ChooseMany(name=CHOOSE, key="broadcast.subs_ask", options=_options, then=_saved,
                   minimum=0, store=STORE, help="broadcast.subs_help", goes_to=(HOME,)),
    )
    # its own menu entry (next to Pengaturan, where broadcasts are switched on and off), so
    # the article browser's lists stay as they are
    registry.menu_entry(MenuEntry("subscriptions", "broadcast.subs_item", START,
                                  roles=("warga", "tukang"), position=85))
