"""The table of everything the flows offer by name: steps, actions, /start payloads, menu entries
and timers. Each flow module fills it in its `register(registry)` (flows/all.py calls them in
order), so the whole table is written out in one place per flow, not hidden in import side
effects.

`check` runs once the table is complete: every step name a step, action, menu entry or start
payload can lead to must be registered, so a typo stops start-up naming the name instead of
breaking a conversation later.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from flows.context import Context, FlowConfig
from flows.outbox import Outgoing
from flows.steps import HOME, START, Next, Step

ActionFn = Callable[[Context, str], Awaitable[Next]]
# A timer goes over due rows in its own transaction: (session, now, out, config) -> rows handled.
Timer = Callable[[AsyncSession, datetime, Outgoing, FlowConfig], Awaitable[int]]


class RegistryError(ValueError):
    """The flows do not fit together: a name registered twice, or one that leads nowhere."""


@dataclass(frozen=True, slots=True)
class MenuEntry:
    """One line of the main menu: its label (a message key) opens `step` for these roles."""

    id: str
    label: str
    step: str
    roles: tuple[str, ...] = ("warga", "tukang")
    position: int = 50


@dataclass
class Registry:
    """Steps, actions (`!name:arg` buttons), start payloads, menu entries and timers by name."""

    steps: dict[str, Step] = field(default_factory=dict)
    actions: dict[str, ActionFn] = field(default_factory=dict)
    start_payloads: dict[str, str] = field(default_factory=dict)
    menu: dict[str, MenuEntry] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    action_targets: dict[str, frozenset[str]] = field(default_factory=dict)
    # typed codes (a complaint's P-…): (pattern, action) — the whole message matching the
    # pattern runs the action with the text as its argument, at any step
    codes: list[tuple[re.Pattern[str], str]] = field(default_factory=list)
    # flow -> the data keys of a task worth keeping when the person leaves it half-way
    # (menu, batal, an idle conversation, a typed code): docs/conversations.md
    drafts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, *steps: Step) -> None:
        for step in steps:
            _fresh(self.steps, step.name, "step")
            self.steps[step.name] = step

    def action(self, name: str, fn: ActionFn, *, goes_to: Iterable[str] = ()) -> None:
        """A handler for buttons sent with `notify(actions=...)`, payload `!name:arg`;
        `goes_to` names every step it may return."""
        _fresh(self.actions, name, "action")
        self.actions[name] = fn
        self.action_targets[name] = frozenset(goes_to)

    def code(self, pattern: re.Pattern[str], action: str) -> None:
        """A code a person may type anywhere (an item's code from a message they got): it
        opens the item through `action` (registered with `action`), whatever the step asks."""
        self.codes.append((pattern, action))

    def draft(self, flow: str, keys: Iterable[str]) -> None:
        """Answers of `flow` kept as a draft when the person leaves it before the end."""
        _fresh(self.drafts, flow, "draft")
        self.drafts[flow] = tuple(keys)

    def start_payload(self, payload: str, step: str) -> None:
        """`/start <payload>` (a deep link) leads to `step` once the person is known."""
        _fresh(self.start_payloads, payload, "start payload")
        self.start_payloads[payload] = step

    def menu_entry(self, entry: MenuEntry) -> None:
        _fresh(self.menu, entry.id, "menu entry")
        self.menu[entry.id] = entry

    def timer(self, name: str, fn: Timer) -> None:
        _fresh(self.timers, name, "timer")
        self.timers[name] = fn

    def get(self, name: str) -> Step | None:
        return self.steps.get(name)

    def extended(self, *steps: Step, actions: Mapping[str, ActionFn] | None = None) -> Registry:
        """A copy with extra steps and actions (tests add their own); this table stays as
        built, so the shared registry is never changed by a test."""
        copy = Registry(steps=dict(self.steps), actions=dict(self.actions),
                        start_payloads=dict(self.start_payloads), menu=dict(self.menu),
                        timers=dict(self.timers), action_targets=dict(self.action_targets),
                        codes=list(self.codes), drafts=dict(self.drafts))
        copy.add(*steps)
        for name, fn in (actions or {}).items():
            copy.action(name, fn)
        return copy

    def edges(self) -> dict[str, frozenset[str]]:
        """Where everything can lead: "step x", "action y", "menu entry z"... -> step names."""
        out: dict[str, frozenset[str]] = {"engine": frozenset((HOME, START))}
        out |= {f"step {name}": step.targets() for name, step in self.steps.items()}
        out |= {f"action {name}": targets for name, targets in self.action_targets.items()}
        out |= {f"menu entry {e.id}": frozenset((e.step,)) for e in self.menu.values()}
        out |= {f"start payload {p}": frozenset((s,)) for p, s in self.start_payloads.items()}
        return out

    def check(self) -> None:
        """Raise RegistryError naming every step name that something leads to but nobody
        registered."""
        bad = [f"{source} -> {target!r}" for source, targets in self.edges().items()
               for target in sorted(targets) if target not in self.steps]
        bad += [f"code {pattern.pattern!r} -> action {action!r}" for pattern, action in self.codes
                if action not in self.actions]
        if bad:
            raise RegistryError("unknown step names: " + "; ".join(bad))


def _fresh(table: Mapping[str, object], name: str, kind: str) -> None:
    if name in table:
        raise RegistryError(f"{kind} {name!r} registered twice")
