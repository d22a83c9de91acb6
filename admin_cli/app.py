"""`sijakon-admin`: the Dinas officer's tool over the bot's database.

Every command runs as a named, active officer whose role allows it (Perwako Batam 65/2021
Pasal 6(3); docs/admin-guide.md, "Petugas dan peran"). `RULES` below is the one place that
says what each command does; a command not listed there is a change only an admin may make.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from admin_cli import (
    audit_cmd,
    broadcast,
    catalog,
    complaints,
    db,
    demo,
    info,
    media,
    officer,
    privacy,
    report,
    skk,
    tukang,
    users,
)
from admin_cli.common import Access, AsOpt, CliEnv, Rule, enter, guard_commands
from bot.startup import one_line

READ = Rule(Access.READ)
PRIVACY = Rule(Access.PRIVACY)
BOOTSTRAP = Rule(Access.WRITE, bootstrap=True)

# What each command does, by its path ("tukang activate") or its group ("demo"). Not listed:
# a change for an admin. tests/admin/test_officers.py tries every command as a viewer.
RULES: dict[str, Rule] = {
    # looking only: every role (viewer, pdp, admin); a viewer never gets --reveal
    **dict.fromkeys([
        "tukang pending", "tukang list", "tukang show",
        "complaints list", "complaints show", "complaints overdue", "complaints objections",
        "info list", "info show",
        "broadcast preview", "broadcast status", "broadcast list",
        "catalog categories", "catalog skills", "catalog areas",
        "users find", "users show", "users history",
        "audit", "report summary", "report quarterly", "db stats", "officer list",
        "media orphans", "skk status",
    ], READ),
    # the data administrator's acts on a person's data: pdp and admin. Copying files out
    # (evidence here, `tukang show --photos` checked in the command) is one: like --reveal,
    # what leaves the tool is no longer masked or audited per view
    "complaints evidence": PRIVACY,
    "privacy export": PRIVACY,
    "privacy erase": PRIVACY,
    "privacy retention": PRIVACY,
    # deletes files no row points at (`--dry-run` only lists; any role may list them with
    # `media orphans`): an admin's change
    "media sweep": Rule(Access.WRITE),
    # replaces the SKK holder list every activation is checked against: an admin's change
    "skk import": Rule(Access.WRITE),
    # run without an officer while none is registered; afterwards by an admin
    "officer add": BOOTSTRAP,
    "demo": BOOTSTRAP,
    "db upgrade": BOOTSTRAP,
    # a restore goes into an empty database, which has no officers to check; it records the
    # name it is given itself
    "db restore": Rule(Access.WRITE, exempt=True),
}


class OfficerGroup(TyperGroup):
    """The root command group: guards every command below it as `RULES` says, once per
    invocation, on the command tree Typer has just built."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        guard_commands(self, RULES, next((p for p in self.params if p.name == "as_"), None))


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=OfficerGroup,
                  help="SIJAKON — alat petugas Dinas Cipta Karya dan Tata Ruang Kota Batam.")


@app.callback()
def root(ctx: typer.Context, as_: AsOpt = None) -> None:
    """Runs before every command: the caller's clock (or the real one) and the officer named
    here, for the whole command."""
    enter(ctx, as_)


app.add_typer(tukang.app, name="tukang")
app.add_typer(skk.app, name="skk")
app.add_typer(complaints.app, name="complaints")
app.add_typer(info.app, name="info")
app.add_typer(broadcast.app, name="broadcast")
app.add_typer(catalog.app, name="catalog")
app.add_typer(users.app, name="users")
app.command("audit")(audit_cmd.audit)
app.add_typer(privacy.app, name="privacy")
app.add_typer(media.app, name="media")
app.add_typer(report.app, name="report")
app.add_typer(db.app, name="db")
app.add_typer(officer.app, name="officer")
app.add_typer(demo.app, name="demo")


def main() -> None:
    """The `sijakon-admin` entry point: the real clock; a configuration or environment error
    anywhere below is one line and exit code 2 (bot/startup.py)."""
    with one_line("sijakon-admin"):
        app(obj=CliEnv())
