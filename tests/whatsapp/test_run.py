"""`sijakon-bot run` with WhatsApp: a signed webhook over real HTTP in, the welcome out through
the delivery worker and the real twilio client; then a clean stop."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from bot.server import serve
from bot.settings import Settings
from standins import free_port
from tests.channels import ACCOUNT_SID, AUTH_TOKEN, FROM, WA_WEBHOOK_URL, twilio_standin, wa

BUDI = "+6281234567890"


async def test_run_serves_whatsapp_and_stops_cleanly(tmp_path: Path) -> None:
    """A webhook to the running server is answered with empty TwiML; the welcome reaches the
    stand-in with numbered choices; /healthz answers; stop ends everything."""
    from twilio.request_validator import RequestValidator

    standin = twilio_standin()
    port = free_port()
    try:
        settings = Settings(_env_file=None, sijakon_data_dir=tmp_path / "data",  # type: ignore[call-arg]
                            sijakon_http_port=port, twilio_account_sid=ACCOUNT_SID,
                            twilio_auth_token=AUTH_TOKEN, twilio_whatsapp_from=FROM,
                            twilio_api_base_url=standin.url, twilio_webhook_url=WA_WEBHOOK_URL)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(settings, stop=stop))
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": wa(BUDI), "To": FROM,
                  "Body": "halo", "NumMedia": "0", "ProfileName": "Budi"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(WA_WEBHOOK_URL, params)
        async with httpx.AsyncClient() as client:
            for _ in range(500):  # until uvicorn listens
                try:
                    r = await client.post(f"http://127.0.0.1:{port}/twilio/whatsapp",
                                          data=params,
                                          headers={"X-Twilio-Signature": signature})
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.01)
            assert r.status_code == 200 and "<Response></Response>" in r.text
            health = await client.get(f"http://127.0.0.1:{port}/healthz")
            assert health.json()["ok"] is True
        assert await asyncio.to_thread(standin.wait_sent, 1, 10)  # sent in the background
        [welcome] = standin.sent
        assert welcome.to == wa(BUDI) and "1. Setuju" in welcome.body
        stop.set()
        await asyncio.wait_for(task, 15)
    finally:
        standin.stop()
