"""Where flows register their steps and actions, by stable string name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from flows.context import Context
from flows.steps import Next, Step

ActionFn = Callable[[Context, str], Awaitable[Next]]

HOME = "menu.home"
START = "start.welcome"


@dataclass
class Registry:
    steps: dict[str, Step] = field(default_factory=dict)
    actions: dict[str, ActionFn] = field(default_factory=dict)
    start_payloads: dict[str, str] = field(default_factory=dict)

    def add(self, *steps: Step) -> None:
        for step in steps:
            if step.name in self.steps:
                raise ValueError(f"step {step.name!r} registered twice")
            self.steps[step.name] = step

    def action(self, name: str) -> Callable[[ActionFn], ActionFn]:
        """Register a handler for buttons sent with `notify(actions=...)` (payload `!name:arg`)."""

        def register(fn: ActionFn) -> ActionFn:
            self.actions[name] = fn
            return fn

        return register

    def get(self, name: str) -> Step | None:
        return self.steps.get(name)


REGISTRY = Registry()


def load_flows() -> Registry:
    """Import every flow module so its steps are registered, once."""
    import flows.all  # noqa: F401

    return REGISTRY
