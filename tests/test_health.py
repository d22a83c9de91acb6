"""`/healthz` (the database answers, the delivery worker is not stalled), the web server of
`sijakon-bot run` without any webhook channel, and log lines (text or JSON) that never carry
a phone number."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.console import ConsoleSender
from bot.health import STALL_AFTER
from bot.runtime import Runtime, build_runtime, setup_logging
from bot.server import serve
from bot.settings import SettingsError, load_settings
from bot.web import build_app
from flows.types import Inbound
from standins import free_port
from tests.conftest import PG_AVAILABLE, PG_HOST, PG_PORT, PG_USER, _pg_admin
from tests.harness import StepClock

PHONE = "+6281234567890"
MASKED = "+62812****7890"


@pytest.fixture
async def rt(tmp_path: Path, clock: StepClock) -> AsyncIterator[Runtime]:
    """A runtime on its own SQLite file in `tmp_path/data`, printing to nowhere (console)."""
    settings = load_settings(_env_file=None, sijakon_data_dir=tmp_path / "data")
    runtime = await build_runtime(settings, [ConsoleSender(io.StringIO())], clock=clock)
    yield runtime
    await runtime.close()


def client(rt: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(rt, [])),
                             base_url="http://127.0.0.1")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging() replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_run_serves_health_and_metrics_without_a_webhook_channel(
        tmp_path: Path, restore_logging: None) -> None:
    """With no channel adding routes, `serve` still listens: /healthz is ok, /metrics is
    there."""
    port = free_port()
    settings = load_settings(_env_file=None, sijakon_data_dir=tmp_path / "data",
                             sijakon_http_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, clock=StepClock()))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(500):  # until uvicorn listens
                try:
                    health = await http.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.01)
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200 and "sijakon_offers_pending 0.0" in metrics.text
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def test_healthz_fails_when_the_sqlite_directory_is_gone(rt: Runtime,
                                                                tmp_path: Path) -> None:
    """Healthy at first; once the data directory is removed the database no longer answers
    and /healthz says 503 with the reason (and no path, no personal data)."""
    async with client(rt) as http:
        ok = await http.get("/healthz")
        assert ok.status_code == 200 and ok.json()["status"] == "ok"
        shutil.rmtree(tmp_path / "data")
        gone = await http.get("/healthz")
        assert gone.status_code == 503
        body = gone.json()
        assert body["status"] == "error" and body["reason"].startswith("database")
        assert str(tmp_path) not in gone.text
        metrics = await http.get("/metrics")  # the counters are still served
        assert metrics.status_code == 200 and "sijakon_inbound_messages_total" in metrics.text
        assert "sijakon_offers_pending" not in metrics.text  # no stale database gauge


@pytest.mark.skipif(not PG_AVAILABLE, reason=f"no PostgreSQL at {PG_HOST}:{PG_PORT}")
async def test_healthz_fails_when_the_postgresql_database_is_dropped(tmp_path: Path,
                                                                     clock: StepClock) -> None:
    """On PostgreSQL: the database dropped under the running bot (its connections
    terminated) makes /healthz answer 503."""
    name = f"sijakon_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        settings = load_settings(
            _env_file=None, sijakon_data_dir=tmp_path / "data",
            sijakon_database_url=f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}")
        runtime = await build_runtime(settings, [ConsoleSender(io.StringIO())], clock=clock)
        try:
            async with client(runtime) as http:
                ok = await http.get("/healthz")
                assert ok.status_code == 200 and ok.json()["database"] == "postgresql"
                await _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')
                gone = await http.get("/healthz")
                assert gone.status_code == 503
                assert gone.json()["reason"].startswith("database")
        finally:
            await runtime.close()
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_healthz_fails_when_the_worker_stalls_and_recovers(rt: Runtime,
                                                                 clock: StepClock) -> None:
    """A reply due for longer than STALL_AFTER with no progress of the worker (its task is
    not running) is a 503 naming the channel; once the worker runs and sends, it is healthy,
    and an idle worker stays healthy however long nothing happens."""
    await rt.engine.handle(Inbound("console", "budi", "m1", "halo"))
    async with client(rt) as http:
        assert (await http.get("/healthz")).status_code == 200  # just due: not stalled yet
        clock.advance(seconds=STALL_AFTER.total_seconds() - 1)
        assert (await http.get("/healthz")).status_code == 200
        clock.advance(seconds=2)
        stalled = await http.get("/healthz")
        assert stalled.status_code == 503
        assert stalled.json()["reason"] == "delivery worker stalled"
        assert stalled.json()["channels"] == ["console"]
        worker = asyncio.create_task(rt.worker.run(poll=0.05))
        try:
            await asyncio.wait_for(rt.worker.idle.wait(), 10)
            assert (await http.get("/healthz")).status_code == 200
            clock.advance(hours=5)  # nothing to do for hours: still healthy
            assert (await http.get("/healthz")).status_code == 200
            metrics = (await http.get("/metrics")).text
            assert _progress(metrics) == clock().timestamp()  # idle: caught up is progress
        finally:
            rt.worker.stop()
            await worker


def _progress(exposition: str) -> float:
    for line in exposition.splitlines():
        if line.startswith("sijakon_delivery_last_progress_seconds "):
            return float(line.split()[1])
    raise AssertionError("no sijakon_delivery_last_progress_seconds")


# --- log lines ----------------------------------------------------------------------------------
def _log_with_a_phone() -> None:
    log = logging.getLogger("bot.delivery")
    log.warning("outbox 7 to %s failed: blocked", f"whatsapp:{PHONE}")
    try:
        raise RuntimeError(f"send to 0{PHONE[3:]} refused")
    except RuntimeError:
        log.exception("sender failed")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_mask_phone_numbers(fmt: str, capsys: pytest.CaptureFixture[str],
                                      restore_logging: None) -> None:
    """Text and JSON log lines alike show a phone number masked, in the message and in a
    traceback, never whole; JSON lines are one object each."""
    setup_logging(fmt=fmt)
    _log_with_a_phone()
    err = capsys.readouterr().err
    assert PHONE not in err and PHONE[1:] not in err and "0" + PHONE[3:] not in err
    assert MASKED in err and "0812****7890" in err
    if fmt == "json":
        lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        warning, error = lines
        assert warning["level"] == "WARNING" and warning["logger"] == "bot.delivery"
        assert warning["message"] == f"outbox 7 to whatsapp:{MASKED} failed: blocked"
        assert "0812****7890" in error["exception"] and warning["time"].endswith("+00:00")
    else:
        assert f"WARNING bot.delivery: outbox 7 to whatsapp:{MASKED} failed" in err


def test_log_format_setting_is_checked() -> None:
    """SIJAKON_LOG_FORMAT takes text or json; anything else stops start-up with one line."""
    assert load_settings(_env_file=None).sijakon_log_format == "text"
    assert load_settings(_env_file=None, sijakon_log_format="JSON").sijakon_log_format == "json"
    with pytest.raises(SettingsError, match="SIJAKON_LOG_FORMAT: harus 'text' atau 'json'"):
        load_settings(_env_file=None, sijakon_log_format="xml")
