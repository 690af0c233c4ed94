"""One call, one record (§11): legs grouped by call, then turned into a contract call record."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from callreport.sources.legs import Leg, Outcome, Rejected, is_outside, phone
from callreport.sources.mapping import Mapping

MAX_EVENTS = 500  # ingest's limit on a record's events (§5)
# Outcome of the leg that tried to reach the outside, for outbound calls nobody answered (§11).
UNANSWERED = {"busy": "busy", "noanswer": "noanswer", "cancelled": "cancelled"}


def merge(items: Iterable[Leg | Rejected], mapping: Mapping) -> Iterator[Outcome]:
    """Calls from legs in file order; a call is written once the reader is `mapping.window` legs past it.

    Memory is bounded by the window: only calls touched within the last `window` legs are held.
    """
    open_calls: OrderedDict[str, list[Leg]] = OrderedDict()
    seen: dict[str, int] = {}
    window = mapping.window
    seq = 0
    for item in items:
        if type(item) is Rejected:
            yield Outcome(item.where, error=item.reason)
            continue
        seq += 1
        key = item.key
        legs = open_calls.get(key)
        if legs is None:
            open_calls[key] = [item]
        else:
            legs.append(item)
            open_calls.move_to_end(key)
        seen[key] = seq
        while open_calls:
            oldest = next(iter(open_calls))
            if seq - seen[oldest] < window:
                break
            del seen[oldest]
            yield build(open_calls.pop(oldest), mapping)
    for legs in open_calls.values():
        yield build(legs, mapping)


def build(legs: list[Leg], mapping: Mapping) -> Outcome:
    """The call record of one call's legs, or a skipped outcome for an internal call."""
    legs.sort(key=lambda leg: (leg.start, leg.rank))
    first = legs[0]
    kind = _kind(legs, first, mapping)
    if kind == "internal" and not mapping.include_internal:
        return Outcome(first.where)
    account = next((mapping.accounts[a] for leg in legs if (a := leg.accountcode) in mapping.accounts), None)
    return Outcome(first.where, record=_record(legs, first, kind, mapping), account=account)


def _kind(legs: list[Leg], first: Leg, mapping: Mapping) -> str:
    """inbound, outbound or internal, from where the call came from and where it went (§11)."""
    if first.from_trunk or mapping.inbound_context(first.context):
        return "inbound"
    to_outside = any(leg.to_trunk for leg in legs) or mapping.outbound_context(first.context) or is_outside(first.dst)
    # A leg that itself rings a trunk (a PBX-originated call) has the customer's number as caller id.
    if first.from_ext is None and not first.to_trunk and is_outside(first.src):
        return "inbound"
    return "outbound" if to_outside else "internal"


def _answering(legs: list[Leg], inbound: bool) -> Leg | None:
    """The leg an agent (inbound) or the called party (outbound) answered first."""
    best = None
    for leg in legs:
        if leg.connected and (leg.to_ext or leg.agent or not inbound):
            if best is None or (leg.answer or leg.start) < (best.answer or best.start):
                best = leg
    if best is None and not inbound and not any(leg.to_ext or leg.to_trunk for leg in legs):
        # An extension served by the PBX itself (voicemail, a feature code): answered, no one dialled.
        best = next((leg for leg in legs if leg.outcome == "answered"), None)
    return best


def _record(legs: list[Leg], first: Leg, kind: str, mapping: Mapping) -> dict:
    zone = mapping.zone
    start = first.start
    end = max(leg.end for leg in legs)
    inbound = kind == "inbound"
    answered = _answering(legs, inbound)
    duration = max(0, round(end - start))
    if inbound:
        agent = (answered.agent or answered.to_ext) if answered else None
        customer = caller = phone(first.src)
        did = next((d for leg in legs if (d := phone(leg.did))), None) or phone(first.dst)
    else:
        agent = first.from_ext or next((leg.from_ext for leg in legs if leg.from_ext), None)
        dialled = next((leg.dst for leg in legs if leg.to_trunk and phone(leg.dst)), first.dst)
        customer, caller, did = phone(dialled), agent or phone(first.src), None
    queue = next((leg.queue for leg in legs if leg.queue), None)
    return {
        "callId": first.key[:64],
        "startTime": _iso(start, zone),
        "endTime": _iso(end, zone),
        "duration": duration,
        "talkDuration": min(duration, answered.billsec) if answered else 0,
        "holdDuration": 0,
        "waitTime": min(duration, max(0, round((answered.answer or start) - start))) if answered else 0,
        "direction": "inbound" if inbound else "outbound",
        "callType": _call_type(kind, queue),
        "status": _status(legs, answered, inbound),
        "callerNumber": caller,
        "customerNumber": customer,
        "didNumber": did,
        "agentId": agent,
        "agentName": None,
        "campaign": None,
        "department": None,
        "disposition": None,
        "queueName": queue,
        "hangupBy": None,
        "recordingUrl": None,
        "callAnalysis": _analysis(legs, mapping),
        "events": [_event(leg, zone) for leg in legs[:MAX_EVENTS]],
    }


def _call_type(kind: str, queue: str | None) -> str:
    if kind == "internal":
        return "internal"  # §11: kept internal calls are labelled so, queue or not
    return "queue" if queue else "direct" if kind == "inbound" else "manual"


def _status(legs: list[Leg], answered: Leg | None, inbound: bool) -> str:
    if answered is not None:
        return "answered"
    if inbound:
        return "missed"  # also when the PBX answered to play a queue or an IVR (§11)
    tried = [leg for leg in legs if leg.to_trunk or leg.to_ext] or legs
    return UNANSWERED.get(tried[-1].outcome, "failed")


def _analysis(legs: list[Leg], mapping: Mapping) -> dict:
    """The configured PBX fields, each from the first leg that has a value (the caller's leg first)."""
    out: dict = {}
    for name in mapping.analysis_fields:
        for leg in legs:
            value = leg.field(name)
            if value not in (None, "", "NULL"):
                out[name] = value if isinstance(value, str | int | float | bool) else str(value)
                break
    return out


def _event(leg: Leg, zone: ZoneInfo) -> dict:
    event = {"time": _iso(leg.start, zone), "type": (leg.app or "leg").lower()[:32]}
    agent = leg.agent or leg.to_ext
    if leg.connected and agent:
        event["agentId"] = agent
    event["note"] = f"{leg.note}: {leg.outcome}"[:1000]
    return event


_UTC = UTC


_ISO: dict[tuple[int, str], str] = {}


def _iso(epoch: float, zone: ZoneInfo) -> str:
    """ISO 8601 with the zone's offset; memoised (a call's legs and its neighbours share seconds)."""
    key = (int(epoch), zone.key)
    text = _ISO.get(key)
    if text is None:
        if len(_ISO) > 4096:
            _ISO.clear()
        text = _ISO[key] = datetime.fromtimestamp(key[0], _UTC if zone.key == "UTC" else zone).isoformat()
    return text
