"""The command line: serve, worker, account, user, token, session, demo, ingest, import, source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from callreport import auth, db, zones
from callreport.cli_common import HELP, AccountOpt, JsonOpt, UserOpt, emit, err_console, fail
from callreport.cli_common import migrated_engine as _engine
from callreport.settings import Settings
from callreport.time_format import account_time

app = typer.Typer(help="callreport: a self-hostable Call Report service.", **HELP)
account_app = typer.Typer(help="Accounts (tenants).", **HELP)
user_app = typer.Typer(help="Users of an account.", **HELP)
token_app = typer.Typer(help="Long-lived API tokens.", **HELP)
session_app = typer.Typer(help="Sessions (ssid).", **HELP)
app.add_typer(account_app, name="account")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(session_app, name="session")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(metavar="N", help="API processes.", min=1)] = 1,
    export_workers: Annotated[
        int,
        typer.Option(
            metavar="K", help="Export worker processes beside them (none when CALLREPORT_EMBEDDED_WORKER=false).", min=0
        ),
    ] = 1,
) -> None:
    """Run the API and its export worker processes; creates and migrates the database once, first."""
    from callreport import supervisor

    supervisor.serve(host, port, workers, export_workers)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run the jobs waiting now, then exit.")] = False,
    supervised: Annotated[
        bool, typer.Option(hidden=True, help="Started by serve: no migration; ends with it.")
    ] = False,
) -> None:
    """Run a standalone export worker (any number, anywhere sharing the database and storage)."""
    from callreport import supervisor

    supervisor.run_worker(once, supervised)


@account_app.command("create")
def account_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The account's name.")],
    timezone: Annotated[str, typer.Option(metavar="TZ", help="IANA timezone, e.g. Asia/Kolkata.")] = "UTC",
    json: JsonOpt = False,
) -> None:
    """Create an account (tenant)."""
    try:
        zones.check_timezone(timezone)
    except ValueError as exc:
        fail(str(exc), json)
    with db.writing(_engine(Settings())) as conn:
        account_id = auth.create_account(conn, name, timezone)
    emit({"accountId": account_id}, json)


@user_app.command("create")
def user_create(
    account: AccountOpt,
    username: Annotated[str, typer.Option(metavar="NAME", help="Unique sign-in name.")],
    password: Annotated[str, typer.Option(metavar="TEXT")],
    permission: Annotated[
        list[str] | None,
        typer.Option(metavar="PERMISSION", help="Repeat for each: " + ", ".join(auth.PERMISSIONS) + "."),
    ] = None,
    agents: Annotated[str | None, typer.Option(metavar="A,B,C", help="Limit the user to these agent ids.")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a user with permissions, optionally limited to some agents."""
    agent_list = [a.strip() for a in agents.split(",") if a.strip()] if agents else None
    try:
        with db.writing(_engine(Settings())) as conn:
            user_id = auth.create_user(conn, account, username, password, permission or [], agent_list)
    except ValueError as exc:
        fail(str(exc), json)
    except Exception as exc:  # unique username
        if "unique" in str(exc).lower():
            fail(f"username {username!r} is taken", json)
        raise
    emit({"userId": user_id}, json)


def _issue(user: str, kind: str, ttl: float | None, as_json: bool) -> tuple[str, int | None, str]:
    try:
        with db.writing(_engine(Settings())) as conn:
            secret, expires = auth.issue(conn, user, kind, ttl)
            tz = auth.account_zone(conn, user)
    except ValueError as exc:
        fail(str(exc), as_json)
    return secret, expires, tz


MAX_TOKEN_DAYS = 36_500  # 100 years: beyond that the expiry no longer fits a date


def _token_days(text: str | None, as_json: bool) -> int | None:
    """--expires-days as a whole number of days >= 1 (§8); 0 or less would never expire or be dead."""
    if text is None:
        return None
    days = int(text) if text.strip().isascii() and text.strip().isdigit() else 0
    if not 1 <= days <= MAX_TOKEN_DAYS:
        fail(f"--expires-days must be a whole number of days from 1 to {MAX_TOKEN_DAYS}, not {text!r}", as_json)
    return days


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="User id.")],
    expires_days: Annotated[
        str | None, typer.Option(metavar="N", help="Whole days until it expires, at least 1 (default never).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Create a long-lived API token for a user."""
    days = _token_days(expires_days, json)
    secret, expires, tz = _issue(user, "token", days * 86400 if days else None, json)
    out = {"userId": user, "token": secret}
    if expires is not None:
        out["expiresAt"] = account_time(expires, tz)
    emit(out, json)


@session_app.command("create")
def session_create(user: UserOpt, json: JsonOpt = False) -> None:
    """Open a session (ssid) for a user."""
    settings = Settings()
    secret, expires, tz = _issue(user, "session", settings.session_ttl_seconds, json)
    emit({"ssid": secret, "expiresAt": account_time(expires, tz)}, json)


def _revoke(user: str, kind: str, as_json: bool) -> None:
    with db.writing(_engine(Settings())) as conn:
        emit({"revoked": auth.revoke(conn, user, kind)}, as_json)


@token_app.command("revoke")
def token_revoke(user: UserOpt, json: JsonOpt = False) -> None:
    """Revoke every token of a user, at once."""
    _revoke(user, "token", json)


@session_app.command("revoke")
def session_revoke(user: UserOpt, json: JsonOpt = False) -> None:
    """End every session of a user, at once."""
    _revoke(user, "session", json)


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="JSON Lines of call records ('-' for stdin).")],
    account: AccountOpt,
    batch: Annotated[
        int, typer.Option(metavar="N", help="Records per atomic batch (1-10000).", min=1, max=10000)
    ] = 5000,
    json: JsonOpt = False,
) -> None:
    """Load call records from JSON Lines, in atomic batches, with a progress bar."""
    from callreport.loading import BadRecord, load_jsonl

    if str(file) != "-" and not file.exists():
        fail(f"no such file: {file}", json)
    try:
        counts = load_jsonl(_engine(Settings()), account, file, batch)
    except BadRecord as exc:
        fail(str(exc), json, exc.problems)
    except ValueError as exc:
        fail(str(exc), json)
    emit(counts, json)


@app.command()
def demo(
    calls: Annotated[int, typer.Option(metavar="N", help="How many demo calls to make.", min=0)] = 5000,
    days: Annotated[int, typer.Option(metavar="DAYS", help="Over how many days up to today.", min=1)] = 30,
    host: Annotated[str, typer.Option(metavar="HOST", help="The host `serve` will use, for the printed lines.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(metavar="PORT", help="The port `serve` will use, for the printed lines.")] = 8000,
    from_pbx: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="PBX", help="asterisk or freeswitch: write that PBX's CDR files and import them."
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """The demo account (made once, then reused), its admin user with every permission, and N calls."""
    if from_pbx not in (None, "asterisk", "freeswitch"):
        fail(f"--from must be asterisk or freeswitch, not {from_pbx!r}", json)
    from callreport import demo_account

    settings = Settings()
    engine = _engine(settings)
    made = demo_account.open_demo(engine, settings.session_ttl_seconds)
    stored, wrote = demo_account.fill_calls(engine, made, calls, days, from_pbx, settings.data_dir)
    if wrote and not json:
        err_console.print(wrote, markup=False, highlight=False)
    out = demo_account.credentials(made, stored)
    emit(out, json, demo_account.as_text(out, host, port))


# PBX sources (§11): `import asterisk-csv|freeswitch-json`, `source create|list|revoke`.
from callreport.sources.commands import register  # noqa: E402

register(app)


def main() -> None:
    """Entry point of the `callreport` command."""
    from callreport.memory import tune_process

    tune_process()
    app()
