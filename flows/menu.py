"""The main menu. Each feature adds its own entry (`registry.menu_entry`), so the menu is one
list, shown by role and ordered by position."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from flows.booking import told_at_menu
from flows.complaints import typed_at_menu
from flows.context import Context
from flows.steps import HOME, Next, Step
from flows.table import MenuEntry, Registry
from flows.types import Choice, Message, Reprompt


@dataclass(kw_only=True)
class Menu(Step):
    """The entries the person's role may use; each opens its step (an unknown one, the menu)."""

    entries: Mapping[str, MenuEntry]
    help: str = "menu.help"
    exits = (HOME, "booking.photos", "booking.begin")
    # the job told as a photo's caption (told_at_menu); other files are dropped, not kept
    keeps_media: ClassVar[bool] = True
    _made: dict[tuple[str, str, int], list[Choice]] = field(default_factory=dict, init=False,
                                                          repr=False, compare=False)

    def targets(self) -> frozenset[str]:
        return super().targets() | {e.step for e in self.entries.values()}

    async def choices(self, ctx: Context) -> list[Choice]:
        """The entries by position, made once per role and language (the menu is the most
        shown screen; its entries are fixed once the registry is built)."""
        role = ctx.data.get("_role") or "warga"
        key = (role, ctx.locale, len(self.entries))
        made = self._made.get(key)
        if made is None:
            shown = sorted((e for e in self.entries.values() if role in e.roles),
                           key=lambda e: e.position)
            made = self._made[key] = [Choice(e.id, ctx.t(e.label)) for e in shown]
        return list(made)

    async def handle(self, ctx: Context, msg: Message) -> Next:
        if msg.choice is None:
            told = await told_at_menu(ctx, msg)
            if told is not False:
                return told if isinstance(told, str) else None
            ctx.dropped.extend(m.path for m in msg.media if m.path)  # not a job: not kept
            # a complaint code, "Tulis pernyataan", "keberatan": reachable whatever buttons
            # were lost (flows/complaints.py)
            typed = await typed_at_menu(ctx, msg.text) if msg.text.strip() else False
            if typed is False:
                warga = (ctx.data.get("_role") or "warga") == "warga"
                raise Reprompt("menu.help_warga" if warga else self.help)
            return typed if isinstance(typed, str) else None
        entry = self.entries.get(msg.choice.id)
        return entry.step if entry else HOME


class BackToMenu(Step):
    """Says its message, then shows the menu again (Bantuan and other one-shot answers)."""

    exits = (HOME,)

    async def enter(self, ctx: Context) -> Next:
        ctx.say(self.key, **await self.prompt_vars(ctx))
        return HOME

    async def handle(self, ctx: Context, msg: Message) -> Next:
        return HOME


def register(registry: Registry) -> None:
    registry.add(
        Menu(name=HOME, key="menu.home", entries=registry.menu,
             goes_to=("complaint.about_me", "complaint.statement_text",
                      "complaint.objection_text")),
        BackToMenu(name="menu.bantuan", key="help.main"),
    )
    registry.menu_entry(MenuEntry("bantuan", "menu.item_bantuan", "menu.bantuan", position=80))
