"""One CDR row or JSON document as a leg of a call, the readers' results, and channel naming."""

from __future__ import annotations

import re
from collections.abc import Mapping as Lookup
from typing import Any, NamedTuple

from callreport.sources.mapping import Mapping

# Where a result comes from: a 1-based line of a CSV file (a header line counts), or a JSON file's name.
Where = int | str

OUTSIDE = re.compile(r"\+?\d[\d \-]{5,}\d")  # 7 or more digits, ignoring + spaces dashes (§11)
PHONE = re.compile(r"\+?[0-9][0-9 \-]*")  # the shape §5 accepts
# The analysis fields §11 names, as FreeSWITCH calls them when its name differs.
FS_NAMES = {"lastapp": "last_app"}


class Leg:
    """One leg of a call, in terms both PBXs share; the readers fill it, merge.py groups it."""

    __slots__ = (
        "key", "leg_id", "where", "start", "answer", "end", "billsec", "src", "dst", "from_ext",
        "from_trunk", "to_ext", "to_trunk", "context", "connected", "outcome", "queue", "did",
        "agent", "app", "note", "accountcode", "raw", "rank",
    )  # fmt: skip

    def __init__(
        self, *, key: str, leg_id: str, where: Where, start: float, answer: float | None, end: float,
        billsec: int, src: str, dst: str, from_ext: str | None, from_trunk: bool, to_ext: str | None,
        to_trunk: bool, context: str, connected: bool, outcome: str, app: str, note: str, accountcode: str,
        raw: Any, queue: str | None = None, did: str | None = None, agent: str | None = None, rank: int = 1,
    ) -> None:  # fmt: skip
        # Plain assignments: this runs once per CDR row (a setattr loop cost 2 us of ~30 per row).
        self.key, self.leg_id, self.where, self.start, self.answer, self.end = key, leg_id, where, start, answer, end
        self.billsec, self.src, self.dst, self.context, self.raw = billsec, src, dst, context, raw
        self.from_ext, self.from_trunk, self.to_ext, self.to_trunk = from_ext, from_trunk, to_ext, to_trunk
        self.connected, self.outcome, self.app, self.note, self.accountcode = connected, outcome, app, note, accountcode
        self.queue, self.did, self.agent, self.rank = queue, did, agent, rank

    def field(self, name: str) -> Any:
        """A PBX field by its own name (cdr column or channel variable), or None."""
        raw = self.raw
        if isinstance(raw, tuple):  # (row, columns) from a CSV file
            row, columns = raw
            i = columns.get(name)
            return row[i] if i is not None and i < len(row) else None
        if not isinstance(raw, Lookup):
            return None
        return raw.get(name, raw.get(FS_NAMES.get(name, "")))


class Rejected(NamedTuple):
    """A row or document that is not a call leg, and why."""

    where: Where
    reason: str


class Outcome(NamedTuple):
    """What the import did with a call: a record, a reason it was rejected, or neither (skipped)."""

    where: Where
    record: dict | None = None
    error: str | None = None
    account: str | None = None  # from the mapping's accounts by accountcode; None: the import's account
    # (start, end, events) as the calls table keeps them (epoch seconds), so storing parses no ISO text.
    stored: tuple[int, int, list[dict]] | None = None


class Channels:
    """Classifies channel names as extensions or trunks, once per distinct peer."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._cache: dict[str, tuple[str | None, bool]] = {}

    def asterisk(self, channel: str, calling: bool) -> tuple[str | None, bool]:
        """(extension or None, is a trunk) for an Asterisk channel such as SIP/1001-0000002a."""
        if not channel or channel == "NULL":
            return None, False
        # drop the channel's sequence (-0000002a, -00000010;2): rpartition is 4x cheaper than a regex
        peer = channel.rpartition("-")[0] or channel
        key = ("c" if calling else "d") + peer
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._asterisk_peer(peer, calling)
        return hit

    def _asterisk_peer(self, peer: str, calling: bool) -> tuple[str | None, bool]:
        tech, _, name = peer.partition("/")
        if tech == "Local":
            # Local/1001@from-queue is a queue or ring-group member ringing; a Local channel that
            # calls is the PBX's own half-channel, never a phone (FreePBX Local/0@from-internal;2).
            exten = name.partition("@")[0]
            return (exten if not calling and self.mapping.is_extension(exten) else None), False
        if tech in ("Console", "Message", "Parked", "Bridge", "Recorder") or not name:
            return None, False
        if self.mapping.is_trunk(name):
            return None, True
        if self.mapping.is_extension(name):
            return name, False
        return None, True  # a device peer that is no extension: a trunk or a provider (PJSIP/TRUNK200)

    def freeswitch(self, channel: str, gateway: str | None) -> tuple[str | None, bool]:
        """(extension or None, is a trunk) for sofia/internal/1001@host, sofia/gateway/gw/number..."""
        if gateway:
            return None, True
        if not channel:
            return None, False
        hit = self._cache.get(channel)
        if hit is None:
            hit = self._cache[channel] = self._sofia(channel)
        return hit

    def _sofia(self, channel: str) -> tuple[str | None, bool]:
        parts = channel.split("/")
        if len(parts) < 3:
            return None, False
        profile, user = parts[1], parts[2].removeprefix("sip:").partition("@")[0]
        if profile == "gateway" or profile == "external" or self.mapping.is_trunk(profile):
            return None, True
        if self.mapping.is_trunk(user):
            return None, True
        if self.mapping.is_extension(user):
            return user, False
        return None, True


def phone(text: str | None) -> str | None:
    """A number as §5 keeps it (digits, +, spaces, dashes), or None when nothing of one is left."""
    if not text:
        return None
    text = text.strip()
    return text if len(text) <= 32 and PHONE.fullmatch(text) else None


def is_outside(number: str | None) -> bool:
    """True for a number of 7 or more digits (§11)."""
    return bool(number) and OUTSIDE.fullmatch(number) is not None
