"""`sijakon-admin report`: the group of the report commands, each in a module of its own.

This module only gathers them, so neither command module imports the other or this one.
"""

from __future__ import annotations

import typer

from admin_cli.report_quarterly import quarterly
from admin_cli.report_summary import report_summary

app = typer.Typer(help="Laporan angka layanan.", no_args_is_help=True)
app.command("summary")(report_summary)
app.command("quarterly")(quarterly)
