"""IANA timezone names: a leaf shared by filters, accounts and the CLI."""

from __future__ import annotations

import functools
import zoneinfo


@functools.cache
def _zone_names() -> frozenset[str]:
    # Only real zones: ZoneInfo() also opens folders of the tz database ("Asia": IsADirectoryError)
    # and paths ("../etc"); the list is read once (~100 ms), a set lookup after that.
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """The name if it is an IANA timezone, else ValueError."""
    if name not in _zone_names():
        raise ValueError(f"unknown timezone {name!r}: use an IANA zone name such as Asia/Kolkata or UTC")
    return name
