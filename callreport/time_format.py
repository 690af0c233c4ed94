"""Showing stored epoch seconds as ISO 8601 in a zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def account_time(ts: int | float | None, tz: str | ZoneInfo) -> str | None:
    """Epoch seconds as ISO 8601 with offset in the zone (None stays None)."""
    if ts is None:
        return None
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    return datetime.fromtimestamp(int(ts), zone).isoformat()
