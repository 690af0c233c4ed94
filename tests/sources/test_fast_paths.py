"""The importer's shortcuts (issue 12 item 6) give what the plain stdlib computation gives."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callreport.record import FIELDS
from callreport.repo.calls import JSON_FIELDS, UPSERT_FIELDS, _param
from callreport.sources import asterisk, freeswitch, merge
from callreport.sources.clock import clock
from callreport.sources.legs import Rejected
from callreport.sources.mapping import Mapping
from callreport.sources.merge import _iso
from callreport.sources.store import record_params, record_row
from tests.sources.helpers import CORPUS

AMSTERDAM = "Europe/Amsterdam"  # 2025: clocks go 02:00 -> 03:00 on 30 March, 03:00 -> 02:00 on 26 October


def _seconds_around(local: str, before: int, after: int) -> list[str]:
    moment = datetime.fromisoformat(local)
    return [(moment + timedelta(seconds=s)).isoformat(sep=" ") for s in range(-before, after)]


@pytest.mark.parametrize("zone", ["UTC", AMSTERDAM, "America/St_Johns", "Asia/Kolkata"])
def test_minute_clock_agrees_with_datetime_across_zone_changes(zone):
    texts = (
        _seconds_around("2025-03-30 02:00:00", 70, 70)  # into and out of the skipped hour
        + _seconds_around("2025-03-30 02:30:00", 5, 5)  # inside it
        + _seconds_around("2025-10-26 02:30:00", 65, 65)  # the repeated hour
        + _seconds_around("2025-10-26 03:00:00", 65, 65)
        + ["2025-01-01 10:05:07.250000", "2025-01-01T10:05:59", "2025-01-01 10:05"]
    )
    moment = clock(Mapping(timezone=zone))
    tz = ZoneInfo(zone)
    for text in texts * 2:  # the second pass answers from the caches
        when = datetime.fromisoformat(text)
        expected = when.replace(tzinfo=tz).timestamp()
        assert moment(text) == expected, text


@pytest.mark.parametrize(
    "text", ["2025-01-01 10:05:60", "2025-01-01 10:05:1x", "2025-01-01 10:60:00", "1979-12-31 23:59:59"]
)
def test_minute_clock_rejects_what_datetime_rejects(text):
    moment = clock(Mapping())
    moment("2025-01-01 10:05:00")  # the minute is cached: a bad second must not borrow it
    with pytest.raises(ValueError):
        moment(text)


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        (AMSTERDAM, datetime(2025, 3, 30, 1, 0)),  # UTC instants of the changes
        (AMSTERDAM, datetime(2025, 10, 26, 1, 0)),
        ("America/St_Johns", datetime(2025, 3, 9, 5, 30)),  # -03:30 / -02:30
        ("Africa/Monrovia", datetime(1970, 1, 1)),  # -00:44:30 then: offsets with seconds are not shared
        ("UTC", datetime(2025, 1, 1)),
    ],
)
def test_minute_iso_agrees_with_datetime(zone, around):
    tz = ZoneInfo(zone)
    base = int((around - datetime(1970, 1, 1)).total_seconds())
    for epoch in [*range(base - 125, base + 125), base + 0.9, base - 59.5]:
        assert _iso(epoch, tz) == datetime.fromtimestamp(int(epoch), tz).isoformat(), epoch


def _outcomes():
    for zone in ("UTC", AMSTERDAM):
        mapping = Mapping(timezone=zone, include_internal=True)
        for path in sorted(CORPUS.glob("asterisk-*.csv")):
            yield from asterisk.read(path, mapping)
        yield from freeswitch.read(sorted(CORPUS.glob("freeswitch-*.json")), mapping)


def test_stored_times_and_events_are_what_the_record_says():
    """The row from merge's epochs equals the row from parsing the record's own ISO texts."""
    checked = 0
    for outcome in _outcomes():
        if outcome.record is None:
            continue
        assert outcome.stored is not None
        assert record_row("a", outcome.record, 1, outcome.stored) == record_row("a", outcome.record, 1)
        checked += 1
    assert checked > 100


def _as_params(row: dict) -> tuple:
    """The tuple upsert() makes of a row dict (the path ingest takes)."""
    return tuple(_param(row[f], f in JSON_FIELDS) for f in UPSERT_FIELDS)


def test_import_params_are_the_upsert_of_the_row():
    """The import's one-pass tuples equal upsert's tuples of ingest's row dicts, field for field."""
    checked = 0
    for outcome in _outcomes():
        if outcome.record is None:
            continue
        expected = _as_params(record_row("acc", outcome.record, 7, outcome.stored))
        assert record_params("acc", outcome.record, 7, outcome.stored) == expected
        assert record_params("acc", outcome.record, 7) == expected  # from the ISO texts
        checked += 1
    assert checked > 100


def test_import_params_of_unknown_numbers_and_labels():
    """NOT NULL numbers a PBX did not know are stored as "", nullable labels as NULL, customer_rev reversed."""
    record = {f.name: None for f in FIELDS}
    record |= {"callId": "c-1", "startTime": "2025-01-01T10:00:00+00:00", "endTime": "2025-01-01T10:00:05+00:00",
               "duration": 5, "talkDuration": 0, "holdDuration": 0, "waitTime": 0, "direction": "inbound",
               "callType": "direct", "status": "missed", "customerNumber": "+31 20-123", "callAnalysis": {"a": 1},
               "events": [{"time": "2025-01-01T10:00:00+00:00", "type": "dial"}]}  # fmt: skip
    got = dict(zip(UPSERT_FIELDS, record_params("acc", record, 9), strict=True))
    assert got == dict(zip(UPSERT_FIELDS, _as_params(record_row("acc", record, 9)), strict=True))
    assert (got["caller_number"], got["did_number"], got["agent_id"]) == ("", "", None)
    assert (got["customer_rev"], got["start_ts"], got["end_ts"]) == ("3210213", 1735725600, 1735725605)
    assert got["events"] == '[{"time":1735725600,"type":"dial"}]'
    assert (got["account_id"], got["updated_at"], got["call_analysis"]) == ("acc", 9, '{"a":1}')


class _AsMany(list):
    """One leg that merge's length test takes for several, so _record goes the general way."""

    def __len__(self) -> int:
        return 2


def test_one_leg_calls_are_what_the_general_path_makes():
    """The one-leg shortcut of merge._record agrees with its loops over legs, for every corpus leg."""
    checked = 0
    for zone in ("UTC", AMSTERDAM):
        mapping = Mapping(timezone=zone, include_internal=True)
        legs = [leg for path in sorted(CORPUS.glob("asterisk-*.csv")) for leg in asterisk.legs(path, mapping)]
        legs += list(freeswitch.legs(sorted(CORPUS.glob("freeswitch-*.json")), mapping))
        for leg in legs:
            if isinstance(leg, Rejected):
                continue
            kind = merge._kind([leg], leg, mapping)
            assert kind == merge._kind(_AsMany([leg]), leg, mapping)
            assert merge._record([leg], leg, kind, mapping) == merge._record(_AsMany([leg]), leg, kind, mapping)
            checked += 1
    assert checked > 300
