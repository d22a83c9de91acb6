"""Declining the privacy notice closes only what needs personal data: information, help and
the Dinas's contact stay open, and consent can be given later from that same menu."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from flows.context import FlowConfig
from storage.db import Database
from storage.models import AuditLog, User
from tests.factories import make_article
from tests.harness import Harness, StepClock


@dataclass(frozen=True, slots=True, kw_only=True)
class DinasConfig(FlowConfig):
    """FlowConfig with the Dinas's office (SIJAKON_DINAS_*), as bot/runtime.py hands it in."""

    dinas_address: str = ""
    dinas_phone: str = ""
    dinas_hours: str = ""


DINAS = DinasConfig(dinas_address="Jl. Engku Putri No. 1, Batam Centre",
                    dinas_phone="(0778) 462000", dinas_hours="Senin–Jumat 08.00–16.00 WIB")


async def people(h: Harness) -> int:
    async with h.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(User))).scalar_one())


async def test_declining_leaves_information_open(any_channel: Harness) -> None:
    """After "Tidak setuju": typing "info" opens the articles; "Kembali ke menu" comes back
    to the public menu, not the main menu of registered people; nothing is stored."""
    h = any_channel
    await make_article(h, "Helm dan sepatu kerja", "keselamatan", "Selalu pakai **helm**.")
    await h.send("sari", "halo")
    await h.press("sari", "Tidak setuju")
    refused = h.last("sari")
    assert "tidak ada data Anda yang kami simpan" in refused.text
    assert "tetap terbuka" in refused.text
    assert refused.labels == ["Info jasa konstruksi", "Bantuan dan kontak Dinas",
                              "Setuju dan daftar", "Baca kebijakan data"]
    await h.send("sari", "info")
    assert h.last("sari").labels == ["Keselamatan kerja (1)", "Kembali ke menu"]
    await h.press("sari", "Keselamatan kerja (1)")
    await h.press("sari", "Helm dan sepatu kerja")
    assert "Selalu pakai helm" in h.last("sari").text.replace("*", "")
    await h.press("sari", "Kembali ke menu")
    await h.assert_step("sari", "start.public")
    again = h.last("sari")
    assert "Layanan tanpa pendaftaran" in again.text
    assert "tidak ada data Anda" not in again.text  # the refusal is acknowledged once
    assert await people(h) == 0


async def test_consent_given_later_from_the_public_menu(any_channel: Harness) -> None:
    """"Setuju dan daftar" after a refusal is the consent: name, (phone), kecamatan, menu."""
    h = any_channel
    await h.send("sari", "halo")
    await h.press("sari", "Tidak setuju")
    await h.press("sari", "Setuju dan daftar")
    await h.assert_step("sari", "start.name")
    await h.send("sari", "Sari Dewi")
    if await h.step("sari") == "start.phone":
        await h.send("sari", "0812-3456-7891")
    await h.press("sari", "Batam Kota")
    await h.assert_step("sari", "menu.home")
    async with h.db.read() as s:
        user = (await s.execute(select(User))).scalar_one()
    assert user.name == "Sari Dewi" and user.consent_at == h.clock.now


async def test_help_and_the_dinas_contact_without_consent(db: Database, clock: StepClock
                                                          ) -> None:
    """The refusal names the Dinas's office; "Bantuan dan kontak Dinas" gives the help with
    the address, phone and hours; the privacy notice can still be read."""
    h = Harness.console(db, clock=clock, config=DINAS)
    await h.send("sari", "halo")
    await h.press("sari", "Tidak setuju")
    refused = h.last("sari").text
    for part in ("Alamat: Jl. Engku Putri No. 1, Batam Centre", "Telepon: (0778) 462000",
                 "Jam layanan: Senin–Jumat 08.00–16.00 WIB"):
        assert part in refused, part
    h.replies("sari")
    await h.press("sari", "Bantuan dan kontak Dinas")
    helped, menu = h.texts("sari")
    assert helped.startswith("Bantuan SIJAKON") and "Telepon: (0778) 462000" in helped
    assert menu.startswith("Layanan tanpa pendaftaran")
    await h.press("sari", "Baca kebijakan data")
    assert "Kebijakan data SIJAKON" in h.got("sari", "Kebijakan data").text
    await h.assert_step("sari", "start.public")
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(AuditLog))).scalar() == 0
    await h.close()


async def test_an_unset_contact_is_left_out(t: Harness) -> None:
    """Without SIJAKON_DINAS_* the messages name no empty address, phone or hours."""
    await t.send("sari", "halo")
    await t.press("sari", "Tidak setuju")
    await t.press("sari", "Bantuan dan kontak Dinas")
    for text in t.texts("sari"):
        assert "Alamat" not in text and "Telepon" not in text and "Jam layanan" not in text
        assert "\n\n\n" not in text


async def test_info_before_answering_the_notice(t: Harness) -> None:
    """"info" typed at the greeting opens the information without any consent."""
    await make_article(t, "PBG", "perizinan", "Isi.")
    await t.send("sari", "halo")
    await t.send("sari", "info")
    assert t.last("sari").labels == ["Perizinan bangunan (1)", "Kembali ke menu"]
    await t.press("sari", "Kembali ke menu")
    await t.assert_step("sari", "start.public")
    await t.press("sari", "Setuju dan daftar")
    await t.assert_step("sari", "start.name")


async def test_consent_is_never_given_before_the_notice_was_shown(t: Harness) -> None:
    """"info" as the very first message opens the information; "Setuju dan daftar" then
    shows the privacy notice first, and only its "Setuju" starts the registration."""
    await make_article(t, "PBG", "perizinan", "Isi.")
    await t.send("sari", "info")
    await t.assert_step("sari", "info.topics")
    await t.press("sari", "Kembali ke menu")
    await t.press("sari", "Setuju dan daftar")
    await t.assert_step("sari", "start.welcome")
    assert "Apakah Anda setuju?" in t.last("sari").text
    await t.press("sari", "Setuju")
    await t.assert_step("sari", "start.name")
