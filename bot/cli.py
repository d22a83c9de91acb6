"""`sijakon-bot`: run the bot on its configured channels, or chat locally in the console."""

from __future__ import annotations

import asyncio
import sys

import typer

from bot.settings import Settings, SettingsError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="SIJAKON Bot — layanan jasa konstruksi Kota Batam.")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"sijakon-bot: {exc}", err=True)
        raise typer.Exit(2) from None


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
    from bot.server import serve

    settings = _settings()
    if not (settings.telegram_enabled or settings.whatsapp_enabled):
        typer.echo("sijakon-bot: no channel configured: set TELEGRAM_BOT_TOKEN or the TWILIO_* "
                   "settings (see .env.example), or try `sijakon-bot console`.", err=True)
        raise typer.Exit(2)
    asyncio.run(serve(settings))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
