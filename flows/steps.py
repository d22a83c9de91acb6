"""The step kinds, written once: choose one, choose many, free text, photos, confirm.

A step asks its question in `prompt` and answers one message in `handle`, returning the name of
the next step or None to stay. Input it cannot use raises `Reprompt`; the engine then says that
message and asks the question again, so bad input never moves a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from flows.context import Context
from flows.types import Choice, Message, Reprompt

Next = str | None
VarsFn = Callable[[Context], Awaitable[dict[str, Any]]]
OptionsFn = Callable[[Context], Awaitable[list[Choice]]]

YES = {"ya", "y", "iya", "yes", "ok", "oke", "benar", "setuju", "lanjut", "kirim"}
NO = {"tidak", "tdk", "no", "n", "gak", "nggak", "ga", "enggak", "ubah"}
DONE = {"selesai", "done", "lanjut", "sudah", "cukup", "lewati", "skip"}


def keyed(*pairs: tuple[str, str]) -> OptionsFn:
    """Fixed options whose labels are message keys, rendered in the user's language."""

    async def options(ctx: Context) -> list[Choice]:
        return [Choice(i, ctx.t(k)) for i, k in pairs]

    return options


def words(text: str) -> str:
    """Lower-case letters and digits only: what people mean, without punctuation or emoji."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


@dataclass(kw_only=True)
class Step:
    """A named question. `key` is the message that asks it; `help` explains it."""

    name: str
    key: str
    vars: VarsFn | None = None
    help: str = "help.generic"

    async def prompt_vars(self, ctx: Context) -> dict[str, Any]:
        return await self.vars(ctx) if self.vars else {}

    async def choices(self, ctx: Context) -> list[Choice]:
        return []

    async def prompt(self, ctx: Context) -> None:
        ctx.say(self.key, choices=await self.choices(ctx) or None, **await self.prompt_vars(ctx))

    async def enter(self, ctx: Context) -> Next:
        await self.prompt(ctx)
        return None

    async def handle(self, ctx: Context, msg: Message) -> Next:
        raise Reprompt(self.help)


@dataclass(kw_only=True)
class Say(Step):
    """Says something and moves straight on (`then` picks the next step)."""

    then: Callable[[Context], Awaitable[Next]]

    async def enter(self, ctx: Context) -> Next:
        ctx.say(self.key, **await self.prompt_vars(ctx))
        return await self.then(ctx)


@dataclass(kw_only=True)
class ChooseOne(Step):
    """Pick one option; typing its number or label works as well as pressing it."""

    options: OptionsFn
    then: Callable[[Context, Choice], Awaitable[Next]]
    help: str = "help.choose"

    async def choices(self, ctx: Context) -> list[Choice]:
        return await self.options(ctx)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is None:
            raise Reprompt(self.help)
        return await self.then(ctx, msg.choice)


@dataclass(kw_only=True)
class Text(Step):
    """Free text checked by `validate` (which raises Reprompt), then handed to `then`.

    `options` adds buttons beside the free answer (e.g. "Pakai nama Budi", "Lewati");
    a pressed option goes to `on_choice`.
    """

    then: Callable[[Context, Any], Awaitable[Next]]
    validate: Callable[[Context, str], Awaitable[Any]] | None = None
    options: OptionsFn | None = None
    on_choice: Callable[[Context, Choice], Awaitable[Next]] | None = None
    request_phone: bool = False
    help: str = "help.text"

    async def choices(self, ctx: Context) -> list[Choice]:
        return await self.options(ctx) if self.options else []

    async def prompt(self, ctx: Context) -> None:
        ctx.say(self.key, choices=await self.choices(ctx) or None,
                request_phone=self.request_phone, **await self.prompt_vars(ctx))

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is not None and self.on_choice is not None:
            return await self.on_choice(ctx, msg.choice)
        text = msg.text.strip()
        if not text:
            raise Reprompt("help.text_expected")
        value = await self.validate(ctx, text) if self.validate else text
        return await self.then(ctx, value)


@dataclass(kw_only=True)
class ChooseMany(Step):
    """Pick several: each press toggles an option; "Selesai" (or typed "1,3,5") finishes."""

    options: OptionsFn
    then: Callable[[Context, list[str]], Awaitable[Next]]
    minimum: int = 1
    store: str = "_selected"
    help: str = "help.choose_many"

    async def choices(self, ctx: Context) -> list[Choice]:
        chosen = set(ctx.data.get(self.store, []))
        opts = [Choice(c.id, ("✅ " if c.id in chosen else "") + c.label)
                for c in await self.options(ctx)]
        return [*opts, Choice("_done", ctx.t("choice.done"))]

    async def enter(self, ctx: Context) -> Next:
        ctx.data.setdefault(self.store, [])
        return await super().enter(ctx)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        valid = [c.id for c in await self.options(ctx)]
        chosen: list[str] = list(ctx.data.get(self.store, []))
        picks: list[str] = []
        if msg.choice is not None:
            picks = [msg.choice.id]
        elif words(msg.text) in DONE:
            picks = ["_done"]
        else:
            numbers = re.findall(r"\d+", msg.text)
            rest = re.sub(r"\b(dan|and)\b|[\d\s,.;/&+]", "", msg.text.casefold())
            if not numbers or rest:
                raise Reprompt(self.help)
            presented = [p.split(":", 1)[1] for p, _ in ctx.presented()]
            for n in numbers:
                i = int(n) - 1
                if not 0 <= i < len(presented):
                    raise Reprompt(self.help)
                picks.append(presented[i])
        for pick in picks:
            if pick == "_done":
                if len(chosen) < self.minimum:
                    raise Reprompt("help.choose_many_min", minimum=self.minimum)
                ctx.data.pop(self.store, None)
                return await self.then(ctx, [c for c in valid if c in chosen])
            if pick not in valid:
                raise Reprompt(self.help)
            if pick in chosen:
                chosen.remove(pick)
            else:
                chosen.append(pick)
        ctx.data[self.store] = chosen
        await self.prompt(ctx)
        return None


@dataclass(kw_only=True)
class Photos(Step):
    """Collect up to `maximum` pictures (PDF too when `allow_pdf`); "Selesai" goes on."""

    then: Callable[[Context, list[str]], Awaitable[Next]]
    maximum: int = 5
    minimum: int = 0
    allow_pdf: bool = False
    store: str = "_photos"
    help: str = "help.photos"

    async def choices(self, ctx: Context) -> list[Choice]:
        have = len(ctx.data.get(self.store, []))
        if have < self.minimum:
            return []
        return [Choice("_done", ctx.t("choice.done" if have else "choice.skip"))]

    async def enter(self, ctx: Context) -> Next:
        ctx.data[self.store] = []
        return await super().enter(ctx)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        have: list[str] = list(ctx.data.get(self.store, []))
        if msg.media:
            pdf_ok = self.allow_pdf
            refused = [m for m in msg.media
                       if not (m.is_image or (pdf_ok and m.content_type == "application/pdf"))]
            if refused:
                raise Reprompt("photos.wrong_type")
            room = self.maximum - len(have)
            have.extend(m.path for m in msg.media[:room])
            ctx.data[self.store] = have
            if len(have) >= self.maximum:
                ctx.say("photos.full", count=len(have), maximum=self.maximum)
                return await self._finish(ctx)
            ctx.say("photos.received", count=len(have), maximum=self.maximum,
                    choices=await self.choices(ctx) or None)
            return None
        done = (msg.choice is not None and msg.choice.id == "_done") or words(msg.text) in DONE
        if done:
            if len(have) < self.minimum:
                raise Reprompt("photos.need_more", minimum=self.minimum)
            return await self._finish(ctx)
        raise Reprompt(self.help)

    async def _finish(self, ctx: Context) -> Next:
        photos = ctx.data.pop(self.store, [])
        return await self.then(ctx, photos)


@dataclass(kw_only=True)
class Confirm(Step):
    """A yes/no question on a summary; typed "ya"/"tidak" work like the buttons."""

    on_yes: Callable[[Context], Awaitable[Next]]
    on_no: Callable[[Context], Awaitable[Next]]
    yes_label: str = "choice.yes"
    no_label: str = "choice.no"
    help: str = "help.confirm"
    media: Callable[[Context], Awaitable[list[str]]] | None = field(default=None)

    async def choices(self, ctx: Context) -> list[Choice]:
        return [Choice("yes", ctx.t(self.yes_label)), Choice("no", ctx.t(self.no_label))]

    async def handle(self, ctx: Context, msg: Message) -> Next:
        answer = msg.choice.id if msg.choice else None
        said = words(msg.text)
        if answer == "yes" or (answer is None and said in YES):
            return await self.on_yes(ctx)
        if answer == "no" or (answer is None and said in NO):
            return await self.on_no(ctx)
        raise Reprompt(self.help)
