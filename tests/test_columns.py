"""The compiled row reader gives exactly what the plain getters give, masked or not."""

from __future__ import annotations

import random
from collections import namedtuple
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callreport.export.columns import DEFAULT_COLUMNS, mask_number, resolve_columns, row_reader, row_values
from callreport.repo.calls import ROW_COLUMNS

FIELDS = [c.name for c in ROW_COLUMNS]
Row = namedtuple("Row", FIELDS)


def _random_row(rng: random.Random) -> Row:
    values = {}
    for name in FIELDS:
        if name.endswith("_ts"):
            values[name] = rng.randrange(1_600_000_000, 1_900_000_000)
        elif name in ("duration", "talk_duration", "hold_duration", "wait_time", "id"):
            values[name] = rng.randrange(0, 5000)
        elif name == "call_analysis":
            values[name] = rng.choice([{}, {"sentiment": "ok", "score": 1.5, "flag": True, "n": None}])
        elif name.endswith("number"):
            values[name] = rng.choice(["+91 98765-43210", "1234", "+1-415-555-0100", "09876543210"])
        else:
            values[name] = rng.choice([None, "x", "Zoë", "=SUM(A1)"]) if name not in ("call_id",) else "c1"
    return Row(**values)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_reader_matches_getters(masked: bool, tz: str) -> None:
    rng = random.Random(7)
    zone = ZoneInfo(tz)
    columns = DEFAULT_COLUMNS + resolve_columns(["callAnalysis.score", "callAnalysis.missing", "callAnalysis.n"])
    reader = row_reader(columns, FIELDS, zone, masked)
    for _ in range(300):
        row = _random_row(rng)
        assert reader(row) == row_values(columns, row, zone, masked)


def test_reader_times_are_local() -> None:
    row = _random_row(random.Random(1))._replace(start_ts=1_767_225_600)  # 2026-01-01T00:00:00Z
    (start,) = row_reader(resolve_columns(["startTime"]), FIELDS, ZoneInfo("Asia/Kolkata"), False)(row)
    assert start == datetime(2026, 1, 1, 5, 30, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+919876543210", "+91XXXXXXXX10"),
        ("+91 98765-43210", "+91 XXXXX-XXX10"),
        ("1234", "XXXX"),
        ("12345", "12X45"),
        ("+1-415-555-0100", "+1-4XX-XXX-XX00"),
        ("", ""),
    ],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"])
def test_iso_clock_equals_isoformat(tz: str) -> None:
    """Every second around DST changes (and zones with 30/45-minute offsets) formats as isoformat does."""
    from callreport.export.columns import IsoClock

    zone = ZoneInfo(tz)
    clock = IsoClock(zone, size=50)  # small: the cache is cleared and refilled along the way
    rng = random.Random(3)
    samples = [rng.randrange(0, 2_000_000_000) for _ in range(3000)]
    # 2026 transitions: New York 03-08 and 11-01, Lord Howe 04-05 and 10-04 (half-hour shifts)
    for day in ("2026-03-08", "2026-11-01", "2026-04-05", "2026-10-04"):
        start = int(datetime.fromisoformat(day + "T00:00:00+00:00").timestamp()) - 86400
        samples += range(start, start + 2 * 86400, 7)
    samples.append(-2_500_000_000)  # 1890: local mean time, an offset with seconds
    for ts in samples:
        assert clock(ts) == datetime.fromtimestamp(ts, zone).isoformat(), ts
    assert clock(None) is None


@pytest.mark.parametrize("masked", [False, True])
def test_records_equal_record(masked: bool) -> None:
    """A page's records (compiled path) equal one-by-one records (getter path)."""
    from callreport.export.columns import record, records

    rng = random.Random(11)
    rows = [_random_row(rng) for _ in range(200)]
    zone = ZoneInfo("America/New_York")
    assert records(rows, FIELDS, zone, masked) == [record(r, zone, masked) for r in rows]
