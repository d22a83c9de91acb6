"""`/metrics`: what the engine and the delivery worker did, by channel, and the database gauges
(outbox depth, pending offers, overdue complaints), scraped from the running bot."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text
from twilio.request_validator import RequestValidator

from admin_cli.complaints import deadline
from bot.runtime import build_runtime
from bot.server import serve
from bot.settings import load_settings
from bot.web import build_app
from standins import free_port
from standins.telegram import Person, StandIn
from storage.db import Database
from storage.models import Complaint, Offer
from tests.channels import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM,
    WA_WEBHOOK_URL,
    telegram_settings,
    twilio_standin,
    wa,
)
from tests.factories import make_job, make_person, make_tukang
from tests.harness import StepClock

BUDI = "+6281234567890"


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition, or None when it is not there."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


async def test_metrics_count_messages_sends_and_outbox_by_channel(tmp_path: Path) -> None:
    """Telegram (polling: no web routes of its own) and WhatsApp through `sijakon-bot run`:
    /metrics counts inbound messages, batches, sends, a 429 on each channel (retried), a
    blocked chat (failed for good), and shows the WhatsApp reply still queued."""
    tg, twilio, port, clock = StandIn().start(), twilio_standin(), free_port(), StepClock()
    twilio.fail_next(429, 20429, retry_after="3600")  # the WhatsApp reply waits an hour
    tg.fail("sendMessage", 429, retry_after=1, chat_id=9101)  # Telegram's flood control
    tg.fail("sendMessage", 403, chat_id=9102)  # this one blocked the bot
    settings = telegram_settings(
        tg, tmp_path / "data", "polling", sijakon_http_port=port,
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=FROM, twilio_api_base_url=twilio.url,
        twilio_webhook_url=WA_WEBHOOK_URL)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # serve() sets up logging its own way
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop=stop, clock=clock))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(500):  # until uvicorn listens
                try:
                    await client.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.01)
            budi, ani = Person(tg, 9101, "Budi"), Person(tg, 9102, "Ani")
            tg.push(budi.text("/start"))
            tg.push(ani.text("/start"))
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": wa(BUDI), "To": FROM,
                      "Body": "halo", "NumMedia": "0", "ProfileName": "Budi"}
            signature = RequestValidator(AUTH_TOKEN).compute_signature(WA_WEBHOOK_URL, params)
            r = await client.post("/twilio/whatsapp", data=params,
                                  headers={"X-Twilio-Signature": signature})
            assert r.status_code == 200

            async def scrape() -> str:
                response = await client.get("/metrics")
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/plain")
                return response.text

            last = ""

            async def answered() -> bool:
                nonlocal last
                last = await scrape()
                return (sample(last, "sijakon_send_retries_total", channel="telegram") == 1
                        and sample(last, "sijakon_send_failures_total", channel="telegram") == 1
                        and sample(last, "sijakon_send_retries_total", channel="whatsapp") == 1)

            for _ in range(750):
                if await answered():
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"the worker never got its three answers:\n{last}")

            async def settled() -> bool:
                nonlocal last
                # past Budi's retry-after (his welcome goes then) and the gauges' cache
                clock.advance(seconds=6)
                last = await scrape()
                return bool(tg.sent(9101)) and (
                        sample(last, "sijakon_outbox_depth", channel="telegram",
                               priority="reply") == 0
                        and sample(last, "sijakon_delivery_last_progress_seconds")
                        == clock().timestamp())  # idle: caught up, progress is now

            for _ in range(200):
                if await settled():
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the worker never settled:\n{last}")
        m = last
        assert sample(m, "sijakon_inbound_messages_total", channel="telegram") == 2
        assert sample(m, "sijakon_inbound_messages_total", channel="whatsapp") == 1
        assert sample(m, "sijakon_engine_batch_size_sum") == 3
        batches = sample(m, "sijakon_engine_batch_size_count")
        assert batches is not None and 1 <= batches <= 3
        assert sample(m, "sijakon_engine_batch_seconds_count") == batches
        assert sample(m, "sijakon_sends_total", channel="telegram") == len(tg.sent(9101)) == 1
        assert sample(m, "sijakon_sends_total", channel="whatsapp") == 0
        for channel in ("telegram", "whatsapp"):
            assert sample(m, "sijakon_send_rate_limited_total", channel=channel) == 1
            assert sample(m, "sijakon_send_retries_total", channel=channel) == 1
        assert sample(m, "sijakon_send_failures_total", channel="telegram") == 1
        assert sample(m, "sijakon_send_failures_total", channel="whatsapp") == 0
        assert sample(m, "sijakon_outbox_depth", channel="whatsapp", priority="reply") == 1
        assert sample(m, "sijakon_outbox_depth", channel="whatsapp", priority="broadcast") == 0
        assert sample(m, "sijakon_offers_pending") == 0
        assert sample(m, "sijakon_complaints_overdue") == 0
        assert BUDI not in m and BUDI.lstrip("+") not in m  # no personal data in metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        tg.stop()
        twilio.stop()
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_database_gauges_follow_the_complaints_list_and_are_cached(
        db: Database, tmp_path: Path) -> None:
    """Pending offers and overdue complaints come from the database, read at most every 5
    seconds; "overdue" is the officers' rule (`sijakon-admin complaints list`) at every
    status and as time moves on."""
    clock = StepClock()
    now = clock()
    settings = load_settings(_env_file=None, sijakon_database_url=db.url,
                             sijakon_data_dir=tmp_path / "data")
    rt = await build_runtime(settings, [], clock=clock)
    warga = await make_person(db, "budi")
    tukang = await make_tukang(db, "dodi", "Dodi Tukang")
    job = await make_job(db, warga, tukang_id=tukang)
    day = timedelta(days=1)
    complaints = [
        Complaint(status="submitted", created_at=now - timedelta(hours=1)),
        Complaint(status="submitted", created_at=now - 10 * day),
        Complaint(status="awaiting_statement", created_at=now - 9 * day,
                  statement_requested_at=now - 8 * day, statement_due_at=now - day),
        Complaint(status="awaiting_statement", created_at=now - 2 * day,
                  statement_requested_at=now - day, statement_due_at=now + 6 * day),
        Complaint(status="under_review", created_at=now - 4 * day,
                  statement_requested_at=now - 3 * day, statement_due_at=now + 4 * day,
                  statement_at=now - 2 * day),
        Complaint(status="dismissed", created_at=now - 30 * day),
    ]
    async with db.transaction() as s:
        for i, c in enumerate(complaints):
            c.code, c.job_id, c.warga_id, c.tukang_id = f"P-2611-9{i:03d}", job, warga, tukang
            c.text = "Tukang tidak datang."
            s.add(c)
        s.add_all([Offer(job_id=job, tukang_id=tukang, status=status, created_at=now,
                         expires_at=now + timedelta(hours=3))
                   for status in ("pending", "pending", "declined")])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(rt, [])),
                               base_url="http://127.0.0.1")
    try:
        for step in (timedelta(0), 2 * day, 5 * day, 10 * day):
            clock.now = now + step
            async with db.read() as s:
                rows = (await s.execute(select(Complaint))).scalars().all()
            expected = sum(1 for c in rows if (due := deadline(c)[1]) and clock() > due)
            m = (await client.get("/metrics")).text
            assert sample(m, "sijakon_complaints_overdue") == expected, step
            assert sample(m, "sijakon_offers_pending") == 2
        assert expected == 5  # ten days on, every undecided one is late
        async with db.transaction() as s:
            await s.execute(text("UPDATE offer SET status = 'accepted' WHERE status = 'pending'"))
        m = (await client.get("/metrics")).text
        assert sample(m, "sijakon_offers_pending") == 2  # the cached reading
        clock.advance(seconds=5)
        m = (await client.get("/metrics")).text
        assert sample(m, "sijakon_offers_pending") == 0
    finally:
        await client.aclose()
        await rt.close()


async def test_outbox_depth_reads_the_partial_index(db: Database) -> None:
    """The depth query reads the index over live rows only, never the whole outbox history."""
    from bot.metrics import _OUTBOX_DEPTH

    async with db.read() as s:
        plan = (await s.execute(text(f"EXPLAIN QUERY PLAN {_OUTBOX_DEPTH.text}"))).all()
    steps = [str(r[-1]) for r in plan if str(r[-1]).startswith(("SCAN", "SEARCH"))]
    assert steps and all("INDEX ix_outbox_claim" in step for step in steps), steps


async def test_each_runtime_has_its_own_registry(db: Database, tmp_path: Path) -> None:
    """Two runtimes in one process count separately (no global registry)."""
    settings = load_settings(_env_file=None, sijakon_database_url=db.url,
                             sijakon_data_dir=tmp_path / "data")
    one = await build_runtime(settings, [], clock=StepClock())
    two = await build_runtime(settings, [], clock=StepClock())
    try:
        assert one.metrics is not None and two.metrics is not None
        one.metrics.observe_batch(2, 0.01, ["telegram", "telegram"])
        first = (await one.metrics.exposition()).decode()
        second = (await two.metrics.exposition()).decode()
        assert sample(first, "sijakon_inbound_messages_total", channel="telegram") == 2
        assert sample(second, "sijakon_inbound_messages_total", channel="telegram") is None
    finally:
        await one.close()
        await two.close()
