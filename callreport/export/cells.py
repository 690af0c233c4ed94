"""One rule for a cell of each column kind: CSV text, Excel native values, PDF display text.

Kinds come from export/columns.py: text, phone, int, time, json, and any (a
callAnalysis.<key> value: str, number, bool or null, or whatever JSON held).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

Cell = Callable[[Any], Any]

# A cell starting with one of these is run as a formula by spreadsheet programs (§9).
FORMULA_START = frozenset("=+-@\t\r")
# The contract's "plain number or phone number": an optional sign, then digits, spaces,
# dashes and dots. Such a cell is left alone even if it starts with + or -.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9 .\-]*")


def neutralize(text: str) -> str:
    """The text with a leading ' when a spreadsheet would run it as a formula."""
    if text[:1] in FORMULA_START and _PLAIN_NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def json_text(value: Any) -> str:
    """Compact JSON, as CSV, Excel and PDF show objects and numbers of unknown kind."""
    return orjson.dumps(value).decode()


def any_text(value: Any) -> str:
    """A value of any kind as text: strings as they are, booleans true/false, the rest as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    return json_text(value)


def iso_text(value: Any) -> str:
    """A time as ISO 8601 with offset; the pipeline may already hand it as text (IsoClock)."""
    return value if type(value) is str else value.isoformat()


# --- CSV: text with the formula rule; None where the csv module already writes the value right.


def _csv_text(value: str | None) -> str | None:
    # The first-character test is cheap; the full rule runs only on the rare suspect cell.
    if value is None or value[:1] not in FORMULA_START:
        return value
    return neutralize(value)


def _csv_any(value: Any) -> Any:
    if value is None or type(value) is int:
        return value  # csv writes None as an empty cell and an int as JSON does
    return _csv_text(any_text(value))


_CSV: dict[str, Cell | None] = {
    "text": _csv_text,
    "phone": _csv_text,
    "time": lambda v: None if v is None else iso_text(v),
    "json": lambda v: None if v is None else json_text(v),
    "int": None,
    "any": _csv_any,
}


def csv_cell(kind: str) -> Cell | None:
    """The CSV formatter of a column kind, or None when the value is written as it is."""
    return _CSV.get(kind, _csv_any)


# --- Excel: native values; text is written as text cells, never formulas, and gets no '.


def native(value: Any) -> str | bool | int | float:
    """An any-kind value as Excel stores it: text, boolean, finite number, else its JSON text."""
    kind = type(value)
    if kind is str or kind is bool:
        return value
    if (kind is int or kind is float) and math.isfinite(value):
        return value
    return json_text(value)


# --- PDF: display text.

_DISPLAY: dict[str, Callable[[Any], str]] = {
    "text": str,
    "phone": str,
    "int": str,
    "json": json_text,
    # Times show their wall clock in the effective timezone, named on the cover page.
    "time": lambda v: iso_text(v).replace("T", " ", 1)[:19],
}


def display(kind: str) -> Callable[[Any], str]:
    """How a non-null value of a column kind is shown in a PDF table cell."""
    return _DISPLAY.get(kind, any_text)
