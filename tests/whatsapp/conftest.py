"""The WhatsApp channel under test: `h`, a harness whose driver posts webhooks signed with
Twilio's own `RequestValidator` to the real app and reads what the real `twilio` client sent
to the stand-in; `make_h` builds one with other settings or flows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from standins.twilio import TwilioStandIn
from storage.db import Database
from tests.channels import whatsapp
from tests.harness import Harness, StepClock

MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_h(db: Database, tmp_path: Path, clock: StepClock,
                 twilio: TwilioStandIn) -> AsyncIterator[MakeHarness]:
    """Builds a WhatsApp harness; keyword arguments override settings, `registry` swaps the
    flows."""
    made: list[Harness] = []

    async def build(**overrides: Any) -> Harness:
        h = await whatsapp(db, tmp_path / "data", twilio, clock, **overrides)
        made.append(h)
        return h

    yield build
    for h in made:
        await h.close()


@pytest.fixture
async def h(make_h: MakeHarness) -> Harness:
    return await make_h()
