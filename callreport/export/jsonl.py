"""The JSON Lines writer: gzip-compressed, one call per line in the `list` record's shape (§7).

Values come from the same compiled reader as `list` (times as ISO 8601 text in the
effective timezone, numbers masked without VIEW_NUMBER), so a line equals the `list`
record of the call restricted to the requested columns. `callAnalysis.<key>` columns are
nested under `callAnalysis`, and a key the call lacks is left out, as `list` leaves it out.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from callreport.export.columns import Column
from callreport.export.formats import ABSENT
from callreport.export.meta import MetaFn, Progress, batches

ANALYSIS = "callAnalysis"
# zlib level 6 (gzip's own default is 9): within a few percent of 9's size at about twice
# its speed on call records.
LEVEL = 6


def _nested(keys: list[tuple[str, int]]) -> Callable[[tuple], dict]:
    def nest(row: tuple) -> dict:
        return {key: value for key, i in keys if (value := row[i]) is not ABSENT}

    return nest


def line_builder(columns: Sequence[Column]) -> Callable[[tuple], dict[str, Any]]:
    """A row of values -> the record of one line, callAnalysis.<key> columns under callAnalysis."""
    names = [c.name for c in columns]
    keys = [(c.key, i) for i, c in enumerate(columns) if c.key is not None]
    if not keys:
        return lambda row: dict(zip(names, row, strict=True))
    plan: list[tuple[str, Callable[[tuple], Any]]] = []
    whole = names.index(ANALYSIS) if ANALYSIS in names else None
    for i, c in enumerate(columns):
        if c.key is None and c.name != ANALYSIS:
            plan.append((c.name, itemgetter(i)))
        elif not any(name == ANALYSIS for name, _ in plan):
            # The object sits where its first column was asked for; the whole object, when
            # asked for too, already holds every key.
            plan.append((ANALYSIS, itemgetter(whole) if whole is not None else _nested(keys)))
    return lambda row: {name: get(row) for name, get in plan}


def write(
    columns: Sequence[Column], rows: Iterable[tuple], path: Path, meta_fn: MetaFn, progress: Progress | None = None
) -> int:
    """The registry's writer: the rows as gzip JSON Lines at ``path``, a batch at a time."""
    build, dumps, newline = line_builder(columns), orjson.dumps, orjson.OPT_APPEND_NEWLINE
    count = 0
    with Path(path).open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=LEVEL) as out:
        for batch in batches(rows):
            out.write(b"".join([dumps(build(row), option=newline) for row in batch]))
            count += len(batch)
            if progress is not None:
                progress(count)
    return count
