"""What every command module of the CLI shares: help style, common options, output and the engine.

Its own module so that command modules (cli.py, sources/commands.py) import it, not each other.
"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from callreport import db
from callreport.settings import Settings

# Plain help (rich_markup_mode=None) prints each option's metavar (`--calls N`) and nothing after a
# flag; the rich panels print a Python type for every option (`--json <bool>`, `--help <bool>`).
HELP = {"no_args_is_help": True, "rich_markup_mode": None}
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]
UserOpt = Annotated[str, typer.Option(metavar="ID", help="User id.")]
AccountOpt = Annotated[str, typer.Option(metavar="ID", help="Account id.")]
err_console = Console(stderr=True)


def migrated_engine(settings: Settings) -> Engine:
    """The settings' database, migrated."""
    engine = db.make_engine(settings.resolved_database_url())
    db.migrate(engine)
    return engine


def emit(obj: dict, as_json: bool, text: str | None = None) -> None:
    """One JSON object with --json, else readable text."""
    if as_json:
        sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    else:
        typer.echo(text or "\n".join(f"{k}: {v}" for k, v in obj.items()))


def fail(message: str, as_json: bool, problems: list[dict] | None = None) -> None:
    """Report an error (as JSON with --json, with `errors` when given) and exit 1."""
    if as_json:
        out: dict = {"status": "error", "message": message}
        if problems:
            out["errors"] = problems
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
    else:
        err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
        for p in problems or []:
            err_console.print(f"  line {p['line']}: {p['field']}: {p['reason']}", highlight=False, markup=False)
    raise typer.Exit(1)
