"""Realistic, deterministic call records in the contract's JSON format, for demos and benchmarks.

Speed matters (benchmarks generate 1,000,000 records), so every weighted choice is a lookup in a
precomputed table indexed by one ``random()`` draw, and times are formatted with a cached ZoneInfo.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from callreport.demo_data import (
    AGENT_KEPT,
    AGENTS,
    CALL_TYPE_WEIGHTS,
    CUSTOMER_POOL_SIZE,
    DEPARTMENTS,
    HANGUP_WEIGHTS,
    HOUR_WEIGHTS,
    INBOUND_DIDS,
    RING_SECONDS,
    SENTIMENTS,
    STATUS_DISPOSITION,
    STATUS_WEIGHTS,
    US_AREA_CODES,
    WAIT_MEAN_SECONDS,
    WEEKDAY_WEIGHTS,
    Agent,
)


def _table(weights: dict[Any, int]) -> tuple[Any, ...]:
    """A tuple where each key appears `weight` times, so one uniform index is a weighted pick."""
    return tuple(key for key, weight in weights.items() for _ in range(weight))


def _customer_number(rng: random.Random) -> str:
    """One customer number in one of the shapes real platforms send."""
    d, r = str(rng.randrange(6_000_000_000, 10_000_000_000)), rng.random()
    if r < 0.88:
        shapes = (f"+91 {d[:5]}-{d[5:]}", f"0{d}", f"{d[:5]} {d[5:]}", f"+91{d}", d)
        return shapes[bisect_right((0.35, 0.5, 0.62, 0.8), r)]
    if r < 0.96:
        return f"+1-{rng.choice(US_AREA_CODES)}-555-01{rng.randrange(100):02d}"
    return f"+44 20 7946 0{rng.randrange(1000):03d}"


class _CallFactory:
    """Builds one record at a time from tables precomputed for a seed, window and zone."""

    def __init__(self, rng: random.Random, start: datetime, end: datetime, zone: ZoneInfo, prefix: str):
        self.rng, self.rnd, self.zone, self.prefix = rng, rng.random, zone, prefix
        self.start_ts, self.end_ts = math.ceil(start.timestamp()), math.ceil(end.timestamp())
        self.customers = tuple(_customer_number(rng) for _ in range(CUSTOMER_POOL_SIZE))
        self.statuses = {d: _table(w) for d, w in STATUS_WEIGHTS.items()}
        self.call_types = {d: _table(w) for d, w in CALL_TYPE_WEIGHTS.items()}
        self.hangups = {s: _table(w) for s, w in HANGUP_WEIGHTS.items()}
        self.dids = _table({did[:3]: did[3] for did in INBOUND_DIDS})
        self.campaigns = tuple((c, dept) for dept, info in DEPARTMENTS.items() for c in info.campaigns)
        self.by_dept = {d: tuple(a for a in AGENTS if a.department == d) for d in DEPARTMENTS}
        self._build_slots()

    def _build_slots(self) -> None:
        """Hour-long slots of the window weighted by local hour and weekday, for inverse-CDF times."""
        self.slot_start, self.slot_len, self.cum = [], [], []
        total = 0.0
        for t in range(self.start_ts, self.end_ts, 3600):
            local = datetime.fromtimestamp(t, self.zone)
            length = min(3600, self.end_ts - t)
            total += HOUR_WEIGHTS[local.hour] * WEEKDAY_WEIGHTS[local.weekday()] * length / 3600
            self.slot_start.append(t)
            self.slot_len.append(length)
            self.cum.append(total)
        self.total = total

    def instant(self, u: float) -> int:
        """The epoch second at quantile u in [0, 1] of the business-hours volume curve."""
        target = u * self.total
        j = min(bisect_right(self.cum, target), len(self.cum) - 1)
        low = self.cum[j - 1] if j else 0.0
        frac = (target - low) / (self.cum[j] - low)
        return self.slot_start[j] + min(int(frac * self.slot_len[j]), self.slot_len[j] - 1)

    def iso(self, ts: int) -> str:
        """Epoch seconds as ISO 8601 with the zone's offset at that instant."""
        return datetime.fromtimestamp(ts, self.zone).isoformat()

    def pick(self, table: tuple[Any, ...]) -> Any:
        """A uniform pick from a tuple (weighted when built by `_table`)."""
        return table[int(self.rnd() * len(table))]

    def route(self) -> tuple[str, str, str, str, str, str | None, Agent | None]:
        """Direction, call type, status, department, DID, campaign and the agent (if any)."""
        direction = "inbound" if self.rnd() < 0.6 else "outbound"
        call_type, status = self.pick(self.call_types[direction]), self.pick(self.statuses[direction])
        if direction == "inbound":
            did, dept, campaign = self.pick(self.dids)
            agent = self.pick(self.by_dept[dept])
            # An unanswered inbound call names an agent only when one was rung and missed it.
            if status != "answered" and self.rnd() >= AGENT_KEPT[status]:
                agent = None
        elif call_type == "campaign":
            campaign, dept = self.pick(self.campaigns)
            did = DEPARTMENTS[dept].outbound_did
            # The predictive dialler connects an agent only once the customer answers.
            agent = self.pick(self.by_dept[dept]) if status == "answered" else None
        else:
            agent, campaign = self.pick(AGENTS), None
            dept = agent.department
            did = DEPARTMENTS[dept].outbound_did
        return direction, call_type, status, dept, did, campaign, agent

    def timing(self, direction: str, call_type: str, status: str) -> tuple[int, int, int, int, int]:
        """Seconds spent in IVR, queue, ringing, talking and on hold."""
        rnd = self.rnd
        lo, hi = RING_SECONDS[status]
        ring, ivr, wait, talk, hold = lo + int(rnd() * (hi - lo + 1)), 0, 0, 0, 0
        if direction == "inbound":
            if call_type == "ivr" and status != "failed":
                ivr = 5 + int(rnd() * 40)
            mean = WAIT_MEAN_SECONDS.get(status)
            if mean:
                wait = min(int(self.rng.expovariate(1 / mean)), 900) + (20 if status == "missed" else 0)
        if status == "answered":
            talk = min(int(self.rng.lognormvariate(5.0, 0.85)) + 5, 5400)
            if rnd() < 0.2:
                hold = 10 + int(rnd() * 290)
        return ivr, wait, ring, talk, hold

    def analysis(self, answered: bool, language: str, dept: str) -> dict[str, Any]:
        """The account's custom call-analysis fields: 3 to 8 scalar values."""
        rnd = self.rnd
        if not answered:
            fields = {"language": language, "attempt": 1 + int(rnd() * 3), "reachable": rnd() < 0.3}
            if rnd() < 0.4:
                fields["retryScheduled"] = rnd() < 0.6
            return fields
        # Some accounts score 0-100 with a decimal, others in whole points: both reach the API.
        score = round(rnd() * 100, 1) if rnd() < 0.7 else int(rnd() * 101)
        fields = {"sentiment": self.pick(SENTIMENTS), "score": score, "language": language}
        if rnd() < 0.6:
            fields["csat"] = 1 + int(rnd() * 5) if rnd() < 0.7 else None
        if rnd() < 0.7:
            fields["resolved"] = rnd() < 0.65
        if rnd() < 0.6:
            fields["topics"] = self.pick(DEPARTMENTS[dept].topics)
        if rnd() < 0.4:
            fields["talkRatio"] = round(0.2 + rnd() * 0.6, 2)
        if rnd() < 0.3:
            fields["escalated"] = rnd() < 0.15
        return fields

    def events(self, rec: dict[str, Any], ts: int, timing: tuple[int, ...], call_type: str) -> list[dict]:
        """The call's timeline, consistent with its timing, status and agent."""
        ivr, wait, ring, talk, hold = timing
        agent_id, status, inbound = rec["agentId"], rec["status"], rec["direction"] == "inbound"
        first: dict[str, Any] = {"time": rec["startTime"], "type": "ring"}
        if not inbound and agent_id:
            first["agentId"] = agent_id
        events = [first]
        if call_type == "transfer":
            events.append({"time": rec["startTime"], "type": "transfer", "note": "transferred in"})
        if inbound and (wait or status in ("answered", "missed")):
            events.append({"time": self.iso(ts + ivr), "type": "queue", "note": rec["department"]})
        if status == "answered":
            answered_at = ts + ivr + wait + ring
            events.append({"time": self.iso(answered_at), "type": "answer", "agentId": agent_id})
            if hold:
                at = self.iso(answered_at + talk // 3)
                events.append({"time": at, "type": "hold", "agentId": agent_id, "note": f"{hold}s"})
        elif inbound and agent_id:
            at = self.iso(ts + ivr + wait)
            events.append({"time": at, "type": "ring", "agentId": agent_id, "note": "not answered"})
        last: dict[str, Any] = {"time": rec["endTime"], "type": "hangup"}
        if rec["hangupBy"]:
            last["note"] = f"by {rec['hangupBy']}"
        events.append(last)
        return events

    def hangup_by(self, status: str, inbound: bool, has_agent: bool) -> str | None:
        """Who ended the call, or None when the platform did not say."""
        who = self.pick(self.hangups[status])
        if who == "caller":
            return "customer" if inbound else ("agent" if has_agent else "system")
        return who

    def wrap_up(self, status: str, dept: str, start_iso: str, call_id: str) -> tuple[str | None, str | None]:
        """The disposition and the recording URL (answered calls only)."""
        if status != "answered":
            return (STATUS_DISPOSITION[status] if self.rnd() < 0.75 else None), None
        url = f"https://recordings.example.com/{start_iso[:10]}/{call_id}.mp3" if self.rnd() < 0.92 else None
        return self.pick(DEPARTMENTS[dept].dispositions), url

    def make(self, number: int, ts: int) -> dict[str, Any]:
        """One call record starting near `ts`."""
        direction, call_type, status, dept, did, campaign, agent = self.route()
        timing = self.timing(direction, call_type, status)
        duration = sum(timing)
        ts = min(ts, self.end_ts - 1 - duration)  # the whole call stays inside the window
        call_id, start_iso, inbound = f"{self.prefix}-{number:08d}", self.iso(ts), direction == "inbound"
        customer = self.customers[int(CUSTOMER_POOL_SIZE * self.rnd() ** 2)]  # some customers call often
        language = self.pick(agent.languages) if agent else ("en", "hi")[self.rnd() < 0.4]
        disposition, recording = self.wrap_up(status, dept, start_iso, call_id)
        rec = {
            "callId": call_id,
            "startTime": start_iso,
            "endTime": self.iso(ts + duration),
            "duration": duration,
            "talkDuration": timing[3],
            "holdDuration": timing[4],
            "waitTime": timing[1],
            "direction": direction,
            "callType": call_type,
            "status": status,
            "callerNumber": customer if inbound else did,
            "customerNumber": customer,
            "didNumber": did,
            "agentId": agent.id if agent else None,
            "agentName": agent.name if agent else None,
            "campaign": campaign,
            "department": dept,
            "disposition": disposition,
            "queueName": f"{dept} queue" if inbound and timing[1] else None,  # the inbound calls that waited
            "hangupBy": self.hangup_by(status, inbound, agent is not None),
            "recordingUrl": recording,
            "callAnalysis": self.analysis(status == "answered", language, dept),
        }
        rec["events"] = self.events(rec, ts, timing, call_type)
        return rec


def _window(start: datetime | None, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The [start, end) window; a naive start is in `zone`, no start is midnight `days` days ago."""
    if start is None:
        today = datetime.now(zone).date() - timedelta(days=days)
        start = datetime(today.year, today.month, today.day, tzinfo=zone)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    return start, start + timedelta(days=days)


def generate_calls(
    n: int,
    *,
    seed: int = 0,
    start: datetime | None = None,
    days: int = 30,
    tz: str = "Asia/Kolkata",
    id_prefix: str = "CALL",
) -> Iterator[dict[str, Any]]:
    """Yield n realistic call records in start-time order; the same arguments give the same records."""
    if n < 0 or days < 1:
        raise ValueError("n must be >= 0 and days >= 1")
    if not 1 <= len(id_prefix) <= 50:
        raise ValueError("id_prefix must be 1 to 50 characters so callIds stay within 64")
    zone = ZoneInfo(tz)
    begin, end = _window(start, days, zone)
    return _generate(n, _CallFactory(random.Random(seed), begin, end, zone, id_prefix))


def _generate(n: int, factory: _CallFactory) -> Iterator[dict[str, Any]]:
    """Draw sorted quantiles one by one, so times come out in order without holding them all."""
    rnd, u = factory.rnd, 0.0
    for i in range(n):
        # The smallest of the n - i uniforms still to draw on [u, 1).
        u += (1.0 - u) * (1.0 - rnd() ** (1.0 / (n - i)))
        yield factory.make(i + 1, factory.instant(u))


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> int:
    """Write records as JSON Lines (one object a line) and return how many were written."""
    count = 0
    with open(path, "wb", buffering=1 << 20) as out:
        for record in records:
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            count += 1
    return count
