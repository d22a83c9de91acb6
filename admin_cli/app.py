"""`sijakon-admin`: the Dinas officer's tool over the bot's database."""

from __future__ import annotations

import typer

from admin_cli import demo

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="SIJAKON — alat petugas Dinas Cipta Karya dan Tata Ruang Kota Batam.")
app.add_typer(demo.app, name="demo")


def main() -> None:
    app()
