"""The CSV writer: UTF-8 without BOM, RFC 4180 quoting, the formula rule on text cells."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from callreport.export.cells import csv_cell
from callreport.export.columns import Column
from callreport.export.meta import MetaFn, Progress, batches


def _row_formatter(columns: Sequence[Column]) -> Callable[[tuple], list]:
    """One function turning a row of values into CSV cells, touching only columns that need it."""
    steps = [(i, f) for i, c in enumerate(columns) if (f := csv_cell(c.kind)) is not None]

    def format_row(row: tuple) -> list:
        cells = list(row)
        for i, fmt in steps:
            cells[i] = fmt(cells[i])
        return cells

    return format_row


def write_csv(columns: Sequence[Column], rows: Iterable[tuple], out: BinaryIO, progress: Progress | None = None) -> int:
    """Write the header and rows to the stream ``out`` as CSV; the number of rows written."""
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


def write(
    columns: Sequence[Column], rows: Iterable[tuple], path: Path, meta_fn: MetaFn, progress: Progress | None = None
) -> int:
    """The registry's writer: CSV to a file at ``path`` (no metadata needed)."""
    with Path(path).open("wb") as out:
        return write_csv(columns, rows, out, progress)
