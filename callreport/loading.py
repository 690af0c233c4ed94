"""The bulk load of call records (`callreport ingest`, `callreport demo`): validated, upserted in atomic
batches, with a progress bar on the terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import Engine

from callreport import db, errors, metrics
from callreport.cli_common import err_console
from callreport.repo import calls as calls_repo

ANALYZE_AFTER = 10_000  # a bulk load this large refreshes the planner's statistics


class BadRecord(ValueError):
    """A record of a file that failed validation: every problem with its field and file line."""

    def __init__(self, message: str, problems: list[dict]):
        super().__init__(message)
        self.problems = problems


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
        # A bar only where someone watches (a terminal), or when asked for.
        disable=not err_console.is_terminal and "CALLREPORT_PROGRESS" not in os.environ,
    )


def load_records(
    engine,
    account_id: str,
    records,
    total: int | None,
    label: str,
    batch: int = 5000,
    lines: list[int] | None = None,
) -> dict:
    """Validate and upsert records in atomic batches, with a progress bar; returns the counts."""
    from callreport.ingest import InvalidRecord, to_rows
    from callreport.repo import accounts as accounts_repo

    with engine.connect() as conn:
        tz = accounts_repo.account_timezone(conn, account_id)
    if tz is None:
        raise ValueError(f"no account {account_id}")
    counts = {"inserted": 0, "updated": 0, "batches": 0}
    with _progress() as progress:
        task = progress.add_task(label, total=total)
        for chunk_start, chunk in _chunks(records, batch):
            try:
                rows = to_rows(account_id, chunk, ZoneInfo(tz))
            except InvalidRecord as exc:
                raise _bad_record(exc, chunk_start, lines, counts) from None
            except errors.ApiError as exc:
                raise ValueError(exc.detail or exc.message) from None
            with db.writing(engine) as conn:
                ins, upd = calls_repo.upsert(conn, account_id, rows)
            counts["inserted"] += ins
            counts["updated"] += upd
            counts["batches"] += 1
            metrics.ingested("cli", ins + upd)
            progress.advance(task, len(chunk))
    if counts["inserted"] >= ANALYZE_AFTER:
        db.analyze(engine)
    return counts


def _chunks(records, size: int):
    chunk, start, n = [], 0, 0
    for rec in records:
        chunk.append(rec)
        n += 1
        if len(chunk) == size:
            yield start, chunk
            chunk, start = [], n
    if chunk:
        yield start, chunk


def _bad_record(exc, offset: int, lines: list[int] | None, counts: dict) -> BadRecord:
    """Name the record by its number and file line (blank lines count), with every problem it has."""
    index = exc.index + offset
    line = lines[index] if lines else index + 1
    problems = [{"line": line, "field": field, "reason": reason} for field, reason in exc.problems]
    many = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
    kept = counts["inserted"] + counts["updated"]
    stored = f"Nothing of its batch was stored; the {kept} records before it were." if kept else "Nothing was stored."
    first = problems[0]
    message = f"record {index} (line {line}) has {many}, first {first['field']}: {first['reason']}. {stored}"
    return BadRecord(message, problems)


def load_jsonl(engine: Engine, account_id: str, file: Path, batch: int) -> dict:
    """Load a JSON Lines file ('-' for stdin) with load_records; errors name the file's real lines."""
    stdin = str(file) == "-"
    total = None if stdin else _count_lines(file)
    stream = sys.stdin.buffer if stdin else file.open("rb")
    lines: list[int] = []  # the file line of each record, so errors name the real line
    try:
        return load_records(engine, account_id, _json_lines(stream, lines), total, "ingest", batch, lines)
    finally:
        if not stdin:
            stream.close()


def _json_lines(stream: Iterable[bytes], lines: list[int]) -> Iterator[dict]:
    """The records of the non-blank lines, noting each one's line number in `lines`."""
    for number, line in enumerate(stream, 1):
        if line.strip():
            lines.append(number)
            try:
                yield orjson.loads(line)
            except orjson.JSONDecodeError:
                raise ValueError(f"line {number} is not JSON") from None


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())
