"""FreeSWITCH mod_json_cdr documents as legs: files, folders, and pushed bodies (raw JSON or `cdr=`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote

import orjson

from callreport.sources.legs import Channels, Leg, Outcome, Rejected
from callreport.sources.mapping import Mapping
from callreport.sources.merge import merge

# hangup_cause of a leg nobody answered -> §11 status words; anything else unanswered is "failed".
CAUSES = {
    "USER_BUSY": "busy",
    "NO_ANSWER": "noanswer",
    "NO_USER_RESPONSE": "noanswer",
    "ORIGINATOR_CANCEL": "cancelled",
}
# sip_hangup_disposition: which end of this SIP leg ended it. recv_*: the far end sent BYE, CANCEL
# or a refusal; send_bye: FreeSWITCH hung up the far end (a bridged party or the dialplan did);
# send_cancel/send_refuse: FreeSWITCH stopped or refused the leg before it was answered.
SIDES = {
    "recv_bye": "far",
    "recv_cancel": "far",
    "recv_refuse": "far",
    "send_bye": "near",
    "send_cancel": "system",
    "send_refuse": "system",
}


class FsLeg(Leg):
    """A FreeSWITCH leg, with who ended it (SIDES; None when the CDR does not say)."""

    __slots__ = ("hangup",)


class BadDocument(ValueError):
    """A body or file that is not a mod_json_cdr document."""


def read(paths: Iterable[Path], mapping: Mapping) -> Iterator[Outcome]:
    """The calls in these files and folders; a leg's file name is where its outcome points."""
    return merge(legs(paths, mapping), mapping)


def files(paths: Iterable[Path]) -> Iterator[Path]:
    """JSON files, folders expanded in the order FreeSWITCH wrote them (mtime, then name)."""
    for path in paths:
        if path.is_dir():
            found = [p for p in path.iterdir() if p.suffix == ".json" and p.is_file()]
            # A and B legs are written within seconds of each other: write order keeps them close.
            found.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
            yield from found
        else:
            yield path


def legs(paths: Iterable[Path], mapping: Mapping) -> Iterator[Leg | Rejected]:
    """Each document as a leg, or rejected with its file name and reason."""
    channels = Channels(mapping)
    for path in files(paths):
        try:
            doc = document(path.read_bytes())
            yield leg(doc, path.name, mapping, channels)
        except (OSError, BadDocument) as exc:
            yield Rejected(path.name, str(exc) if isinstance(exc, BadDocument) else os.strerror(exc.errno or 5))


def document(body: bytes) -> dict:
    """The CDR of a body as mod_json_cdr sends it: raw JSON, or form-encoded with the JSON in `cdr`."""
    text = body.lstrip()
    if not text.startswith(b"{"):
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise BadDocument("is neither JSON nor a form with a cdr field") from None
        if "cdr" not in form:
            raise BadDocument("is a form without a cdr field")
        text = form["cdr"][0].encode()
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadDocument(f"is not JSON ({exc.msg})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("variables"), dict):
        raise BadDocument("has no variables object: not a mod_json_cdr document")
    return doc


def _variables(doc: dict) -> dict[str, str]:
    # encode-values (the default) URL-encodes each value: user/1003%4010.30.40.77.
    return {k: unquote(v) if isinstance(v, str) and "%" in v else v for k, v in doc["variables"].items()}


def _profile(doc: dict) -> dict:
    """The caller_profile of the last callflow: one object in old CDRs, a list (newest first) in new ones."""
    flow = doc.get("callflow")
    if isinstance(flow, list):
        flow = flow[0] if flow else None
    profile = flow.get("caller_profile") if isinstance(flow, dict) else None
    return {k: unquote(v) if isinstance(v, str) else v for k, v in (profile or {}).items()}


def _epoch(v: dict, name: str) -> float | None:
    """start/answer/end from *_epoch, else *_uepoch; 0 (never answered) is None."""
    for key, scale in ((f"{name}_epoch", 1.0), (f"{name}_uepoch", 1e-6)):
        raw = v.get(key)
        if raw not in (None, ""):
            try:
                value = int(raw) * scale
            except (TypeError, ValueError):
                raise BadDocument(f"{key} {str(raw)[:20]!r} is not a number") from None
            return value or None
    return None


def leg(doc: dict, where: str, mapping: Mapping, channels: Channels) -> Leg:
    """One channel's CDR as a leg; mod_callcenter agent legs join their member's call."""
    v, p = _variables(doc), _profile(doc)
    uuid = v.get("uuid") or p.get("uuid")
    start, answer, end = _epoch(v, "start"), _epoch(v, "answer"), _epoch(v, "end")
    if not uuid or start is None or end is None:
        raise BadDocument("lacks uuid, start or end time")
    direction = v.get("direction") or (doc.get("channel_data") or {}).get("direction") or "inbound"
    a_leg = direction == "inbound"
    side = v.get("cc_side")
    agent = _agent(v.get("cc_agent")) if side else None
    ends = _ends(v, p, channels, a_leg, side, answer)
    cause = v.get("hangup_cause") or ""
    billsec = int(v.get("billsec") or 0)
    if side == "member" and ends.agent_answer:
        billsec = max(0, round(end - ends.agent_answer))  # the talk with the agent, not the whole answered time
    made = FsLeg(
        key=_call_key(v, uuid, a_leg, side),
        leg_id=uuid,
        where=where,
        start=start,
        answer=ends.agent_answer or answer,
        end=end,
        billsec=billsec,
        src=p.get("caller_id_number") or v.get("caller_id_number") or "",
        dst=p.get("destination_number") or v.get("destination_number") or "",
        from_ext=ends.from_ext,
        from_trunk=ends.from_trunk,
        to_ext=ends.to_ext,
        to_trunk=ends.to_trunk,
        context=p.get("context") or "",
        connected=ends.connected,
        outcome="answered" if answer is not None else CAUSES.get(cause, "failed"),
        queue=v.get("cc_queue") or None,
        did=None,
        agent=agent if ends.connected else None,
        app=v.get("last_app") or ("callcenter" if side else "leg"),
        note=f"{p.get('chan_name') or uuid} ({cause or 'no cause'})",
        accountcode=v.get("accountcode") or "",
        raw=v,
        rank=0 if a_leg else 1,
    )
    made.hangup = SIDES.get(v.get("sip_hangup_disposition") or "")
    return made


class _Ends(NamedTuple):
    """Who is at each end of a leg, whether it reached someone, and when an agent answered a queue member."""

    from_ext: str | None
    from_trunk: bool
    to_ext: str | None
    to_trunk: bool
    connected: bool
    agent_answer: float | None


def _ends(v: dict, p: dict, channels: Channels, a_leg: bool, side: str | None, answer: float | None) -> _Ends:
    """An A leg (inbound) is the caller's channel, bridged to someone or not; a B leg is the channel called."""
    own_ext, own_trunk = channels.freeswitch(p.get("chan_name") or "", v.get("sip_gateway_name"))
    if not a_leg:
        return _Ends(None, False, own_ext, own_trunk, answer is not None, None)
    bridge = v.get("bridge_channel") or ""
    to_ext, to_trunk = channels.freeswitch(bridge, None) if bridge else (None, False)
    # a member leg is answered by an agent at cc_queue_answered_epoch, not when the IVR answered it
    agent_answer = _epoch(v, "cc_queue_answered") if side == "member" else None
    connected = answer is not None and bool(bridge or agent_answer)
    return _Ends(own_ext, own_trunk, to_ext, to_trunk, connected, agent_answer)


def _call_key(v: dict, uuid: str, a_leg: bool, side: str | None) -> str:
    """The call a leg belongs to: an agent leg's member session, else the leg that originated it, else its own."""
    key = v.get("cc_member_session_uuid") if side == "agent" else None
    return (
        key or v.get("originating_leg_uuid") or v.get("originator") or (uuid if a_leg else v.get("call_uuid") or uuid)
    )


def _agent(name: Any) -> str | None:
    """mod_callcenter's agent name (1000@default) as an agent id: the part before the domain."""
    if not isinstance(name, str) or not name:
        return None
    return name.partition("@")[0] or name
