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
    # key -> [seq of its last leg, legs...], least recently touched first
    open_calls: OrderedDict[str, list] = OrderedDict()
    window = mapping.window
    seq = 0
    for item in items:
        if type(item) is Rejected:
            yield Outcome(item.where, error=item.reason)
            continue
        seq += 1
        key = item.key
        held = open_calls.get(key)
        if held is None:
            open_calls[key] = [seq, item]
        else:
            held[0] = seq
            held.append(item)
            open_calls.move_to_end(key)
        # Most legs close no call's window, so peek at the oldest once before looping.
        while open_calls:
            oldest = next(iter(open_calls.values()))
            if seq - oldest[0] < window:
                break
            open_calls.popitem(last=False)
            yield build(oldest[1:], mapping)
    for held in open_calls.values():
        yield build(held[1:], mapping)


def build(legs: list[Leg], mapping: Mapping) -> Outcome:
    """The call record of one call's legs, or a skipped outcome for an internal call."""
    if len(legs) > 1:
        legs.sort(key=_order)
    first = legs[0]
    kind = _kind(legs, first, mapping)
    if kind == "internal" and not mapping.include_internal:
        return Outcome(first.where)
    accounts = mapping.accounts
    account = next((accounts[a] for leg in legs if (a := leg.accountcode) in accounts), None) if accounts else None
    record, stored = _record(legs, first, kind, mapping)
    return Outcome(first.where, record=record, account=account, stored=stored)


def _order(leg: Leg) -> tuple[float, int]:
    return leg.start, leg.rank


def _kind(legs: list[Leg], first: Leg, mapping: Mapping) -> str:
    """inbound, outbound or internal, from where the call came from and where it went (§11)."""
    if first.from_trunk or mapping.inbound_context(first.context):
        return "inbound"
    trunk = first.to_trunk if len(legs) == 1 else any(leg.to_trunk for leg in legs)
    to_outside = trunk or mapping.outbound_context(first.context) or is_outside(first.dst)
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


def _record(legs: list[Leg], first: Leg, kind: str, mapping: Mapping) -> tuple[dict, tuple[int, int, list[dict]]]:
    """The record, and its times and events as stored: the epoch seconds its ISO texts say (_iso truncates)."""
    zone = mapping.zone
    start = first.start
    inbound = kind == "inbound"
    start_text = _iso(start, zone)
    if len(legs) == 1:  # 40% of calls in a queue centre's file: no loops or generators over one leg
        end, queue = first.end, first.queue or None
        answered = _answering_one(first, inbound)
        agent, caller, customer, did = _parties_one(first, answered, inbound)
        event, row_event = _event(first, start_text)
        events, stored = [event], [row_event]
    else:
        end = max(leg.end for leg in legs)
        answered = _answering(legs, inbound)
        agent, caller, customer, did = _parties(legs, first, answered, inbound)
        queue = next((leg.queue for leg in legs if leg.queue), None)
        events, stored = _events(legs, first, start_text, zone)
    duration = max(0, round(end - start))
    record = {
        "callId": first.key[:64],
        "startTime": start_text,
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
        "hangupBy": None if type(first) is Leg else _hangup_by(legs, first, inbound, agent if answered else None),
        "recordingUrl": None,
        "callAnalysis": _analysis(legs, mapping),
        "events": events,
    }
    return record, (int(start), int(end), stored)


def _hangup_by(legs: list[Leg], first: Leg, inbound: bool, agent: str | None) -> str | None:
    """Who ended the call, from the side that ended the customer's leg (FreeSWITCH's FsLeg.hangup)."""
    # The customer's leg: the caller's (inbound), else the leg to the called party (no extension called on it).
    leg = first if inbound else next((x for x in legs if x.from_ext is None and (x.to_trunk or x.to_ext)), None)
    side = getattr(leg, "hangup", None)
    if side == "near":
        return "agent" if agent else "system"  # our end hung up: the agent, or the dialplan/PBX
    return {"far": "customer", "system": "system"}.get(side)


def _events(legs: list[Leg], first: Leg, start_text: str, zone: ZoneInfo) -> tuple[list[dict], list[dict]]:
    """The events of the record and as stored, one per leg up to MAX_EVENTS."""
    events, stored = [], []
    for leg in legs[:MAX_EVENTS]:
        event, row_event = _event(leg, start_text if leg is first else _iso(leg.start, zone))
        events.append(event)
        stored.append(row_event)
    return events, stored


def _answering_one(leg: Leg, inbound: bool) -> Leg | None:
    """_answering() of a one-leg call."""
    if leg.connected and (leg.to_ext or leg.agent or not inbound):
        return leg
    if not inbound and not (leg.to_ext or leg.to_trunk) and leg.outcome == "answered":
        return leg
    return None


def _parties_one(leg: Leg, answered: Leg | None, inbound: bool) -> tuple:
    """_parties() of a one-leg call."""
    if inbound:
        customer = phone(leg.src)
        return (
            (answered.agent or answered.to_ext) if answered else None,
            customer,
            customer,
            phone(leg.did) or phone(leg.dst),
        )
    return leg.from_ext, leg.from_ext or phone(leg.src), phone(leg.dst), None


def _parties(legs: list[Leg], first: Leg, answered: Leg | None, inbound: bool) -> tuple:
    """(agent, caller, customer, did) of a call of several legs (§11)."""
    if inbound:
        agent = (answered.agent or answered.to_ext) if answered else None
        customer = caller = phone(first.src)
        did = next((d for leg in legs if (d := phone(leg.did))), None) or phone(first.dst)
        return agent, caller, customer, did
    agent = first.from_ext or next((leg.from_ext for leg in legs if leg.from_ext), None)
    dialled = next((leg.dst for leg in legs if leg.to_trunk and phone(leg.dst)), first.dst)
    return agent, agent or phone(first.src), phone(dialled), None


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
            raw = leg.raw
            if type(raw) is tuple:  # a CSV row, (row, columns): Leg.field inlined, it runs per field per leg
                i = raw[1].get(name)
                value = raw[0][i] if i is not None and i < len(raw[0]) else None
            else:
                value = leg.field(name)
            if value not in (None, "", "NULL"):
                out[name] = value if isinstance(value, str | int | float | bool) else str(value)
                break
    return out


def _event(leg: Leg, time: str) -> tuple[dict, dict]:
    """The leg's event in the record, and as the calls table keeps it (epoch seconds); same keys, same order."""
    kind = (leg.app or "leg").lower()[:32]
    agent = leg.agent or leg.to_ext
    note = f"{leg.note}: {leg.outcome}"[:1000]
    if leg.connected and agent:
        return {"time": time, "type": kind, "agentId": agent, "note": note}, {
            "time": int(leg.start), "type": kind, "agentId": agent, "note": note
        }  # fmt: skip
    return {"time": time, "type": kind, "note": note}, {"time": int(leg.start), "type": kind, "note": note}


_ISO: dict[tuple[int, str], tuple[str, str]] = {}
_SECONDS = [f"{s:02d}" for s in range(60)]


def _iso(epoch: float, zone: ZoneInfo) -> str:
    """ISO 8601 with the zone's offset, whole seconds; a minute's text is made once and its seconds filled in."""
    second = int(epoch)
    minute = second // 60
    key = (minute, zone.key)
    parts = _ISO.get(key)
    if parts is None:
        text = datetime.fromtimestamp(minute * 60, UTC if zone.key == "UTC" else zone).isoformat()
        if text[17:19] != "00":  # an offset with seconds (local mean time, before ~1972): no sharing
            return datetime.fromtimestamp(second, zone).isoformat()
        if len(_ISO) > 4096:
            _ISO.clear()
        parts = _ISO[key] = (text[:17], text[19:])
    return parts[0] + _SECONDS[second - minute * 60] + parts[1]
