"""The Excel writer: typed cells streamed in XlsxWriter's constant-memory mode, plus a Summary sheet."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from callreport.export.cells import json_text, native
from callreport.export.columns import Column
from callreport.export.meta import MetaFn, Progress, ReportMeta, batches, clock

EXCEL_MAX_ROWS = 1_048_576
CELL_MAX_CHARS = 32_767
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
# Width in characters by kind: a time is 19 characters, phone numbers up to ~16.
_WIDTHS = {"text": 16, "phone": 17, "time": 20, "int": 12, "json": 40, "any": 14}

CellWriter = Callable[[int, int, Any], Any]


def _string_writer(ws: Worksheet, cell_format: Format | None = None) -> CellWriter:
    """A writer of text cells, safe for any text."""
    write_string = ws.write_string
    run_format = cell_format or Format()

    def write(row: int, col: int, value: str) -> None:
        if not value:
            return  # an empty text is a blank cell
        if len(value) > CELL_MAX_CHARS:
            value = value[:CELL_MAX_CHARS]
        # In constant-memory mode XlsxWriter copies a string shaped "<r>...</r>" into the
        # XML unescaped, taking it for a rich string it built; a one-run rich string of
        # the same text is escaped properly and reads back as the same text.
        if value.startswith("<r>") and value.endswith("</r>"):
            parts = (value[:1], run_format, value[1:])
            ws.write_rich_string(row, col, *parts, *([cell_format] if cell_format else []))
        else:
            write_string(row, col, value, cell_format)

    return write


def _cell_writers(ws: Worksheet, columns: Sequence[Column], date_format: Format) -> list[CellWriter]:
    """One writer per column, chosen once by the column's kind so no cell needs type detection."""
    text = _string_writer(ws)
    write_number, write_datetime = ws.write_number, ws.write_datetime

    def time(row: int, col: int, value: Any) -> None:
        write_datetime(row, col, value.replace(tzinfo=None), date_format)

    def json(row: int, col: int, value: Any) -> None:
        text(row, col, json_text(value))

    def any_value(row: int, col: int, value: Any) -> None:
        value = native(value)
        kind = type(value)
        if kind is str:
            text(row, col, value)
        elif kind is bool:
            ws.write_boolean(row, col, value)
        else:
            write_number(row, col, value)

    by_kind = {"text": text, "phone": text, "int": write_number, "time": time, "json": json}
    return [by_kind.get(c.kind, any_value) for c in columns]


class _CallSheets:
    """The data sheets: Calls, Calls 2, ... each with the same bold, frozen, filterable header."""

    def __init__(self, wb: Workbook, columns: Sequence[Column], max_rows: int) -> None:
        if not 1 <= max_rows < EXCEL_MAX_ROWS:
            raise ValueError(f"max_rows_per_sheet must be 1..{EXCEL_MAX_ROWS - 1}")
        self.wb, self.columns, self.max_rows = wb, columns, max_rows
        self.bold = wb.add_format({"bold": True})
        self.date_format = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.sheets = 0
        self.ws: Worksheet | None = None
        self.writers: list[CellWriter] = []
        self.rows = 0  # data rows on the current sheet

    def start(self) -> None:
        """Close the current sheet and open the next one."""
        self.finish()
        self.sheets += 1
        ws = self.ws = self.wb.add_worksheet("Calls" if self.sheets == 1 else f"Calls {self.sheets}")
        for col, column in enumerate(self.columns):
            width = min(max(_WIDTHS.get(column.kind, 14), len(column.name) + 3), 60)
            ws.set_column(col, col, width)
        header = _string_writer(ws, self.bold)
        for col, column in enumerate(self.columns):
            header(0, col, column.name)
        ws.freeze_panes(1, 0)
        self.writers = _cell_writers(ws, self.columns, self.date_format)
        self.rows = 0

    def finish(self) -> None:
        """Put the filter over the current sheet's header and rows."""
        if self.ws is not None and self.columns:
            self.ws.autofilter(0, 0, self.rows, len(self.columns) - 1)

    def write(self, batch: list[tuple]) -> None:
        """Write rows, moving to a new sheet whenever one is full."""
        for values in batch:
            if self.rows >= self.max_rows:
                self.start()
            self.rows += 1
            row, writers = self.rows, self.writers
            for col, value in enumerate(values):
                if value is not None:
                    writers[col](row, col, value)


def _write_summary(wb: Workbook, meta: ReportMeta) -> None:
    """The Summary sheet: what the report is, its totals, then tables by status and by agent."""
    ws = wb.add_worksheet("Summary")
    bold = wb.add_format({"bold": True})
    text = _string_writer(ws)
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 28)
    ws.set_column(2, 5, 14)
    _string_writer(ws, wb.add_format({"bold": True, "font_size": 14}))(0, 0, meta.title)
    lines = [("Account", meta.account_name), ("Timezone", meta.timezone)]
    lines.append(("Generated", meta.generated_at.isoformat(timespec="seconds")))
    lines += [("Filters" if i == 0 else "", f) for i, f in enumerate(meta.filters_text or ["none"])]
    row = 2
    for label, value in lines:
        if label:
            ws.write_string(row, 0, label, bold)
        text(row, 1, value)
        row += 1
    row += 1
    ws.write_string(row, 0, "Totals", bold)
    for label, key in (("Calls", "calls"), ("Answered", "answered"), ("Missed", "missed")):
        row += 1
        ws.write_string(row, 0, label)
        ws.write_number(row, 1, meta.totals.get(key, 0))
    row += 1
    talk = meta.totals.get("talk_seconds", 0)
    ws.write_string(row, 0, "Talk time (s)")
    ws.write_number(row, 1, talk)
    ws.write_string(row, 2, clock(talk))
    row = _table(ws, row + 2, "By status", ["Status", "Calls"], meta.by_status, bold)
    agents = [(a, n, c, ans, c - ans, t) for a, n, c, ans, t in meta.by_agent]
    headers = ["Agent ID", "Agent name", "Calls", "Answered", "Missed", "Talk time (s)"]
    _table(ws, row + 1, "By agent", headers, agents, bold)


def _table(ws: Worksheet, row: int, title: str, headers: list[str], data: Iterable[tuple], bold: Format) -> int:
    """A titled table of strings and numbers from ``row``; the first row after it."""
    text = _string_writer(ws)
    ws.write_string(row, 0, title, bold)
    for col, name in enumerate(headers):
        ws.write_string(row + 1, col, name, bold)
    row += 2
    for values in data:
        for col, value in enumerate(values):
            if isinstance(value, str):
                text(row, col, value)
            elif value is not None:
                ws.write_number(row, col, value)
        row += 1
    return row


def write_xlsx(
    columns: Sequence[Column],
    rows: Iterable[tuple],
    path: str,
    meta: ReportMeta,
    progress: Progress | None = None,
    max_rows_per_sheet: int = EXCEL_MAX_ROWS - 1,
) -> int:
    """Write the rows to an .xlsx file at ``path``; the number of rows written."""
    wb = Workbook(path, WORKBOOK_OPTIONS)
    try:
        sheets = _CallSheets(wb, columns, max_rows_per_sheet)
        sheets.start()
        count = 0
        for batch in batches(rows):
            sheets.write(batch)
            count += len(batch)
            if progress is not None:
                progress(count)
        sheets.finish()
        _write_summary(wb, meta)
    except BaseException:
        # Close to release the sheets' temporary files, then leave no partial workbook behind.
        with contextlib.suppress(Exception):
            wb.close()
        with contextlib.suppress(OSError):
            os.remove(path)
        raise
    wb.close()
    return count


def write(
    columns: Sequence[Column], rows: Iterable[tuple], path: Path, meta_fn: MetaFn, progress: Progress | None = None
) -> int:
    """The registry's writer: an .xlsx file at ``path`` with its Summary sheet."""
    return write_xlsx(columns, rows, str(path), meta_fn(), progress)
