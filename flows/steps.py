"""The step kinds, written once: choose one (strict, guarded, paged), choose many, free text,
photos, confirm, say.

A step asks its question in `prompt` and answers one message in `handle`, returning the name of
the next step or None to stay. Input it cannot use raises `Reprompt`; the engine then says that
message and asks the question again, so bad input never moves a conversation.

Every name a step can return is declared on it (`targets`), so the registry checks the names
when it is built (flows/table.py) instead of a typo surfacing in a conversation.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from flows.context import Context
from flows.parsing import clip
from flows.types import Choice, Message, Reprompt

HOME = "menu.home"  # where a known person lands: the main menu
START = "start.welcome"  # where a stranger lands: greeting and consent

Next = str | None
BackFn = Callable[[Context], Awaitable[Next]]
VarsFn = Callable[[Context], Awaitable[dict[str, Any]]]
OptionsFn = Callable[[Context], Awaitable[list[Choice]]]
CheckFn = Callable[[Context], Awaitable[bool]]
T = TypeVar("T")

YES = {"ya", "y", "iya", "yes", "ok", "oke", "benar", "setuju", "lanjut", "kirim"}
NO = {"tidak", "tdk", "no", "n", "gak", "nggak", "ga", "enggak", "ubah"}
DONE = {"selesai", "done", "lanjut", "sudah", "cukup", "lewati", "skip"}


def keyed(*pairs: tuple[str, str]) -> OptionsFn:
    """Fixed options whose labels are message keys, rendered in the user's language."""

    async def options(ctx: Context) -> list[Choice]:
        return [Choice(i, ctx.t(k)) for i, k in pairs]

    return options


def part_chosen(summary: str, editing: str) -> Callable[[Context, Choice], Awaitable[Next]]:
    """"Ubah" at a summary (docs/conversations.md): the part chosen is asked again with
    `editing` set, so its answer leads straight back to `summary`; "summary" goes back now."""

    async def chosen(ctx: Context, choice: Choice) -> Next:
        if choice.id == "summary":
            ctx.data.pop(editing, None)
            return summary
        ctx.data[editing] = True
        return choice.id

    return chosen


def words(text: str) -> str:
    """Lower-case letters and digits only: what people mean, without punctuation or emoji."""
    return " ".join(re.sub(r"[^\w]+", " ", text.casefold()).split())


def clip_telling(ctx: Context, text: str, limit: int, notice: str, *, mark: str = "…") -> str:
    """`text` clipped to `limit`; when it was cut the person is told so with the message
    `notice` (which reads `maximum`), so an answer never loses its end silently."""
    if len(text) > limit:
        ctx.say(notice, maximum=limit)
    return clip(text, limit, mark=mark)


@dataclass(kw_only=True)
class Step:
    """A named question. `key` is the message that asks it; `help` explains it.

    `goes_to` names the steps its callbacks (`then`, `on_yes`...) may return, and a class's
    `exits` the steps its own `enter`/`handle` may return: together the step's `targets`.
    """

    name: str
    key: str
    vars: VarsFn | None = None
    help: str = "help.generic"
    goes_to: tuple[str, ...] = ()
    # the previous question of the task, for "kembali" (docs/conversations.md): a step name,
    # or a function of the conversation when it depends on the path taken; None: the menu
    back: str | BackFn | None = None
    help_vars: VarsFn | None = None  # what `help` reads, when it shows more than fixed text
    exits: ClassVar[tuple[str, ...]] = ()
    keeps_media: ClassVar[bool] = False  # files sent at this step are kept (else discarded)

    def targets(self) -> frozenset[str]:
        """Every step this one can lead to, checked when the registry is built.

        Each class in the hierarchy names only the exits of its own code, so a subclass adding
        one never hides its base's (a guarded step always may go to the menu).
        """
        own = (name for cls in type(self).__mro__ for name in cls.__dict__.get("exits", ()))
        back = (self.back,) if isinstance(self.back, str) else ()
        return frozenset((*own, *self.goes_to, *back))

    async def previous(self, ctx: Context) -> Next:
        """Where "kembali" leads from here: the previous question, or None for the menu."""
        if self.back is None or isinstance(self.back, str):
            return self.back
        return await self.back(ctx)

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
    """Pick one option; typing its number or label works as well as pressing it.

    Only an id among the options it shows now is accepted: a forged or outdated payload (or
    one for an option that vanished since the buttons were sent) gets the step's help instead
    of reaching `then`. Every choice step has this guard, so no step has to remember it (a
    forged kecamatan once reached the user's creation and failed on the foreign key).
    """

    options: OptionsFn
    then: Callable[[Context, Choice], Awaitable[Next]]
    help: str = "help.choose"
    # what a choice not among the options now gets instead of `then`: the step's help, or
    # this when the step can say better (an article withdrawn since its button was sent)
    unlisted: Callable[[Context, Choice], Awaitable[Next]] | None = None

    async def choices(self, ctx: Context) -> list[Choice]:
        return await self.listed(ctx)

    async def listed(self, ctx: Context) -> list[Choice]:
        """The options: those `enter` already read for this prompt (`hold`), else read now."""
        held = ctx.held.pop(self.name, None)
        return held if held is not None else await self.options(ctx)

    def hold(self, ctx: Context, options: list[Choice]) -> None:
        """Options just read in `enter`, for the prompt that follows (one query, not two)."""
        ctx.held[self.name] = options

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is None:
            raise Reprompt(self.help)
        if msg.choice.id not in {c.id for c in await self.choices(ctx)}:
            if self.unlisted is None:
                raise Reprompt(self.help)
            return await self.unlisted(ctx, msg.choice)
        return await self.then(ctx, msg.choice)



PREV = "_prev"
NEXT = "_next"
_TURNS = {PREV: -1, NEXT: 1}


def paged(items: Sequence[T], page: int, size: int, *,
          wrap: bool = False) -> tuple[list[T], int, int]:
    """One page of `items`: (its items, the page number shown, how many pages).

    A page past either end is clamped, or with `wrap` comes round (after the last, the first).
    """
    size = max(size, 1)
    pages = max(-(-len(items) // size), 1)
    page = page % pages if wrap else min(max(page, 0), pages - 1)
    return list(items[page * size:(page + 1) * size]), page, pages


@dataclass(kw_only=True)
class PagedChoice(ChooseOne):
    """Choose one from a list longer than a page: the page, its paging buttons, then `extras`.

    `options` is the whole list, `store` the conversation-data key of the page shown, and
    `config.page_size` the size of a page (Telegram and WhatsApp lists stay short). Turning a
    page enters the step again, so the old page's buttons go stale; `then` never sees a page
    turn. "Sebelumnya"/"Berikutnya" stop at either end; with `wrap` a single
    `next_label` button comes round to the first page after the last (booking's "Lainnya").
    Like every `ChooseOne`, it refuses what the current page does not show.
    """

    store: str
    extras: OptionsFn | None = None
    prev_label: str = "info.prev"
    next_label: str = "info.next"
    wrap: bool = False

    def targets(self) -> frozenset[str]:
        return super().targets() | {self.name}  # turning a page

    def page_of(self, ctx: Context, items: Sequence[T]) -> tuple[list[T], int, int]:
        """The page of `items` this step shows now (for a prompt that lists more than labels)."""
        return paged(items, int(ctx.data.get(self.store, 0)), ctx.config.page_size,
                     wrap=self.wrap)

    async def choices(self, ctx: Context) -> list[Choice]:
        shown, page, pages = self.page_of(ctx, await self.listed(ctx))
        ctx.data[self.store] = page
        if page > 0 and not self.wrap:
            shown.append(Choice(PREV, ctx.t(self.prev_label)))
        if page < pages - 1 or (self.wrap and pages > 1):
            shown.append(Choice(NEXT, ctx.t(self.next_label)))
        return [*shown, *(await self.extras(ctx) if self.extras else [])]

    async def handle(self, ctx: Context, msg: Message) -> Next:
        turn = _TURNS.get(msg.choice.id) if msg.choice is not None else None
        if turn is None:
            return await super().handle(ctx, msg)
        ctx.data[self.store] = int(ctx.data.get(self.store, 0)) + turn
        return self.name


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


# set when a photo step filled up and moved on: more files arriving now are the rest of the
# album the person sent, acknowledged and dropped by the engine, never the next answer
ALBUM_TAIL = "_album_tail"


@dataclass(kw_only=True)
class Photos(Step):
    """Collect up to `maximum` pictures (PDF too when `allow_pdf`); "Selesai" goes on."""

    keeps_media: ClassVar[bool] = True

    then: Callable[[Context, list[str]], Awaitable[Next]]
    maximum: int = 5
    minimum: int = 0
    allow_pdf: bool = False
    store: str = "_photos"
    help: str = "help.photos"
    # where `then` keeps the files: coming back to the step (kembali, Ubah) starts from them
    # instead of from none
    kept: str | None = None

    async def choices(self, ctx: Context) -> list[Choice]:
        have = len(ctx.data.get(self.store, []))
        if have < self.minimum:
            return []
        return [Choice("_done", ctx.t("choice.done" if have else "choice.skip"))]

    async def enter(self, ctx: Context) -> Next:
        ctx.data[self.store] = list(ctx.data.get(self.kept, [])) if self.kept else []
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
                ctx.conv.data[ALBUM_TAIL] = True  # the rest of an album may still be coming
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
    # a summary before sending: "Ubah" between the two answers, to change one part and come
    # back to the summary instead of starting over (docs/conversations.md)
    on_edit: Callable[[Context], Awaitable[Next]] | None = None
    edit_label: str = "choice.edit"

    async def choices(self, ctx: Context) -> list[Choice]:
        edit = [Choice("edit", ctx.t(self.edit_label))] if self.on_edit else []
        return [Choice("yes", ctx.t(self.yes_label)), *edit, Choice("no", ctx.t(self.no_label))]

    async def handle(self, ctx: Context, msg: Message) -> Next:
        answer = msg.choice.id if msg.choice else None
        said = words(msg.text)
        if self.on_edit is not None and (answer == "edit" or (
                answer is None and said in (words(ctx.t(self.edit_label)), "ubah", "edit"))):
            return await self.on_edit(ctx)
        if answer == "yes" or (answer is None and said in YES):
            return await self.on_yes(ctx)
        if answer == "no" or (answer is None and said in NO):
            return await self.on_no(ctx)
        raise Reprompt(self.help)


if TYPE_CHECKING:
    _Mixin = Step  # a mixin is checked as the Step it is mixed into...
else:
    _Mixin = object  # ...but adds only its own fields, never Step's defaults over the kind's


@dataclass(kw_only=True)
class Guarded(_Mixin):
    """A step that needs a job (or offer) named in the conversation data; `check` finds it.

    Without it (the job vanished, or the conversation was moved here by hand) the step never
    fails: entering or answering it goes to the menu, asking it says the job is gone. Mixed in
    before a kind, e.g. `class GuardedChoice(Guarded, ChooseOne)`.
    """

    check: CheckFn
    exits: ClassVar[tuple[str, ...]] = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        if not await self.check(ctx):
            ctx.say("job.not_found")
            return HOME
        return await super().enter(ctx)

    async def prompt(self, ctx: Context) -> None:
        if not await self.check(ctx):
            ctx.say("job.gone")
            return
        await super().prompt(ctx)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if not await self.check(ctx):
            ctx.say("job.not_found")
            return HOME
        return await super().handle(ctx, msg)


@dataclass(kw_only=True)
class GuardedChoice(Guarded, ChooseOne):
    """A strict choice about a job that may vanish meanwhile (its details, its rating)."""


@dataclass(kw_only=True)
class GuardedConfirm(Guarded, Confirm):
    """A yes/no about a job that may vanish meanwhile (cancel it, mark it done)."""


@dataclass(kw_only=True)
class GuardedText(Guarded, Text):
    """Words about a job that may vanish meanwhile (what is not finished yet)."""
