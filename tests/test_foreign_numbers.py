"""People as they are: a Batam homeowner writing from Singapore or the United States on
WhatsApp is not asked for an Indonesian number; the number WhatsApp vouches for is theirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from flows.parsing import normalize_phone
from standins.twilio import TwilioStandIn
from storage.db import Database
from storage.models import User
from tests.channels import whatsapp
from tests.harness import Harness, StepClock

SINGAPORE = "+6591234567"
UNITED_STATES = "+16502530000"


@pytest.mark.parametrize("number", [SINGAPORE, UNITED_STATES])
async def test_a_foreign_whatsapp_sender_registers_with_their_own_number(
        db: Database, tmp_path: Path, twilio: TwilioStandIn, clock: StepClock,
        number: str) -> None:
    """Consent, name, kecamatan: never the phone question; the verified number is stored as
    WhatsApp gave it."""
    h = await whatsapp(db, tmp_path / "data", twilio, clock)
    try:
        await h.send(number, "halo")
        await h.press(number, "Setuju")
        await h.send(number, "Lim Wei Ming")
        await h.assert_step(number, "start.kecamatan")
        await h.press(number, "Nongsa")
        await h.assert_step(number, "menu.home")
        assert not any("Berapa nomor HP Anda" in s.text for s in h.all(number))
        async with db.read() as s:
            user = (await s.execute(select(User))).scalar_one()
        assert (user.name, user.phone, user.phone_verified) == ("Lim Wei Ming", number, True)
    finally:
        await h.close()


async def test_a_foreign_number_typed_with_its_country_code_is_taken(t: Harness) -> None:
    """On the console the number is asked; "+65 9123 4567" is accepted as typed (unverified)."""
    await t.send("lim", "halo")
    await t.press("lim", "Setuju")
    await t.send("lim", "Lim Wei Ming")
    await t.assert_step("lim", "start.phone")
    await t.send("lim", "+65 9123 4567")
    await t.assert_step("lim", "start.kecamatan")
    await t.press("lim", "Nongsa")
    async with t.db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert (user.phone, user.phone_verified) == (SINGAPORE, False)


async def test_a_number_that_is_no_number_is_still_refused(t: Harness) -> None:
    """The refusal names both ways of writing a number."""
    await t.send("lim", "halo")
    await t.press("lim", "Setuju")
    await t.send("lim", "Lim Wei Ming")
    t.replies("lim")
    await t.send("lim", "+65 123")
    refused = t.texts("lim")[0]
    assert refused.startswith("Nomor itu tidak valid") and "+65 9123 4567" in refused
    await t.assert_step("lim", "start.phone")


def test_which_numbers_count() -> None:
    """Indonesian numbers however written; foreign ones only with their country code."""
    assert normalize_phone("0812-3456-7890") == "+6281234567890"
    assert normalize_phone("whatsapp:+6591234567") == SINGAPORE
    assert normalize_phone("+1 (650) 253-0000") == UNITED_STATES
    assert normalize_phone("91234567") is None  # a Singapore number without +65
    assert normalize_phone("+65 123") is None
