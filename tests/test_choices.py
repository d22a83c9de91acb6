"""Every choice step refuses what it never offered (flows/steps.py ChooseOne): a forged or
stale button gets the step's help, and nothing typed so far is lost."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Conversation, User
from tests.harness import Harness


async def test_a_forged_kecamatan_during_onboarding_is_refused_and_nothing_is_lost(
        t: Harness) -> None:
    await t.send("budi", "halo")
    await t.press("budi", "Setuju")
    await t.send("budi", "Budi Santoso")
    await t.send("budi", "081234567890")
    await t.assert_step("budi", "start.kecamatan")
    tag = t.last("budi").choices[0][0].split(":", 1)[0]
    await t.send("budi", choice=f"{tag}:999999")  # no such kecamatan was ever offered
    reply = t.last("budi")
    assert "Maaf" not in reply.text and reply.labels  # the help, and the question again
    await t.assert_step("budi", "start.kecamatan")
    async with t.db.read() as s:
        data = (await s.execute(select(Conversation.data).where(
            Conversation.address == t.account("budi")[1]))).scalar_one()
        assert (await s.execute(select(User))).first() is None  # no half-made person
    assert data.get("name") == "Budi Santoso" and data.get("phone")
    await t.press("budi", "Batam Kota")
    await t.assert_step("budi", "menu.home")
