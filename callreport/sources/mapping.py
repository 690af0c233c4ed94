"""The mapping settings (`--mapping FILE.toml`): how PBX channels, contexts and fields become calls (§11)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# §11: an extension is a device channel's peer of 2-6 digits; an outside number has 7 or more digits.
DEFAULT_EXTENSIONS = (r"\d{2,6}",)
# FreePBX's and FreeSWITCH's stock contexts for calls arriving from trunks.
DEFAULT_INBOUND_CONTEXTS = (r"from-pstn.*", r"from-trunk.*", r"ext-did.*", r"from-external.*", r"public", r".*-pstn")
DEFAULT_OUTBOUND_CONTEXTS = (r"outbound-allroutes", r"macro-dialout-trunk", r"from-internal-outbound.*")
DEFAULT_ANALYSIS = ("accountcode", "userfield", "hangup_cause", "lastapp")
# Legs of one call sit close together in a CDR file: a call is written once the reader is this
# many rows past its last leg (the corpus's widest gap between legs of one linkedid is 38 rows).
DEFAULT_WINDOW = 5_000


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Mapping:
    """The settings, with the §11 defaults; built once and passed to the readers."""

    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    trunks: tuple[str, ...] = ()
    inbound_contexts: tuple[str, ...] = DEFAULT_INBOUND_CONTEXTS
    outbound_contexts: tuple[str, ...] = DEFAULT_OUTBOUND_CONTEXTS
    include_internal: bool = False
    timezone: str = "UTC"
    analysis_fields: tuple[str, ...] = DEFAULT_ANALYSIS
    accounts: dict[str, str] = field(default_factory=dict)
    day_first: bool = True
    window: int = DEFAULT_WINDOW
    _compiled: dict[str, re.Pattern] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Each pattern list becomes one anchored alternation, compiled once (the per-row path only matches).
        for name in ("extensions", "trunks", "inbound_contexts", "outbound_contexts"):
            pats = getattr(self, name)
            try:
                self._compiled[name] = re.compile("|".join(f"(?:{p})" for p in pats) if pats else r"(?!)")
            except re.error as exc:
                raise MappingError(f"{name}: {exc}") from None
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(f"timezone: {self.timezone!r} is not an IANA zone") from None

    @property
    def zone(self) -> ZoneInfo:
        """The PBX's timezone."""
        return ZoneInfo(self.timezone)

    def is_extension(self, peer: str) -> bool:
        """True when a device channel's peer names an extension."""
        return self._compiled["extensions"].fullmatch(peer) is not None

    def is_trunk(self, peer: str) -> bool:
        """True when the mapping names this peer (or FreeSWITCH gateway) a trunk."""
        return self._compiled["trunks"].fullmatch(peer) is not None

    def inbound_context(self, context: str) -> bool:
        """True for a context that calls from trunks arrive in."""
        return self._compiled["inbound_contexts"].fullmatch(context) is not None

    def outbound_context(self, context: str) -> bool:
        """True for a context that sends calls to trunks."""
        return self._compiled["outbound_contexts"].fullmatch(context) is not None

    def with_options(self, **changes: Any) -> Mapping:
        """A copy with command-line options applied (None leaves a setting as it is)."""
        return replace(self, _compiled={}, **{k: v for k, v in changes.items() if v is not None})


_LISTS = {
    ("extensions", "patterns"): "extensions",
    ("trunks", "patterns"): "trunks",
    ("contexts", "inbound"): "inbound_contexts",
    ("contexts", "outbound"): "outbound_contexts",
    ("call_analysis", "fields"): "analysis_fields",
}


def load(path: Path | None) -> Mapping:
    """The mapping from a TOML file, or the defaults when path is None."""
    if path is None:
        return Mapping()
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{Path(path).name}: {exc}") from None
    return from_dict(doc)


def from_dict(doc: dict[str, Any]) -> Mapping:
    """The mapping from a parsed TOML document; unknown settings are errors, not ignored."""
    kw: dict[str, Any] = {}
    known = {"include_internal", "timezone", "day_first", "merge_window_rows", "accounts"} | {t for t, _ in _LISTS}
    for key in doc:
        if key not in known:
            raise MappingError(f"{key}: not a mapping setting")
    for (table, key), attr in _LISTS.items():
        section = doc.get(table, {})
        if key in section:
            kw[attr] = tuple(_strings(f"{table}.{key}", section[key]))
    for key, kind in (("include_internal", bool), ("timezone", str), ("day_first", bool)):
        if key in doc:
            kw[key] = _typed(key, doc[key], kind)
    if "merge_window_rows" in doc:
        window = _typed("merge_window_rows", doc["merge_window_rows"], int)
        if window < 1:
            raise MappingError("merge_window_rows: must be at least 1")
        kw["window"] = window
    if "accounts" in doc:
        accounts = _typed("accounts", doc["accounts"], dict)
        kw["accounts"] = {str(k): _typed(f"accounts.{k}", v, str) for k, v in accounts.items()}
    return Mapping(**kw)


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MappingError(f"{name}: must be a list of strings")
    return value


def _typed(name: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MappingError(f"{name}: must be a {kind.__name__}")
    return value
