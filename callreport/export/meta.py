"""What every export writer shares: the report's metadata, the formula rule and progress."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

Progress = Callable[[int], None]

# Rows between two progress calls: often enough to cancel a job within a fraction of a
# second, rare enough that the call costs nothing next to writing the rows.
PROGRESS_EVERY = 2000

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_START = frozenset("=+-@\t\r")
# The contract's "plain number or phone number": an optional sign, then digits, spaces,
# dashes and dots. Such a cell is left alone even if it starts with + or -.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9 .\-]*")


@dataclass
class ReportMeta:
    """The words and figures a report shows besides its rows."""

    title: str
    account_name: str
    timezone: str
    filters_text: list[str]  # the filters in words, one line each
    generated_at: datetime  # aware
    totals: dict[str, int]  # calls, answered, missed, talk_seconds
    per_day: list[tuple[str, int, int]] = field(default_factory=list)  # (YYYY-MM-DD, answered, missed)
    by_status: list[tuple[str, int]] = field(default_factory=list)  # (status, calls)
    # (agentId, agentName, calls, answered, talk_seconds)
    by_agent: list[tuple[str | None, str | None, int, int, int]] = field(default_factory=list)


def neutralize(text: str) -> str:
    """The text with a leading ' when a spreadsheet would run it as a formula."""
    if text[:1] in FORMULA_START and _PLAIN_NUMBER.fullmatch(text) is None:
        return "'" + text
    return text


def batches(rows: Iterable[tuple], size: int = PROGRESS_EVERY) -> Iterator[list[tuple]]:
    """The rows in lists of at most ``size``, so a writer can report progress between them."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def clock(seconds: int) -> str:
    """Seconds as H:MM:SS, hours not wrapping at 24."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
