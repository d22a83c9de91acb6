"""Outbound WhatsApp: the 24-hour window, templates, held messages, errors, status callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery import Hold, OutRow, Permanent, Retryable
from bot.settings import WhatsAppTemplate
from bot.whatsapp import template_variables
from flows.context import Context
from flows.outbox import Outgoing
from flows.registry import Registry, load_flows
from flows.steps import Next, Step
from flows.types import Choice, Reply
from storage.models import ChannelAccount, Outbox
from tests.channels import TEMPLATE_SID, claimed, wa
from tests.factories import user_id
from tests.harness import Harness, Sent, register_warga
from tests.whatsapp.conftest import MakeHarness

SITI = "+6281255556666"
TEMPLATES = {"start.welcome_back": {"content_sid": TEMPLATE_SID,
                                    "variables": ["name", "choice:1"]}}


def ack_registry(pressed: list[str]) -> Registry:
    """The real flows plus a test action, like an offer's Terima button."""

    async def ack(ctx: Context, arg: str) -> Next:
        pressed.append(arg)
        return "test.done"

    return load_flows().extended(Step(name="test.done", key="choice.done"),
                                 actions={"test.ack": ack})


async def notify(h: Harness, uid: int, key: str, *, actions: list[Choice] | None = None,
                 **vars: Any) -> None:
    """A notification written outside the engine, as the scheduler or the admin CLI do."""
    out = Outgoing()
    async with h.db.transaction() as s:
        assert await out.notify(s, uid, key, actions=actions, **vars)
        await out.write(s, h.clock())
    await h.refresh()


async def siti_told(h: Harness, *, refused: int | None = None) -> list[Sent]:
    """Siti registers, then a notification is written for her (Twilio refusing it with error
    `refused`); returns what reached her."""
    await register_warga(h, SITI)
    if refused is not None:
        h.driver.standin.fail_next(400, refused)
    await notify(h, await user_id(h, SITI), "start.registered", name="Siti")
    return h.replies(SITI)


async def rows(h: Harness, key: str) -> list[Outbox]:
    """The notifications (priority 1) with message key `key`."""
    async with h.db.read() as s:
        return list((await s.execute(select(Outbox).where(Outbox.key == key,
                                                          Outbox.priority == 1)
                                     .order_by(Outbox.id))).scalars())


async def test_inside_the_window_a_notification_is_free_text(make_h: MakeHarness) -> None:
    """Someone who wrote an hour ago gets the notification as text with numbered buttons."""
    h = await make_h(registry=ack_registry([]), whatsapp_templates=TEMPLATES)
    await register_warga(h, SITI, name="Siti Aminah")
    h.clock.advance(hours=1)
    await notify(h, await user_id(h, SITI), "start.welcome_back",
                 actions=[Choice("test.ack:5", "choice.yes")], name="Siti Aminah")
    [sent] = h.replies(SITI)
    assert sent.raw.get("ContentSid") == ""
    assert sent.text == "Selamat datang kembali, Siti Aminah! Akun Anda sudah tersambung.\n\n1. Ya"


async def test_outside_the_window_the_template_goes_and_its_button_works(
        make_h: MakeHarness) -> None:
    """After 25 hours silent, a notification with a template goes as content_sid with its
    variables; pressing its quick-reply button (ButtonPayload) runs the action."""
    pressed: list[str] = []
    h = await make_h(registry=ack_registry(pressed), whatsapp_templates=TEMPLATES)
    await register_warga(h, SITI, name="Siti Aminah")
    h.clock.advance(hours=25)
    await notify(h, await user_id(h, SITI), "start.welcome_back",
                 actions=[Choice("test.ack:5", "choice.yes")], name="Siti Aminah")
    [sent] = h.replies(SITI)
    assert sent.raw.get("ContentSid") == TEMPLATE_SID and sent.text == ""
    assert sent.raw.content_variables == {"1": "Siti Aminah", "2": "!test.ack:5"}
    assert sent.raw.to == wa(SITI)
    [row] = await rows(h, "start.welcome_back")
    assert (row.status, row.provider_id) == ("sent", sent.raw.sid)

    await h.send(SITI, "Ya", ButtonPayload="!test.ack:5", ButtonText="Ya")
    assert pressed == ["5"]
    assert h.texts(SITI) == ["Selesai"]  # free text again: the window is open


async def test_without_a_template_it_waits_for_the_next_message(h: Harness) -> None:
    """Outside the window and no template: held as "waiting", sent after the person writes."""
    await register_warga(h, SITI, name="Siti Aminah")
    h.clock.advance(hours=30)
    await notify(h, await user_id(h, SITI), "start.registered", name="Siti Aminah")
    assert h.replies(SITI) == []
    [row] = await rows(h, "start.registered")
    assert row.status == "waiting" and row.last_error == "outside 24h window"

    h.clock.advance(hours=2)
    await h.send(SITI, "menu")
    texts = h.texts(SITI)
    assert "Menu utama" in texts[0]
    assert "Terima kasih, Siti Aminah" in texts[-1]
    [row] = await rows(h, "start.registered")
    assert row.status == "sent"


async def test_error_63016_holds_the_message(h: Harness) -> None:
    """Twilio's own window refusal is treated the same: the row waits."""
    assert await siti_told(h, refused=63016) == []
    [row] = await rows(h, "start.registered")
    assert row.status == "waiting" and "63016" in (row.last_error or "")


async def test_refusals_are_sorted(make_h: MakeHarness) -> None:
    """429 waits as long as Twilio asks (whole channel), 5xx and timeouts retry, STOP/invalid
    numbers are permanent, 63016 holds; the error never carries the phone number."""
    h = await make_h(whatsapp_rate_per_second=7)
    assert (h.driver.sender.rate, h.driver.sender.chat_rate) == (7 * 0.97, None)  # just under the limit
    h.driver.sender.client.http_client.timeout = 0.5  # type: ignore[attr-defined]
    await h.send(SITI, "halo")
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"status": 429, "code": 20429, "retry_after": "3"}, Retryable),
        ({"status": 500, "code": 20500}, Retryable),
        ({"status": 503, "code": None}, Retryable),
        ({"status": 400, "code": 21610}, Permanent),
        ({"status": 400, "code": 63003}, Permanent),
        ({"status": 400, "code": 21211}, Permanent),
        ({"status": 400, "code": 21614}, Permanent),
        ({"status": 400, "code": 63016}, Hold),
        ({"status": 200, "code": None, "delay": 1.0}, Retryable),  # too slow: timeout
    ]
    for failure, kind in cases:
        h.driver.standin.fail_next(**failure)
        with pytest.raises(kind) as caught:
            await h.driver.sender.send(claimed(SITI, Reply(text="Halo")))
        assert SITI[3:] not in str(caught.value), failure
        if failure.get("retry_after"):
            assert isinstance(caught.value, Retryable)
            assert caught.value.retry_after == 3.0 and caught.value.whole_channel
    assert h.driver.standin.sent[-1].to == wa(SITI)  # the welcome, nothing since


async def test_stop_through_the_worker_marks_the_account_unreachable(h: Harness) -> None:
    """21610 (the person sent STOP to the platform): failed, and the account unreachable."""
    await siti_told(h, refused=21610)
    [row] = await rows(h, "start.registered")
    assert row.status == "failed" and "21610" in (row.last_error or "")
    async with h.db.read() as s:
        account = (await s.execute(select(ChannelAccount))).scalar_one()
    assert not account.reachable


async def test_status_callbacks_move_rows_forward(h: Harness) -> None:
    """delivered, read; a late "delivered" never moves a read row back; unsigned: 403."""
    await h.send(SITI, "halo")
    [sent] = h.replies(SITI)
    assert (await h.driver.status(sent, "delivered", signed=False)).status_code == 403
    assert (await h.driver.status(sent, "delivered")).status_code == 204
    async with h.db.read() as s:
        row = (await s.execute(select(Outbox))).scalar_one()
    assert row.status == "delivered"
    await h.driver.status(sent, "read")
    await h.driver.status(sent, "delivered")
    await h.driver.status(sent, "queued")
    async with h.db.read() as s:
        row = (await s.execute(select(Outbox))).scalar_one()
    assert row.status == "read"


async def test_failed_status_records_the_code_and_marks_unreachable(h: Harness) -> None:
    """failed with 63003: the row keeps the code; the account is unreachable."""
    [sent] = await siti_told(h)
    await h.driver.status(sent, "failed", "63003")
    [row] = await rows(h, "start.registered")
    assert row.status == "failed" and "63003" in (row.last_error or "")
    async with h.db.read() as s:
        assert not (await s.execute(select(ChannelAccount.reachable))).scalar_one()
    await h.send(SITI, "menu")  # writing again makes it reachable again
    async with h.db.read() as s:
        assert (await s.execute(select(ChannelAccount.reachable))).scalar_one()


async def test_undelivered_63016_waits_for_the_next_message(h: Harness) -> None:
    """An asynchronous 63016 puts the row back to waiting; it goes after the next message."""
    [sent] = await siti_told(h)
    await h.driver.status(sent, "undelivered", "63016")
    [row] = await rows(h, "start.registered")
    assert row.status == "waiting"
    await h.send(SITI, "menu")
    assert any("Terima kasih, Siti" in t for t in h.texts(SITI))


def test_template_variables_fill_every_slot() -> None:
    """Missing variables become "-" (WhatsApp refuses empty ones); choice:N is a payload."""
    tpl = WhatsAppTemplate(content_sid=TEMPLATE_SID,
                           variables=["code", "missing", "choice:2", "choice:9"])
    got = template_variables(tpl, {"code": "J-2611-0001"},
                             [("!offer.accept:3", "Terima"), ("!offer.decline:3", "Tolak")])
    assert got == {"1": "J-2611-0001", "2": "-", "3": "!offer.decline:3", "4": "-"}


async def test_in_session_quick_replies_from_a_content_template(make_h: MakeHarness) -> None:
    """With `in_session`, a question goes as quick-reply content (text, ids and titles as
    variables) inside the window too, and the pressed button answers it."""
    welcome = {"start.welcome": {"content_sid": TEMPLATE_SID, "in_session": True,
                                 "variables": ["message:text", "choice:1", "label:1",
                                               "choice:2", "label:2"]}}
    h = await make_h(whatsapp_templates=welcome)
    await h.send(SITI, "halo")
    [sent] = h.replies(SITI)
    assert sent.raw.get("ContentSid") == TEMPLATE_SID and sent.text == ""
    variables = sent.raw.content_variables
    assert "*SIJAKON*" in variables["1"] and "1. Setuju" not in variables["1"]
    assert (variables["3"], variables["5"]) == ("Setuju", "Tidak setuju")
    await h.send(SITI, "Setuju", ButtonPayload=variables["2"], ButtonText="Setuju")
    assert h.texts(SITI)[0].startswith("Siapa nama Anda?")


def test_template_variables_for_labels_and_text() -> None:
    """label:N is the N-th button's title, message:text the message in WhatsApp markup."""
    tpl = WhatsAppTemplate(content_sid=TEMPLATE_SID, variables=["message:text", "label:1"])
    got = template_variables(tpl, {}, [("1:a", "A &amp; B")], "<b>Pilih</b>")
    assert got == {"1": "*Pilih*", "2": "A & B"}


async def test_a_broadcast_row_brings_its_own_template(h: Harness) -> None:
    """A row whose template names a content SID (a broadcast's) goes as that, outside the
    window, even when WHATSAPP_TEMPLATES has nothing for its key."""
    await register_warga(h, SITI)
    h.clock.advance(days=3)
    reply = Reply(text="<b>Info</b> izin bangunan", template={
        "key": "broadcast.message", "vars": {"summary": "Izin bangunan kini online"},
        "content_sid": TEMPLATE_SID, "variables": ["summary"]})
    row = OutRow(99, "whatsapp", wa(SITI), None, "broadcast.message", reply, 2, 1, 7)
    await h.driver.sender.send(row)
    [sent] = await h.refresh()
    assert sent.raw.get("ContentSid") == TEMPLATE_SID
    assert sent.raw.content_variables == {"1": "Izin bangunan kini online"}
    with pytest.raises(Hold):  # without a content SID anywhere it waits
        await h.driver.sender.send(OutRow(100, "whatsapp", wa(SITI), None,
                                          "broadcast.message",
                                          Reply(text="x", template={"key": "broadcast.message",
                                                                    "vars": {}}), 2, 1, 7))
