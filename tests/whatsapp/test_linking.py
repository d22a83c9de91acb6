"""One person on Telegram and WhatsApp: a platform-verified number joins the accounts; a
number that was only typed never does."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import ChannelAccount, User
from tests.harness import Transcript
from tests.whatsapp.conftest import WhatsAppLab, wa

SITI = "+6281299998888"
TG = "telegram:777001"


async def _telegram_user(lab: WhatsAppLab, *, shared: bool) -> Transcript:
    """Siti registers on Telegram, sharing her own contact (verified) or typing her number."""
    t = Transcript(lab.db, clock=lab.clock, engine=lab.rt.engine)
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


async def _people(lab: WhatsAppLab) -> tuple[list[User], list[ChannelAccount]]:
    async with lab.db.read() as s:
        users = list((await s.execute(select(User).order_by(User.id))).scalars())
        accounts = list((await s.execute(select(ChannelAccount)
                                         .order_by(ChannelAccount.id))).scalars())
    return users, accounts


async def test_verified_telegram_user_is_recognised_on_whatsapp(lab: WhatsAppLab) -> None:
    """Her first WhatsApp message is welcomed back by name: one person, two accounts."""
    await _telegram_user(lab, shared=True)
    await lab.post(SITI, "halo", profile="Siti WA")
    texts = await lab.texts(SITI)
    assert texts[0] == "Selamat datang kembali, Siti Aminah! Akun Anda sudah tersambung."
    assert "Menu utama" in texts[-1]
    users, accounts = await _people(lab)
    [siti] = users
    assert (siti.name, siti.phone, siti.phone_verified) == ("Siti Aminah", SITI, True)
    assert {(a.channel, a.address, a.user_id) for a in accounts} == {
        ("telegram", TG.split(":", 1)[1], siti.id), ("whatsapp", wa(SITI), siti.id)}


async def test_a_typed_number_never_links(lab: WhatsAppLab) -> None:
    """A number typed on Telegram proves nothing: WhatsApp starts a new registration."""
    await _telegram_user(lab, shared=False)
    await lab.post(SITI, "halo", profile="Siti WA")
    [welcome] = await lab.texts(SITI)
    assert "Apakah Anda setuju?" in welcome and "kembali" not in welcome
    await lab.post(SITI, "1")
    await lab.post(SITI, "1")
    await lab.post(SITI, "Batam Kota")
    users, accounts = await _people(lab)
    assert [(u.name, u.phone, u.phone_verified) for u in users] == [
        ("Siti Aminah", SITI, False), ("Siti WA", SITI, True)]
    assert len({a.user_id for a in accounts}) == 2


async def test_a_verified_whatsapp_user_is_recognised_on_telegram(lab: WhatsAppLab) -> None:
    """The other way round: registered on WhatsApp, her shared Telegram contact joins her."""
    await lab.register(SITI, name="Siti Aminah")
    t = Transcript(lab.db, clock=lab.clock, engine=lab.rt.engine)
    await t.send(TG, "halo")
    await t.press(TG, "Setuju")
    await t.send(TG, "Siti")
    await t.send(TG, "", phone=SITI)
    assert "Selamat datang kembali, Siti Aminah" in t.got(TG, "kembali").text
    users, accounts = await _people(lab)
    assert len(users) == 1 and len(accounts) == 2
