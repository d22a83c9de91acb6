"""The registry: built explicitly from every flow, its step names checked, every step reachable,
and every step going only where it says it goes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select, update

from flows.all import build_registry
from flows.context import Context
from flows.engine import Engine
from flows.registry import load_flows
from flows.steps import HOME, START, Next, Step
from flows.table import ActionFn, MenuEntry, Registry, RegistryError
from flows.types import Media, Message
from storage.db import Database
from storage.models import Conversation
from tests.factories import (
    make_article,
    make_complaint,
    make_job,
    make_person,
    make_tukang,
)
from tests.harness import Harness, StepClock


def test_the_real_registry_builds_once() -> None:
    """Every flow registers without a clash or an unknown name; the engine's copy is shared."""
    registry = build_registry()
    assert {HOME, START} <= set(registry.steps)
    assert registry.start_payloads == {"tukang": "tukang_reg.begin"}
    assert "prune_dedupe" in registry.timers and "offer.accept" in registry.actions
    assert load_flows() is load_flows()


def test_building_twice_gives_two_equal_registries() -> None:
    """No flow keeps state between builds: a second build has the same table, not twice it."""
    first, second = build_registry(), build_registry()
    assert first is not second
    assert set(first.steps) == set(second.steps) and set(first.menu) == set(second.menu)
    assert list(first.timers) == list(second.timers)


@pytest.mark.parametrize(("register", "bad"), [
    (lambda r: r.add(Step(name="a.one", key="k", goes_to=("a.nowhere",))),
     "step a.one -> 'a.nowhere'"),
    (lambda r: r.action("a.act", _none, goes_to=("a.gone",)), "action a.act -> 'a.gone'"),
    (lambda r: r.menu_entry(MenuEntry("x", "label", "a.missing")),
     "menu entry x -> 'a.missing'"),
    (lambda r: r.start_payload("deep", "a.lost"), "start payload deep -> 'a.lost'"),
])
def test_an_unknown_step_name_stops_the_build(register: Callable[[Registry], None],
                                              bad: str) -> None:
    """A step, action, menu entry or /start payload leading to an unregistered name fails the
    check, and the message names where it came from and the name."""
    registry = _minimal()
    register(registry)
    with pytest.raises(RegistryError) as failed:
        registry.check()
    assert bad in str(failed.value)


def test_home_and_start_must_exist() -> None:
    """The engine's two landing steps are required like any other target."""
    with pytest.raises(RegistryError, match=r"engine -> 'menu\.home'"):
        Registry().check()


def test_a_name_registered_twice_is_refused() -> None:
    """Two steps, actions, entries or timers with one name are a clash, said at once."""
    registry = _minimal()
    with pytest.raises(RegistryError, match=r"step 'menu\.home' registered twice"):
        registry.add(Step(name=HOME, key="k"))
    registry.action("a", _none)
    with pytest.raises(RegistryError, match="action 'a' registered twice"):
        registry.action("a", _none)


def test_every_step_is_reachable() -> None:
    """From the menu, first contact, an action's button or a /start payload, every registered
    step can be reached by following declared names."""
    registry = build_registry()
    seen: set[str] = set()
    todo = [HOME, START, *registry.start_payloads.values(),
            *(name for targets in registry.action_targets.values() for name in targets)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += registry.steps[name].targets()
    assert set(registry.steps) - seen == set()


# --- declarations hold at run time -----------------------------------------------------------


@dataclass(kw_only=True)
class Declared(Step):
    """Runs a real step, noting every step name it returns that it did not declare."""

    inner: Step
    undeclared: list[str]

    async def prompt(self, ctx: Context) -> None:
        await self.inner.prompt(ctx)

    async def enter(self, ctx: Context) -> Next:
        return self._note(await self.inner.enter(ctx))

    async def handle(self, ctx: Context, msg: Message) -> Next:
        return self._note(await self.inner.handle(ctx, msg))

    def _note(self, nxt: Next) -> Next:
        if nxt is not None and nxt not in self.inner.targets():
            self.undeclared.append(f"step {self.name} -> {nxt}")
        return nxt


def declared_only(real: Registry, undeclared: list[str]) -> Registry:
    """A copy of `real` whose steps and actions note any undeclared move in `undeclared`."""

    def action(name: str, fn: ActionFn) -> ActionFn:
        async def run(ctx: Context, arg: str) -> Next:
            nxt = await fn(ctx, arg)
            if nxt is not None and nxt not in real.action_targets[name]:
                undeclared.append(f"action {name} -> {nxt}")
            return nxt

        return run

    return Registry(
        steps={n: Declared(name=n, key=s.key, help=s.help, inner=s, undeclared=undeclared)
               for n, s in real.steps.items()},
        actions={n: action(n, fn) for n, fn in real.actions.items()},
        start_payloads=dict(real.start_payloads), menu=real.menu, timers=dict(real.timers),
        action_targets=dict(real.action_targets))


# typed "ya", "1" or "selesai" reach the same code as the buttons pressed; free text does not
TEXT = "Atap rumah bocor di bagian dapur sejak kemarin sore"
PHOTO = Media("/tmp/sijakon-registry/a.jpg", "image/jpeg", 1000)
TUKANG_STEPS = ("jobs.work", "offer.", "complaint.statement", "tukang.")


async def test_steps_and_actions_go_only_where_they_declare(db: Database) -> None:
    """Pressing every button and typing common answers at every step (as a tukang at the
    tukang's steps, else as a warga, with a job, a complaint and articles around), and every
    action's button: nothing returns a step name it did not declare."""
    undeclared: list[str] = []
    registry = declared_only(build_registry(), undeclared)
    clock = StepClock()
    t = Harness.console(db, clock=clock, engine=Engine(db, registry=registry, clock=clock))
    await make_article(t, "Cara mengurus PBG", "Perizinan", "Isi " * 2000)
    await make_article(t, "Tips atap", "Tips")
    warga = await make_person(t, "budi")
    tukang = await make_tukang(t, "andi")
    job = await make_job(t, warga, tukang_id=tukang, status="accepted")
    complaint = await make_complaint(t, job, status="awaiting_statement")
    data = {"job": job, "job_id": job, "rate_job": job, "complaint_job": job,
            "statement_for": complaint, "info_topic": "Perizinan", "info_article": 1}

    async def at(who: str, step: str) -> None:
        role = "tukang" if who == "andi" else "warga"
        async with db.transaction() as s:
            await s.execute(update(Conversation).where(Conversation.address == who).values(
                step=step, flow=step.split(".", 1)[0], data={**data, "_role": role, "_tag": 1}))

    for step in sorted(registry.steps):
        who = "andi" if step.startswith(TUKANG_STEPS) else "budi"
        await at(who, step)
        await t.send(who, "bantuan")  # the step's question, with its buttons
        async with db.read() as s:
            shown = (await s.execute(select(Conversation.data).where(
                Conversation.address == who))).scalar_one_or_none()
        for pressed in [p for p, _ in (shown or {}).get("_choices", [])]:
            await at(who, step)
            await t.send(who, choice=pressed)
        for typed in ({"text": TEXT}, {"media": (PHOTO,)}):
            await at(who, step)
            await t.send(who, **typed)
    for who in ("budi", "andi"):
        for action in registry.actions:
            await at(who, HOME)
            await t.send(who, choice=f"!{action}:{job}")
    assert t.engine is not None
    await t.engine.stop()
    assert undeclared == [], "\n".join(sorted(set(undeclared)))


async def _none(ctx: Context, arg: str) -> Next:
    return None


def _minimal() -> Registry:
    """A registry with just the two steps the engine needs."""
    registry = Registry()
    registry.add(Step(name=HOME, key="menu.home"), Step(name=START, key="start.welcome"))
    return registry
