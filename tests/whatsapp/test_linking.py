"""One person on Telegram and WhatsApp: a platform-verified number joins the accounts; a
number that was only typed never does."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import ChannelAccount, User
from tests.channels import wa
from tests.harness import Harness, register_warga

SITI = "+6281299998888"
TG = "telegram:777001"


def on_telegram(h: Harness) -> Harness:
    """Messages from Telegram through the same engine and database as the WhatsApp harness
    (the Telegram adapter hands the engine an `Inbound` like this one)."""
    return Harness.console(h.db, clock=h.clock, engine=h.engine)


async def _telegram_user(h: Harness, *, shared: bool) -> Harness:
    """Siti registers on Telegram, sharing her own contact (verified) or typing her number."""
    t = on_telegram(h)
    await t.send(TG, "halo")
    await t.press(TG, "Setuju")
    await t.send(TG, "Siti Aminah")
    if shared:
        await t.send(TG, "", phone=SITI)  # a contact whose user_id is her own
    else:
        await t.send(TG, "0812-9999-8888")
    await t.press(TG, "Batam Kota")
    await t.assert_step(TG, "menu.home")
    return t


async def _people(h: Harness) -> tuple[list[User], list[ChannelAccount]]:
    async with h.db.read() as s:
        users = list((await s.execute(select(User).order_by(User.id))).scalars())
        accounts = list((await s.execute(select(ChannelAccount)
                                         .order_by(ChannelAccount.id))).scalars())
    return users, accounts


async def test_verified_telegram_user_is_recognised_on_whatsapp(h: Harness) -> None:
    """Her first WhatsApp message is welcomed back by name: one person, two accounts."""
    await _telegram_user(h, shared=True)
    await h.send(SITI, "halo", profile="Siti WA")
    texts = h.texts(SITI)
    assert texts[0] == "Selamat datang kembali, Siti Aminah! Akun Anda sudah tersambung."
    assert "Menu utama" in texts[-1]
    users, accounts = await _people(h)
    [siti] = users
    assert (siti.name, siti.phone, siti.phone_verified) == ("Siti Aminah", SITI, True)
    assert {(a.channel, a.address, a.user_id) for a in accounts} == {
        ("telegram", TG.split(":", 1)[1], siti.id), ("whatsapp", wa(SITI), siti.id)}


async def test_a_typed_number_never_links(h: Harness) -> None:
    """A number typed on Telegram proves nothing: WhatsApp starts a new registration."""
    await _telegram_user(h, shared=False)
    await h.send(SITI, "halo", profile="Siti WA")
    [welcome] = h.texts(SITI)
    assert "Apakah Anda setuju?" in welcome and "kembali" not in welcome
    await h.send(SITI, "1")
    await h.send(SITI, "1")
    await h.send(SITI, "Batam Kota")
    users, accounts = await _people(h)
    assert [(u.name, u.phone, u.phone_verified) for u in users] == [
        ("Siti Aminah", SITI, False), ("Siti WA", SITI, True)]
    assert len({a.user_id for a in accounts}) == 2


async def test_a_verified_whatsapp_user_is_recognised_on_telegram(h: Harness) -> None:
    """The other way round: registered on WhatsApp, her shared Telegram contact joins her."""
    await register_warga(h, SITI, name="Siti Aminah")
    t = on_telegram(h)
    await t.send(TG, "halo")
    await t.press(TG, "Setuju")
    await t.send(TG, "Siti")
    await t.send(TG, "", phone=SITI)
    assert "Selamat datang kembali, Siti Aminah" in t.got(TG, "kembali").text
    users, accounts = await _people(h)
    assert len(users) == 1 and len(accounts) == 2
