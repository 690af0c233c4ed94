"""The command line of PBX sources: `import asterisk-csv`, `import freeswitch-json`, `source ...` (§8, §11)."""

from __future__ import annotations

import signal
import threading
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from callreport import db, metrics
from callreport.cli_common import HELP, AccountOpt, JsonOpt, emit, err_console, fail
from callreport.cli_common import migrated_engine as _engine
from callreport.settings import Settings
from callreport.sources import asterisk, credentials, freeswitch
from callreport.sources import mapping as mappings
from callreport.sources.merge import merge
from callreport.sources.store import Summary, account_timezone, check_accounts, load

import_app = typer.Typer(help="Import call records from a PBX's own files (§11).", **HELP)
source_app = typer.Typer(help="Push sources: credentials a PBX posts its CDRs with.", **HELP)

TzOpt = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        metavar="TZ",
        help="The PBX's zone for times without an offset (default: the mapping's, else the account's).",
    ),
]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", metavar="FILE.toml", help="Mapping settings (docs/mapping.example.toml).")
]
InternalOpt = Annotated[
    bool, typer.Option("--include-internal", help="Keep extension-to-extension calls (callType internal).")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Store nothing when any row is bad.")]
TICK_EVERY = 1000  # legs between progress updates: Rich's update costs more than a row


def register(app: typer.Typer) -> None:
    """Add `import` and `source` to the main command line."""
    app.add_typer(import_app, name="import")
    app.add_typer(source_app, name="source")


class RateColumn(ProgressColumn):
    """Rows per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


def _progress(unit: str) -> Progress:
    import os

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} " + unit),
        RateColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not err_console.is_terminal and "CALLREPORT_PROGRESS" not in os.environ,
    )


def _mapping(
    path: Path | None, timezone: str | None, include_internal: bool, account_zone: str, as_json: bool
) -> mappings.Mapping:
    """The mapping file with the command's options over it; the zone defaults to the account's (§11)."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8")) if path else {}
        mapping = mappings.from_dict(doc)
        zone = timezone or doc.get("timezone") or account_zone
        return mapping.with_options(timezone=zone, include_internal=include_internal or None)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"mapping {path}: {exc}", as_json)
    except mappings.MappingError as exc:
        fail(f"mapping: {exc}", as_json)


def _prepare(account: str, paths: list[Path], mapping_file, timezone, include_internal, as_json):
    """The engine and mapping, after checking the files and every account the import may write to."""
    for path in paths:
        if not path.exists():
            fail(f"no such file or folder: {path}", as_json)
    engine = _engine(Settings())
    zone = account_timezone(engine, account)
    if zone is None:
        fail(f"no account {account}", as_json)
    mapping = _mapping(mapping_file, timezone, include_internal, zone, as_json)
    missing = check_accounts(engine, mapping.accounts.values())
    if missing:
        fail(f"mapping: accounts names {missing}, which is no account here", as_json)
    return engine, mapping


def _counted(items: Iterable, progress: Progress, task) -> Iterator:
    """The legs, counted into the progress bar every TICK_EVERY."""
    n = 0
    for item in items:
        n += 1
        if n % TICK_EVERY == 0:
            progress.advance(task, TICK_EVERY)
        yield item
    progress.advance(task, n % TICK_EVERY)


def _counted_in_metrics(pbx: str, summary: Summary, strict: bool) -> None:
    """Count the calls an import stored (none when --strict rolled it back)."""
    if not (strict and summary.rejected):
        metrics.imported(pbx, summary.inserted + summary.updated)


def _finish(summary: Summary, strict: bool, as_json: bool) -> None:
    out = summary.as_dict()
    if as_json:
        emit(out, True)
    else:
        shown = {k: v for k, v in out.items() if k != "errors"}
        typer.echo(", ".join(f"{k} {v}" for k, v in shown.items()))
        for e in summary.errors:
            err_console.print(
                f"  {'line' if 'line' in e else 'file'} {e.get('line', e.get('file'))}: {e['reason']}",
                markup=False,
                highlight=False,
            )
        if strict and summary.rejected:
            err_console.print("--strict: nothing was stored.", markup=False)
    if strict and summary.rejected:
        raise typer.Exit(1)


@import_app.command("asterisk-csv")
def asterisk_csv(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Master.csv, cdr_custom or cdr table CSV files.")
    ],
    account: AccountOpt,
    timezone: TzOpt = None,
    mapping: MappingOpt = None,
    include_internal: InternalOpt = False,
    strict: StrictOpt = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Keep reading a growing file (like tail -F) until Ctrl-C.")
    ] = False,
    poll: Annotated[
        float, typer.Option("--poll-seconds", metavar="S", help="With --follow: seconds between reads.", min=0.05)
    ] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Import Asterisk CDRs: one record per call (legs merged by linkedid/uniqueid)."""
    if follow and (len(files) != 1 or strict):
        fail("--follow reads one file, without --strict", json)
    engine, settings = _prepare(account, files, mapping, timezone, include_internal, json)
    if follow:
        _follow(engine, account, files[0], settings, poll, json)
        return

    def outcomes(progress: Progress, task):
        for path in files:
            yield from merge(_counted(asterisk.legs(path, settings), progress, task), settings)

    with _progress("rows") as progress:
        task = progress.add_task("asterisk-csv", total=None)
        summary = load(engine, account, outcomes(progress, task), strict=strict)
    _counted_in_metrics("asterisk", summary, strict)
    _finish(summary, strict, json)


def _follow(engine, account: str, path: Path, settings: mappings.Mapping, poll: float, as_json: bool) -> None:
    from callreport.sources.follow import Follower, FollowError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())  # a clean stop: the poll in progress finishes first
    with _progress("rows") as progress:
        task = progress.add_task(f"following {path.name}", total=None)
        follower = Follower(engine, account, path, settings, tick=lambda n: progress.advance(task, n))
        try:
            summary = follower.run(stop, poll)
        except FollowError as exc:
            fail(str(exc), as_json)
    _finish(summary, False, as_json)


@import_app.command("freeswitch-json")
def freeswitch_json(
    paths: Annotated[list[Path], typer.Argument(metavar="PATH...", help="mod_json_cdr files or folders of them.")],
    account: AccountOpt,
    timezone: TzOpt = None,
    mapping: MappingOpt = None,
    include_internal: InternalOpt = False,
    strict: StrictOpt = False,
    json: JsonOpt = False,
) -> None:
    """Import FreeSWITCH mod_json_cdr documents: A and B legs (and mod_callcenter legs) become one call."""
    engine, settings = _prepare(account, paths, mapping, timezone, include_internal, json)
    with _progress("files") as progress:
        task = progress.add_task("freeswitch-json", total=sum(1 for _ in freeswitch.files(paths)))
        legs = _counted(freeswitch.legs(paths, settings), progress, task)
        summary = load(engine, account, merge(legs, settings), strict=strict)
    _counted_in_metrics("freeswitch", summary, strict)
    _finish(summary, strict, json)


@source_app.command("create")
def source_create(
    kind: Annotated[str, typer.Argument(metavar="freeswitch", help="The PBX that will post: freeswitch.")],
    account: AccountOpt,
    include_internal: InternalOpt = False,
    base_url: Annotated[
        str, typer.Option("--base-url", metavar="URL", help="Where the PBX reaches callreport.")
    ] = "http://127.0.0.1:8000",
    json: JsonOpt = False,
) -> None:
    """Credentials and URL for a PBX to post CDRs to; the password is shown once."""
    try:
        with db.writing(_engine(Settings())) as conn:
            out = credentials.create(conn, account, kind, include_internal, base_url)
    except ValueError as exc:
        fail(str(exc), json)
    emit(out, json)


@source_app.command("list")
def source_list(account: AccountOpt, json: JsonOpt = False) -> None:
    """The account's push sources (revoked ones too), without secrets."""
    with _engine(Settings()).connect() as conn:
        found = credentials.listing(conn, account)
    text = "\n".join(
        f"{s['sourceId']}  {s['kind']}  {s['username']}  {'revoked' if s['revokedAt'] else 'active'}" for s in found
    )
    emit({"sources": found}, json, text or "no sources")


@source_app.command("revoke")
def source_revoke(
    source: Annotated[str, typer.Option("--source", metavar="ID", help="Source id.")], json: JsonOpt = False
) -> None:
    """Revoke a push source: its posts are refused at once."""
    with db.writing(_engine(Settings())) as conn:
        emit({"revoked": credentials.revoke(conn, source)}, json)
