"""Inbound WhatsApp: signed webhooks into the engine, registration, forged posts, repeats."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.whatsapp import EMPTY_TWIML, parse_inbound
from storage.models import ChannelAccount, ProcessedUpdate, User
from tests.channels import APP_SEES, AUTH_TOKEN, FROM, PUBLIC, wa
from tests.harness import Harness, stored

BUDI = "+6281234567890"


async def test_warga_registers_over_whatsapp(h: Harness) -> None:
    """Phone from the sender, ProfileName offered as the name, a quick reply: to the menu."""
    resp = await h.send(BUDI, "halo", profile="Budi Santoso")
    assert resp.status_code == 200
    assert resp.text == EMPTY_TWIML and resp.headers["content-type"].startswith("text/xml")
    [welcome] = h.replies(BUDI)
    assert welcome.raw.to == wa(BUDI) and welcome.raw.get("From") == FROM
    assert "*SIJAKON*" in welcome.text  # <b> became WhatsApp's bold
    assert welcome.text.endswith("1. Setuju\n2. Tidak setuju\n3. Baca kebijakan data")
    assert welcome.raw.get("StatusCallback").startswith(f"{PUBLIC}/twilio/status?row=")

    agree = await h.driver.payload(BUDI, "Setuju")
    await h.send(BUDI, "Setuju", ButtonPayload=agree, ButtonText="Setuju")
    [ask_name] = h.texts(BUDI)
    assert ask_name.startswith("Siapa nama Anda?")
    assert "1. Pakai nama Budi Santoso" in ask_name

    await h.send(BUDI, "1")
    [ask_kecamatan] = h.texts(BUDI)  # no phone question: WhatsApp vouches for it
    assert "kecamatan" in ask_kecamatan
    await h.send(BUDI, "Batam Kota")
    texts = h.texts(BUDI)
    assert "Pendaftaran selesai" in texts[0] and "Menu utama" in texts[-1]

    async with h.db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
        account = (await s.execute(select(ChannelAccount))).scalar_one()
    assert (user.name, user.phone, user.phone_verified) == ("Budi Santoso", BUDI, True)
    assert (account.channel, account.address, account.user_id) == ("whatsapp", wa(BUDI),
                                                                   user.id)


async def test_typed_name_instead_of_the_profile_name(h: Harness) -> None:
    """Without a ProfileName the name is asked plainly, and a typed one is kept."""
    await h.send(BUDI, "halo", profile=None)
    await h.send(BUDI, "1", profile=None)
    ask_name = h.last(BUDI).text
    assert "Pakai nama" not in ask_name
    await h.send(BUDI, "Siti Rahma", profile=None)
    assert "kecamatan" in h.last(BUDI).text


async def test_unsigned_and_forged_webhooks_are_refused(h: Harness) -> None:
    """No signature, a wrong key, the URL the app sees, a changed field: 403, nothing stored."""
    assert (await h.send(BUDI, "halo", signature=None)).status_code == 403
    assert (await h.send(BUDI, "halo", signature="bm90IGEgc2lnbmF0dXJl")).status_code == 403
    forged = h.driver.sign("https://bot.example.go.id/twilio/whatsapp",
                           {"MessageSid": "SM" + "0" * 32, "From": wa(BUDI), "Body": "halo"},
                           token="someone-elses-token")
    assert (await h.send(BUDI, "halo", signature=forged)).status_code == 403
    # signed for the URL the app sees, not the configured public one
    assert (await h.send(BUDI, "halo", url=APP_SEES + "/twilio/whatsapp")).status_code == 403
    # a signature for other content
    params = {"MessageSid": "SM" + "1" * 32, "From": wa(BUDI), "To": FROM, "Body": "halo"}
    good = h.driver.sign(h.driver.rt.settings.twilio_webhook_url or "", params)
    resp = await h.driver.client.post("/twilio/whatsapp", data={**params, "Body": "hapus akun"},
                                      headers={"X-Twilio-Signature": good})
    assert resp.status_code == 403
    assert await stored(h.db) == (0, 0, 0)
    assert h.driver.standin.sent == []


async def test_malformed_signed_posts_are_acknowledged_and_logged_once(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """A signed post without a sender or with nonsense fields is Twilio's own: answered 200
    with empty TwiML (a 4xx only makes Twilio report it) and logged in one line, nothing
    stored; a body that is not a form at all is no Twilio post: 400."""
    for params in ({"Body": "halo"},
                   {"MessageSid": "SM" + "2" * 32, "From": "+6281234567890", "Body": "x"},
                   {"MessageSid": "SM" + "3" * 32, "From": wa(BUDI), "NumMedia": "dua"}):
        caplog.clear()
        resp = await h.deliver(params)  # signed as Twilio would
        assert (resp.status_code, resp.text) == (200, EMPTY_TWIML), params
        dropped = [r for r in caplog.records if r.name == "bot.whatsapp"]
        assert len(dropped) == 1 and "dropped" in dropped[0].getMessage(), params
        assert dropped[0].exc_info is None  # one line, no traceback
    resp = await h.driver.client.post("/twilio/whatsapp", content=b'{"Body": "halo"}',
                                      headers={"Content-Type": "application/json",
                                               "X-Twilio-Signature": "x"})
    assert resp.status_code == 400
    assert await stored(h.db) == (0, 0, 0)


async def test_repeated_message_sid_is_handled_once(h: Harness) -> None:
    """Twilio redelivers: the same MessageSid is answered 200 and handled once."""
    sid = "SM" + "4" * 32
    assert (await h.send(BUDI, "halo", sid=sid)).status_code == 200
    assert (await h.send(BUDI, "halo", sid=sid)).status_code == 200
    assert len(h.texts(BUDI)) == 1
    async with h.db.read() as s:
        ids = (await s.execute(select(ProcessedUpdate.external_id))).scalars().all()
    assert ids == [f"wa:{sid}"]


async def test_location_and_list_reply_are_read() -> None:
    """Latitude/Longitude become a location; a list pick (ListId) is the chosen payload."""
    sid = "SM" + "5" * 32
    ib, media = parse_inbound({"MessageSid": sid, "From": wa(BUDI), "Body": "",
                               "Latitude": "1.1301", "Longitude": "104.0529",
                               "ListId": "7:batam_kota", "ListTitle": "Batam Kota",
                               "ProfileName": "Budi"})
    assert ib.location == (1.1301, 104.0529) and media == []
    assert ib.choice == "7:batam_kota" and ib.phone == BUDI and ib.profile_name == "Budi"
    assert ib.external_id == f"wa:{sid}" and ib.address == wa(BUDI)
    ib, _ = parse_inbound({"MessageSid": sid, "From": wa(BUDI), "Body": "",
                           "ButtonText": "Setuju", "Latitude": "999", "Longitude": "x"})
    assert ib.choice is None and ib.text == "Setuju" and ib.location is None


async def test_auth_token_never_in_settings_repr(h: Harness) -> None:
    """The auth token is a secret: not in the settings' repr."""
    assert AUTH_TOKEN not in repr(h.driver.rt.settings)


async def test_run_serves_whatsapp_when_configured(h: Harness) -> None:
    """`sijakon-bot run` picks the WhatsApp channel from the settings, with its routes."""
    from bot.server import configured_channels

    [ch] = configured_channels(h.driver.rt.settings, clock=h.clock)
    assert ch.sender.channel == "whatsapp" and ch.sender.chat_rate is None
    assert 19 <= ch.sender.rate < 20  # paced just under the configured 20/s
    assert ch.routes is not None
    paths = {getattr(r, "path", "") for r in ch.routes(h.driver.rt)}
    assert paths == {"/twilio/whatsapp", "/twilio/status", "/media/{token}"}
    health = await h.driver.client.get("/healthz")
    assert health.status_code == 200 and AUTH_TOKEN not in health.text
