"""Demo call data: every record follows the call-record rules (§5), and the data looks real."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callreport.demo import generate_calls, write_jsonl
from tests.contract import RECORD_FIELDS

KOLKATA = ZoneInfo("Asia/Kolkata")
START = datetime(2024, 3, 1, tzinfo=KOLKATA)
DAYS = 30
FIELDS = set(RECORD_FIELDS)
STATUSES = {"answered", "missed", "busy", "noanswer", "failed", "cancelled"}
EVENT_TYPES = {"ring", "queue", "answer", "hold", "transfer", "hangup"}
ISO_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")
PHONE = re.compile(r"\+?[0-9 -]*[0-9][0-9 -]*")
# Character ranges of the scripts the agent names should cover.
SCRIPTS = {
    "latin-accented": (0x00C0, 0x024F),
    "greek": (0x0370, 0x03FF),
    "cyrillic": (0x0400, 0x04FF),
    "arabic": (0x0600, 0x06FF),
    "devanagari": (0x0900, 0x097F),
}


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return list(generate_calls(5000, seed=11, start=START, days=DAYS))


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """Parse an ISO time to the second with an offset, as the zone shows that instant."""
    assert ISO_SECONDS.fullmatch(text), text
    moment = datetime.fromisoformat(text)
    assert moment.astimezone(zone).isoformat() == text, f"{text} is not shown in {zone}"
    return moment


def is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass, and never a valid duration


def check_events(rec: dict, start: datetime, end: datetime, zone: ZoneInfo) -> None:
    events = rec["events"]
    assert isinstance(events, list) and len(events) >= 2
    times = []
    for event in events:
        assert {"time", "type"} <= set(event) <= {"time", "type", "agentId", "note"}
        assert event["type"] in EVENT_TYPES
        assert all(isinstance(event[k], str) for k in ("agentId", "note") if k in event)
        times.append(parse_time(event["time"], zone))
    assert times == sorted(times)
    assert times[0] == start and times[-1] == end and events[-1]["type"] == "hangup"
    answers = [(e, t) for e, t in zip(events, times, strict=True) if e["type"] == "answer"]
    if rec["status"] == "answered":
        assert len(answers) == 1 and answers[0][0]["agentId"] == rec["agentId"]
        answered_at = answers[0][1]
        assert answered_at >= start + timedelta(seconds=rec["waitTime"])
        assert answered_at + timedelta(seconds=rec["talkDuration"] + rec["holdDuration"]) <= end
    else:
        assert not answers
    if rec["holdDuration"]:
        assert any(e["type"] == "hold" for e in events)


def check_record(rec: dict, low: datetime, high: datetime, zone: ZoneInfo) -> None:
    """Check one record against the call-record rules of the contract (§5)."""
    assert set(rec) == FIELDS
    assert isinstance(rec["callId"], str) and 1 <= len(rec["callId"]) <= 64
    for key in ("duration", "talkDuration", "holdDuration", "waitTime"):
        assert is_int(rec[key]) and rec[key] >= 0, key
    assert rec["talkDuration"] <= rec["duration"]
    assert rec["direction"] in {"inbound", "outbound"} and rec["status"] in STATUSES
    assert isinstance(rec["callType"], str) and 1 <= len(rec["callType"]) <= 32
    for key in ("callerNumber", "customerNumber", "didNumber"):
        assert isinstance(rec[key], str) and len(rec[key]) <= 32 and PHONE.fullmatch(rec[key]), key
    assert (rec["agentId"] is None) == (rec["agentName"] is None)
    for key in ("agentId", "agentName", "campaign", "department", "disposition", "recordingUrl"):
        assert rec[key] is None or (isinstance(rec[key], str) and rec[key]), key
    assert rec["hangupBy"] in {"customer", "agent", "system", None}
    answered = rec["status"] == "answered"
    if not answered:
        assert rec["talkDuration"] == 0 and rec["recordingUrl"] is None
    else:
        assert rec["agentId"] is not None
    analysis = rec["callAnalysis"]
    assert isinstance(analysis, dict) and len(analysis) <= 50
    assert 3 <= len(analysis) <= 8  # what the demo promises, well inside the contract's 50
    for key, value in analysis.items():
        assert isinstance(key, str) and 1 <= len(key) <= 64
        assert value is None or isinstance(value, str | int | float | bool), key
    start, end = parse_time(rec["startTime"], zone), parse_time(rec["endTime"], zone)
    assert end - start == timedelta(seconds=rec["duration"])
    assert low <= start and end < high
    check_events(rec, start, end, zone)


def test_every_record_follows_the_call_record_rules(records: list[dict]) -> None:
    for rec in records:
        check_record(rec, START, START + timedelta(days=DAYS), KOLKATA)


def test_call_ids_are_unique(records: list[dict]) -> None:
    assert len({rec["callId"] for rec in records}) == len(records)


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = list(generate_calls(300, seed=5, start=START))
    assert first == list(generate_calls(300, seed=5, start=START))
    assert first != list(generate_calls(300, seed=6, start=START))


def test_every_direction_and_status_appears_plausibly(records: list[dict]) -> None:
    statuses = Counter(rec["status"] for rec in records)
    assert set(statuses) == STATUSES
    assert statuses.most_common(1)[0][0] == "answered" and statuses["answered"] > len(records) / 2
    assert all(count >= len(records) * 0.005 for count in statuses.values())
    directions = Counter(rec["direction"] for rec in records)
    assert set(directions) == {"inbound", "outbound"}
    assert min(directions.values()) > len(records) * 0.2


def test_agents_have_names_in_several_scripts(records: list[dict]) -> None:
    names = {rec["agentId"]: set() for rec in records if rec["agentId"]}
    for rec in records:
        if rec["agentId"]:
            names[rec["agentId"]].add(rec["agentName"])
    assert len(names) >= 10
    assert all(len(n) == 1 for n in names.values()), "one name per agentId"
    seen = {
        script
        for (name,) in names.values()
        for script, (lo, hi) in SCRIPTS.items()
        if any(lo <= ord(ch) <= hi for ch in name)
    }
    assert seen == set(SCRIPTS)


def test_campaigns_departments_and_null_fields(records: list[dict]) -> None:
    assert len({rec["campaign"] for rec in records} - {None}) >= 3
    assert len({rec["department"] for rec in records} - {None}) >= 3
    unanswered = [rec for rec in records if rec["status"] != "answered"]
    no_agent = sum(rec["agentId"] is None for rec in unanswered)
    assert len(unanswered) / 2 < no_agent < len(unanswered), "mostly no agent, sometimes the one who missed"
    no_hangup = sum(rec["hangupBy"] is None for rec in records)
    assert 0 < no_hangup < len(records) * 0.2


def test_customer_numbers_come_in_several_shapes(records: list[dict]) -> None:
    shapes = [r"\+91 \d{5}-\d{5}", r"0\d{10}", r"\+1-\d{3}-\d{3}-\d{4}", r"\d{5} \d{5}"]
    numbers = {rec["customerNumber"] for rec in records}
    for shape in shapes:
        assert any(re.fullmatch(shape, number) for number in numbers), shape


def test_call_analysis_values_vary_in_type(records: list[dict]) -> None:
    analyses = [rec["callAnalysis"] for rec in records]
    scores = [a["score"] for a in analyses if "score" in a]
    assert any(type(s) is float for s in scores) and any(type(s) is int for s in scores)
    csat = [a["csat"] for a in analyses if "csat" in a]
    assert None in csat and any(type(c) is int for c in csat)
    assert {type(a["resolved"]) for a in analyses if "resolved" in a} == {bool}
    assert all(isinstance(a[k], str) for a in analyses for k in ("sentiment", "language", "topics") if k in a)


def test_volume_follows_business_hours_and_weekdays(records: list[dict]) -> None:
    starts = [datetime.fromisoformat(rec["startTime"]).astimezone(KOLKATA) for rec in records]
    assert sum(9 <= s.hour < 19 for s in starts) > len(starts) * 0.6
    days = [START.date() + timedelta(days=i) for i in range(DAYS)]
    per_day = Counter(s.date() for s in starts)
    weekend = [per_day[d] for d in days if d.weekday() >= 5]
    weekday = [per_day[d] for d in days if d.weekday() < 5]
    assert sum(weekend) / len(weekend) < sum(weekday) / len(weekday) / 2


def test_calls_come_in_start_time_order(records: list[dict]) -> None:
    # The window's very last calls are pulled back so they end inside it; leave the last 3 hours.
    cutoff = START + timedelta(days=DAYS) - timedelta(hours=3)
    starts = [datetime.fromisoformat(rec["startTime"]) for rec in records]
    early = [s for s in starts if s < cutoff]
    assert early == sorted(early) and early == starts[: len(early)]


def test_offsets_follow_daylight_saving_in_the_zone() -> None:
    zone = ZoneInfo("America/New_York")
    start = datetime(2024, 3, 1, tzinfo=zone)  # clocks go forward on 10 March
    recs = list(generate_calls(1500, seed=3, start=start, days=20, tz="America/New_York"))
    for rec in recs:
        check_record(rec, start, start + timedelta(days=20), zone)
    assert {rec["startTime"][-6:] for rec in recs} == {"-05:00", "-04:00"}


def test_naive_start_is_in_the_zone_and_default_start_ends_at_midnight_today() -> None:
    athens = ZoneInfo("Europe/Athens")
    recs = list(generate_calls(200, start=datetime(2024, 6, 1), days=2, tz="Europe/Athens"))
    low = datetime(2024, 6, 1, tzinfo=athens)
    for rec in recs:
        check_record(rec, low, low + timedelta(days=2), athens)
    today = datetime.now(KOLKATA).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=KOLKATA)
    for rec in generate_calls(200, days=7):
        check_record(rec, midnight - timedelta(days=7), midnight, KOLKATA)


def test_bad_arguments_are_refused_and_zero_calls_is_empty() -> None:
    assert list(generate_calls(0)) == []
    for kwargs in ({"n": -1}, {"n": 5, "days": 0}, {"n": 5, "id_prefix": ""}):
        with pytest.raises(ValueError):
            generate_calls(**kwargs)


def test_write_jsonl_writes_one_record_a_line(tmp_path, records: list[dict]) -> None:
    path = tmp_path / "calls.jsonl"
    assert write_jsonl(iter(records[:500]), path) == 500
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("\n") == 500
    assert [json.loads(line) for line in text.splitlines()] == records[:500]


def test_calls_near_a_busy_window_end_still_end_inside_it() -> None:
    start = datetime(2024, 3, 4, 12, 0, tzinfo=KOLKATA)  # the window ends at Tuesday noon, a busy hour
    for rec in generate_calls(2000, seed=2, start=start, days=1):
        check_record(rec, start, start + timedelta(days=1), KOLKATA)
