"""The main menu. Each feature adds its own entry with `add_entry`, so the menu is one list."""

from __future__ import annotations

from dataclasses import dataclass

from flows.context import Context
from flows.registry import HOME, REGISTRY
from flows.steps import ChooseOne, Next, Step
from flows.types import Choice, Message


@dataclass(frozen=True, slots=True)
class MenuEntry:
    id: str
    label: str  # message key
    step: str
    roles: tuple[str, ...] = ("warga", "tukang")
    position: int = 50


ENTRIES: dict[str, MenuEntry] = {}


def add_entry(entry: MenuEntry) -> None:
    ENTRIES[entry.id] = entry


def entries_for(role: str) -> list[MenuEntry]:
    return sorted((e for e in ENTRIES.values() if role in e.roles), key=lambda e: e.position)


async def _options(ctx: Context) -> list[Choice]:
    role = ctx.data.get("_role") or "warga"
    return [Choice(e.id, ctx.t(e.label)) for e in entries_for(role)]


async def _chosen(ctx: Context, choice: Choice) -> Next:
    entry = ENTRIES.get(choice.id)
    return entry.step if entry else HOME


class BackToMenu(Step):
    """Says its message, then shows the menu again (Bantuan and other one-shot answers)."""

    async def enter(self, ctx: Context) -> Next:
        ctx.say(self.key, **await self.prompt_vars(ctx))
        return HOME

    async def handle(self, ctx: Context, msg: Message) -> Next:
        return HOME


REGISTRY.add(
    ChooseOne(name=HOME, key="menu.home", options=_options, then=_chosen, help="menu.help"),
    BackToMenu(name="menu.bantuan", key="help.main"),
)
add_entry(MenuEntry("bantuan", "menu.item_bantuan", "menu.bantuan", position=80))
