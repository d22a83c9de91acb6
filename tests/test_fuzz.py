"""Random input at random steps, for warga and tukang: the bot always answers and never breaks.

For each example a fresh person (a warga, an active tukang, or a pending tukang) is put at a
registered step chosen at random (by setting Conversation.step, as if they had got there), with
its buttons shown, and sends random text, a number, emoji, a 4,000–50,000 character message, a
file, a pressed button (current, stale or an action), or a global command.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from flows.registry import load_flows
from flows.types import Media
from storage.db import Database
from storage.models import Conversation
from tests.factories import make_article, make_complaint, make_job, make_person, make_tukang
from tests.harness import Harness, StepClock, put_conversation

REGISTRY = load_flows()
STEPS = sorted(REGISTRY.steps)
ONBOARDING = [s for s in STEPS if s.startswith("start.")]  # where someone unregistered stands
ACTIONS = sorted(REGISTRY.actions)
TAG = 7

emoji = st.text(alphabet=st.sampled_from(list("😀🤷🏽‍♂👍🏠🔧✅▶◀️🇮🇩\u200d")), min_size=1,
                max_size=40)
words = st.sampled_from([
    "", " ", "1", "2", "3", "9", "10", "0", "-1", "99", "ya", "tidak", "selesai", "lewati",
    "menu", "batal", "bantuan", "stop", "mulai", "/start", "/start tukang", "/start xyz",
    "halo", "Setuju", "Kirim", "Ubah", "31-12-2029", "01-01-2001", "29-02-2027",
    "SKK-123.456/2025", "0812-3456-7890", "+6581234567", "Batam Kota", "1,2,3", "1 dan 4",
    "²", "٣", "<b>tebal</b>", "&amp;", "{{ name }}", "Robert'); DROP TABLE user;--",
])
numbers = st.integers(min_value=-10**30, max_value=10**30).map(str)
oversized = st.builds(lambda ch, n: ch * n, st.sampled_from(["a", "🔧", "kata ", "\n", "ب"]),
                      st.integers(min_value=4_000, max_value=50_000))
texts = st.one_of(st.text(max_size=300), words, numbers, emoji, oversized)

FILES = [Media("/tmp/sijakon-fuzz/a.jpg", "image/jpeg", 1000),
         Media("/tmp/sijakon-fuzz/a.pdf", "application/pdf", 1000),
         Media("/tmp/sijakon-fuzz/a.ogg", "audio/ogg", 1000)]
payload_ids = st.one_of(st.text(max_size=20), st.sampled_from(
    ["yes", "no", "_done", "keep", "_next", "_prev", "_menu", "menu", "t0", "t99", "1", "217110",
     "SI013001", "agree", "language", "delete", "data", "on", "off", "resubmit", "cancel",
     "99999999999999999999999", "²"]))
choices = st.one_of(
    st.builds(lambda i: f"{TAG}:{i}", payload_ids),  # a button of the current question
    st.builds(lambda i: f"{TAG - 1}:{i}", payload_ids),  # an old one
    st.builds(lambda a, arg: f"!{a}:{arg}", st.sampled_from(ACTIONS or ["none"]),
              st.one_of(st.text(max_size=12), st.sampled_from(["1", "2", "0", "x", "-1"]))),
)

inputs = st.one_of(
    st.tuples(texts, st.none(), st.none()),
    st.tuples(st.sampled_from(["", "foto"]), st.sampled_from(FILES), st.none()),
    st.tuples(st.just(""), st.none(), choices),
)


@pytest.fixture
async def world(db: Database) -> AsyncIterator[Harness]:
    """One transcript for all examples, with articles, a finished job and an open complaint."""
    t = Harness.console(db, clock=StepClock())
    for i in range(3):
        await make_article(t, f"Judul {i}", "Perizinan" if i < 2 else "Tips", "Isi " * 400)
    yield t
    assert t.engine is not None
    await t.engine.stop()


_seq = itertools.count(1)


@settings(max_examples=int(os.environ.get("SIJAKON_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(["warga", "tukang", "pending", "stranger"]),
       step=st.sampled_from(STEPS),
       message=inputs)
async def test_random_input_at_random_steps(world: Harness, role: str, step: str,
                                            message: tuple[str, Media | None, str | None]) -> None:
    """Whatever arrives, at whatever step: no exception, at least one reply, a known step,
    and never the apology (error.sorry): every input a person can send is one the step
    answers, onboarding included."""
    t = world
    who = f"fuzz{next(_seq)}"
    if role == "stranger":  # someone still registering: at an onboarding step
        step = step if step in ONBOARDING else ONBOARDING[len(step) % len(ONBOARDING)]
        await put_conversation(t.db, "console", who, step=step, user_id=None, locale="id",
                               at=t.clock(), data={})
        job = None
    elif role == "warga":
        uid = await make_person(t, who)
        other = await make_tukang(t, f"{who}-tk")
        job = await make_job(t, uid, tukang_id=other)
    else:
        uid = await make_tukang(t, who, status="active" if role == "tukang" else "pending")
        warga = await make_person(t, f"{who}-w")
        job = await make_job(t, warga, tukang_id=uid)
    if job is not None:
        await make_complaint(t, job, status="awaiting_statement")
    text, media, choice = message
    data: dict[str, object] = {"_tag": TAG,
                               "_choices": [[f"{TAG}:1", "Satu"], [f"{TAG}:2", "Dua"]]}
    if role != "stranger":
        data["_role"] = "warga" if role == "warga" else "tukang"
    async with t.db.transaction() as s:
        await s.execute(update(Conversation).where(Conversation.address == who).values(
            step=step, flow=step.split(".", 1)[0], data=data))
    t.replies(who)
    fresh = await t.send(who, text, media=(media,) if media else (), choice=choice)
    assert fresh
    got = t.replies(who)
    assert got, f"no reply at {step} to {text[:40]!r}/{choice!r}\n{t.show()}"
    async with t.db.read() as s:
        after = (await s.execute(select(Conversation.step).where(
            Conversation.address == who))).scalar_one_or_none()
    # erasure ("Hapus data saya" answered "ya") deletes the conversation: a stranger again
    assert after is None or after in REGISTRY.steps, after
    assert not any(m.key == "error.sorry" for m in got), (
        f"{step} ({role}) failed on {text[:60]!r}/{choice!r}/{media!r}\n{t.show()}")
