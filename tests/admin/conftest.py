"""The admin CLI under test: `sijakon-admin` run in-process with CliRunner against the same
SQLite file the engine (and the test) uses, plus a few rows a test needs directly.

The CLI runs on the test's clock (`CliEnv` as the Click context object): the `clock` fixture,
the same StepClock the bot's engine in `t` uses, standing at `NOW` unless a test moves it.
The factories below date their rows from `NOW` too, so no admin test reads the wall clock.

Every command acts as a registered officer: before its first command the CLI registers
`OFFICERS` (siti the admin, rina the viewer) and runs as siti (SIJAKON_ADMIN) unless the
test names someone with `--as` or takes another identity with `admin.as_(...)`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from admin_cli.app import app
from admin_cli.common import CliEnv
from storage.clock import Clock
from storage.codes import next_code
from storage.db import Database
from storage.models import ChannelAccount, Complaint, Job
from tests import factories
from tests.harness import StepClock

BATAM_KOTA = "217110"
SEKUPANG = "217103"
PAINTER = "SI013001"
ELECTRICIAN = "ME011001"
NOW = StepClock().now  # where every test's clock starts: Monday 23 Nov 2026, 09:00 WIB
OFFICERS = {"siti": "admin", "rina": "viewer"}


@dataclass
class Admin:
    """Runs `sijakon-admin ARGS` in a worker thread (the CLI runs its own event loop), on
    `clock`, as the officer `name` (SIJAKON_ADMIN; None: nobody named)."""

    runner: CliRunner
    data_dir: Path
    clock: Clock
    db: Database
    officers: Mapping[str, str] = field(default_factory=lambda: dict(OFFICERS))
    name: str | None = "siti"
    registered: set[str] = field(default_factory=set)  # shared with the copies of `as_`

    @classmethod
    def on(cls, db: Database, data_dir: Path, clock: Clock, *,
           officers: Mapping[str, str] = OFFICERS, name: str | None = "siti") -> Admin:
        """The CLI over `db`, keeping its files in `data_dir`, telling time by `clock`, with
        `officers` (name: role) registered before its first command; `officers={}` and
        `name=None` leave a database nobody has claimed yet."""
        env = {"SIJAKON_DATABASE_URL": db.url, "SIJAKON_DATA_DIR": str(data_dir),
               "SIJAKON_ADMIN": None}
        return cls(CliRunner(env=env), data_dir, clock, db, dict(officers), name)

    def as_(self, name: str | None) -> Admin:
        """The same CLI acting as `name` (None: no officer named at all)."""
        return replace(self, name=name)

    async def __call__(self, *args: str, input: str | None = None) -> Result:
        for officer, role in self.officers.items():
            if officer not in self.registered:
                await factories.make_officer(self.db, officer, role)
                self.registered.add(officer)
        return await asyncio.to_thread(self.runner.invoke, app, list(args), input=input,
                                       env={"SIJAKON_ADMIN": self.name},
                                       catch_exceptions=False, obj=CliEnv(clock=self.clock))

    async def json(self, *args: str) -> Any:
        result = await self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def admin(db: Database, tmp_path: Path, clock: StepClock) -> Admin:
    """The CLI on the test's database and on the clock the bot in `t` uses."""
    return Admin.on(db, tmp_path / "data", clock)


async def make_tukang(db: Database, address: str, name: str, *, phone: str = "+6281299990001",
                      status: str = "pending", media: list[str] | None = None,
                      **profile: Any) -> int:
    """The tukang an officer meets first: pending, no SKK photo, not talking to the bot
    (`tests.factories.make_tukang` with the officer's defaults); returns the user id."""
    return await factories.make_tukang(db, address, name, phone=phone, status=status,
                                       media=media or [], at_menu=False, **profile)


async def make_job(db: Database, warga_id: int, tukang_id: int | None, *,
                   status: str = "accepted", created_at: datetime | None = None,
                   accepted_after: timedelta | None = timedelta(hours=2)) -> tuple[int, str]:
    """A job of `warga_id` taken by `tukang_id`; returns (id, code)."""
    at = created_at or NOW - timedelta(days=3)
    async with db.transaction() as s:
        code = await next_code(s, "J", at)
        job = Job(code=code, warga_id=warga_id, category_id=6, kecamatan_code=BATAM_KOTA,
                  description="Cat ulang dinding ruang tamu", address="Jl. Sudirman 12",
                  status=status, tukang_id=tukang_id, created_at=at,
                  accepted_at=at + accepted_after if tukang_id and accepted_after else None)
        s.add(job)
        await s.flush()
        assert job.id is not None
        return job.id, code


async def make_complaint(db: Database, job_id: int, *, status: str = "submitted",
                         created_at: datetime | None = None, evidence: list[str] | None = None,
                         **values: Any) -> tuple[int, str]:
    """A complaint on a job (for states the bot reaches only over days); returns (id, code)."""
    at = created_at or NOW
    async with db.transaction() as s:
        job = await s.get(Job, job_id)
        assert job is not None and job.tukang_id is not None
        code = await next_code(s, "P", at)
        c = Complaint(code=code, job_id=job_id, warga_id=job.warga_id, tukang_id=job.tukang_id,
                      text="Tukang tidak datang sejak DP dibayar", evidence=evidence or [],
                      status=status, created_at=at, **values)
        s.add(c)
        await s.flush()
        assert c.id is not None
        return c.id, code


async def user_id_of(db: Database, address: str) -> int:
    """The user behind a console address."""
    async with db.read() as s:
        return (await s.execute(select(ChannelAccount.user_id).where(
            ChannelAccount.address == address))).scalar_one()
