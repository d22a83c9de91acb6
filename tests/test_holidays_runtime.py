"""A typo in the holidays file while the bot runs: conversations go on with the last good
calendar, and the Dinas gets one warning that names the bad line."""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path

import pytest

from flows.context import FlowConfig
from flows.deadlines import calendar
from storage.db import Database
from tests import media_samples as samples
from tests.factories import make_job, make_tukang, user_id
from tests.harness import Harness, StepClock, register_warga

WHAT = "Tukang tidak datang di hari yang disepakati dan tidak bisa dihubungi."


async def test_pengaduan_works_after_a_typo_in_the_holidays_file(
        db: Database, clock: StepClock, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The file was good at start-up; an officer then saves a typo. Budi still files his
    complaint and sees it listed; the log says once which line is wrong."""
    libur = tmp_path / "libur.txt"
    libur.write_text("2026-11-24,Hari jadi Batam\n", encoding="utf-8")
    assert not calendar(libur).working(date(2026, 11, 24))  # read at start-up
    t = Harness.console(db, clock=clock, config=FlowConfig(holidays_file=libur))
    try:
        await register_warga(t, "budi")
        tk = await make_tukang(t, "andi", name="Andi Wijaya")
        await make_job(t, await user_id(t.db, "budi"), tukang_id=tk, code="J-2611-0042",
                       status="done")
        libur.write_text("2026-11-24,Hari jadi Batam\n2026-12-32,salah ketik\n",
                         encoding="utf-8")
        st = libur.stat()
        os.utime(libur, (st.st_atime, st.st_mtime + 5))  # a later version, whatever the fs
        caplog.set_level(logging.WARNING, logger="flows.deadlines")

        await t.press("budi", "Pengaduan")
        await t.press("budi", "J-2611-0042 · Andi Wijaya")
        await t.send("budi", WHAT)
        await t.photo("budi", samples.JPEG)
        await t.press("budi", "Selesai")
        await t.press("budi", "Kirim")
        assert "P-2611-0001" in t.got("budi", "diterima dengan kode").text
        await t.press("budi", "Pengaduan")
        assert "P-2611-0001" in t.last("budi").text  # listed, with its next step and date

        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "baris 2" in warnings[0] and "2026-12-32" in warnings[0]
        # the last good calendar is still the one in use
        assert not calendar(libur).working(date(2026, 11, 24))
    finally:
        await t.close()
