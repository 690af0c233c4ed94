"""What every export writer shares: the report's metadata and progress."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice

Progress = Callable[[int], None]

# Rows between two progress calls: often enough to cancel a job within a fraction of a
# second, rare enough that the call costs nothing next to writing the rows.
PROGRESS_EVERY = 2000


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


# The registry's writers take the metadata as a function: only Excel and PDF call it, and
# computing it costs the summary queries.
MetaFn = Callable[[], ReportMeta]


def batches(rows: Iterable[tuple], size: int = PROGRESS_EVERY) -> Iterator[list[tuple]]:
    """The rows in lists of at most ``size``, so a writer can report progress between them."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def clock(seconds: int) -> str:
    """Seconds as H:MM:SS, hours not wrapping at 24."""
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
