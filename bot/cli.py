"""`sijakon-bot`: run the bot on its configured channels, or chat locally in the console.

A configuration or environment error at start-up (a setting, the database, the data
directory, the HTTP port, a channel set up by half) ends with one line on stderr and exit
code 2, without a traceback (bot/startup.py; docs/reliability.md, "Kesalahan saat mulai").
"""

from __future__ import annotations

import asyncio
import sys

import typer

from bot.settings import Settings, load_settings
from bot.startup import check_channels, one_line

PROG = "sijakon-bot"

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="SIJAKON Bot — layanan jasa konstruksi Kota Batam.")


def _settings() -> Settings:
    with one_line(PROG):
        return load_settings()


@app.command()
def console() -> None:
    """Chat with the bot in this terminal ('nama> pesan'); also reads a script from a pipe."""
    from bot.console import ConsoleSender, run_console
    from bot.runtime import build_runtime, setup_logging

    settings = _settings()
    setup_logging(30)

    async def main() -> None:
        rt = await build_runtime(settings, [ConsoleSender()])
        try:
            await run_console(rt)
        finally:
            await rt.close()

    asyncio.run(main())


@app.command()
def run() -> None:
    """Serve the configured channels (Telegram, WhatsApp) with the delivery worker and scheduler."""
    settings = _settings()
    with one_line(PROG):
        check_channels(settings)
    from bot.server import serve  # after the checks: a bad setting is reported in ~0.3 s

    asyncio.run(serve(settings))


def main() -> None:
    """The entry point: environment errors anywhere below become one line (`one_line`)."""
    try:
        with one_line(PROG):
            app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
