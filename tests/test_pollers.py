"""Telegram long polling beside other processes (Step 4, docs/telegram.md, docs/scale.md):
one poller per database, and a poller never deletes a webhook that webhook processes serve.
The real `sijakon-bot run` against the Telegram stand-in; each refusal is one line, exit 2."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.processes import BotProcess, Stage, database


async def _ended(bot: BotProcess, within: float = 60.0) -> int:
    assert bot.proc is not None
    return await asyncio.wait_for(asyncio.to_thread(bot.proc.wait), within)


def _last_line(bot: BotProcess) -> str:
    return [line for line in bot.log().splitlines() if line.strip()][-1]


async def test_a_second_poller_refuses_to_start(tmp_path: Path) -> None:
    stage = Stage.start()
    bots: list[BotProcess] = []
    try:
        async with database("sqlite", tmp_path / "db") as url:
            env = stage.env(telegram="polling", whatsapp=False)
            bots = [BotProcess(url, tmp_path / name, name, env) for name in ("p1", "p2")]
            bots[0].start()
            await bots[0].wait_healthy()
            bots[1].start()
            assert await _ended(bots[1]) == 2
            assert _last_line(bots[1]) == (
                "sijakon-bot: proses bot lain sudah mengambil pesan Telegram (long polling) dari "
                "basis data ini; Telegram hanya melayani satu: hentikan yang lain, atau atur "
                "TELEGRAM_WEBHOOK_URL di semua proses (docs/scale.md)")
            assert bots[0].running  # the first polls on
            code, _ = await bots[0].stop()
            assert code == 0
            bots[1].start()  # the first is gone: the second may poll now
            await bots[1].wait_healthy()
            code, _ = await bots[1].stop()
            assert code == 0
    finally:
        for bot in bots:
            bot.close()
        stage.stop()


async def test_polling_leaves_a_webhook_alone(tmp_path: Path) -> None:
    stage = Stage.start()
    hook = {"url": "https://bot.example.go.id/telegram/webhook", "secret_token": "s3cret",
            "allowed_updates": ["message"]}
    stage.telegram.webhook = dict(hook)
    bot: BotProcess | None = None
    try:
        async with database("sqlite", tmp_path / "db") as url:
            bot = BotProcess(url, tmp_path / "p1", "p1",
                             stage.env(telegram="polling", whatsapp=False))
            bot.start()
            assert await _ended(bot) == 2
            line = _last_line(bot)
            assert line.startswith("sijakon-bot: webhook Telegram masih terpasang "
                                   "(https://bot.example.go.id/telegram/webhook)")
            assert "TELEGRAM_WEBHOOK_URL" in line
            assert stage.telegram.webhook == hook
            assert not stage.telegram.requests("deleteWebhook")
            assert not stage.telegram.requests("getUpdates")
    finally:
        if bot is not None:
            bot.close()
        stage.stop()
