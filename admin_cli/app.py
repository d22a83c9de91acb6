"""`sijakon-admin`: the Dinas officer's tool over the bot's database."""

from __future__ import annotations

import typer

from admin_cli import (
    audit_cmd,
    broadcast,
    catalog,
    complaints,
    db,
    demo,
    info,
    privacy,
    report,
    tukang,
    users,
)
from admin_cli.common import CliEnv, enter

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="SIJAKON — alat petugas Dinas Cipta Karya dan Tata Ruang Kota Batam.")


@app.callback()
def root(ctx: typer.Context) -> None:
    """Runs before every command: the caller's clock (or the real one) for the whole command."""
    enter(ctx)


app.add_typer(tukang.app, name="tukang")
app.add_typer(complaints.app, name="complaints")
app.add_typer(info.app, name="info")
app.add_typer(broadcast.app, name="broadcast")
app.add_typer(catalog.app, name="catalog")
app.add_typer(users.app, name="users")
app.command("audit")(audit_cmd.audit)
app.add_typer(privacy.app, name="privacy")
app.add_typer(report.app, name="report")
app.add_typer(db.app, name="db")
app.add_typer(demo.app, name="demo")


def main() -> None:
    """The `sijakon-admin` entry point: the real clock."""
    app(obj=CliEnv())
