"""The CSV writer: UTF-8 without BOM, RFC 4180 quoting, the formula rule on text cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO

import orjson

from callreport.export.columns import Column
from callreport.export.meta import FORMULA_START, Progress, batches, neutralize

Formatter = Callable[[Any], Any]


def _text(value: str | None) -> str | None:
    # The first-character test is cheap; the full rule runs only on the rare suspect cell.
    if value is None or value[:1] not in FORMULA_START:
        return value
    return neutralize(value)


def _time(value: Any) -> str | None:
    # The export pipeline hands times already as ISO text (IsoClock); datetimes still work.
    return value if value is None or type(value) is str else value.isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _any(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None or kind is int:
        return value  # csv writes None as an empty cell and an int as JSON does
    return orjson.dumps(value).decode()


# None: the csv module already writes the value as the contract wants (int, None).
_FORMATTERS: dict[str, Formatter | None] = {
    "text": _text,
    "phone": _text,
    "time": _time,
    "json": _json,
    "int": None,
    "any": _any,
}


def _row_formatter(columns: Sequence[Column]) -> Callable[[tuple], list]:
    """One function turning a row of values into CSV cells, touching only columns that need it."""
    steps = [(i, f) for i, c in enumerate(columns) if (f := _FORMATTERS.get(c.kind, _any)) is not None]

    def format_row(row: tuple) -> list:
        cells = list(row)
        for i, fmt in steps:
            cells[i] = fmt(cells[i])
        return cells

    return format_row


def write_csv(columns: Sequence[Column], rows: Iterable[tuple], out: BinaryIO, progress: Progress | None = None) -> int:
    """Write the header and rows to ``out`` as CSV; the number of rows written."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", errors="replace")
    try:
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([c.name for c in columns])
        format_row = _row_formatter(columns)
        count = 0
        for batch in batches(rows):
            writer.writerows(map(format_row, batch))
            count += len(batch)
            if progress is not None:
                progress(count)
        text.flush()
        return count
    finally:
        # Detach so that dropping the wrapper never closes the caller's stream.
        text.detach()
