"""The call record of §5, declared once: every field with its column, validation, roles and words.

Ingest's `CallRecord`, the filters' list fields, bounds and sort columns, the summary's group
keys, the export columns and their PDF samples all derive from FIELDS. Adding a field is one
entry here, its column in models.py and a migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import Field as Constraint

STRICT = ConfigDict(extra="forbid", strict=True)
DIRECTIONS = ("inbound", "outbound")
STATUSES = ("answered", "missed", "busy", "noanswer", "failed", "cancelled")
HANGUP_BY = ("customer", "agent", "system")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]*$")
# Keys become SQLite JSON paths ($."key"): quotes, backslashes and control characters cannot.
ANALYSIS_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,64}$')
MAX_SECONDS = 10_000_000
REQUIRED: Any = ...  # pydantic's marker: the field has no default


@dataclass(frozen=True)
class Bound:
    """An inclusive bound filter on an integer field, e.g. minDuration (duration >= value)."""

    name: str
    op: Literal[">=", "<="]
    label: str  # how the PDF cover and Excel say it


@dataclass(frozen=True)
class Field:
    """One field of the call record: its type and validation, where it is stored, what it is for."""

    name: str  # the contract's name (§5)
    column: str  # its column in models.calls
    kind: Literal["text", "int", "time", "phone", "json", "events"]  # time: ISO 8601 in, epoch column
    max_length: int | None = None
    min_length: int | None = None
    pattern: str | None = None
    choices: tuple[str, ...] | None = None  # an enumeration: only these strings
    ge: int | None = None
    le: int | None = None
    nullable: bool = False
    default: Any = REQUIRED  # also None for nullable fields; a callable makes a fresh one each time
    # roles
    filter: str | None = None  # the §6 list filter over it ("agentIds"): the call's value is one of them
    filter_label: str | None = None
    bounds: tuple[Bound, ...] = ()
    sort_code: int | None = None  # sortable; its number in sealed cursors (§7): never renumber one
    group: str | None = None  # summary's groupBy key for it
    export: bool = True  # a default column of list, CSV, Excel and JSON Lines
    pdf_at: int | None = None  # its place among the PDF's default columns (None: not one of them)
    masked: bool = False  # a phone number masked without VIEW_NUMBER (and always in masklist)
    sample: str | None = None  # the widest usual value, which sizes its PDF column

    def annotation(self) -> Any:
        """The pydantic type ingest validates the field with (strict: no coercion)."""
        if self.kind == "json":
            return Analysis
        if self.kind == "events":
            return Annotated[list[Event], Constraint(max_length=500)]
        if self.choices:
            base: Any = Literal[self.choices]
        elif self.kind == "int":
            base = Annotated[StrictInt, Constraint(ge=self.ge, le=self.le)]
        else:
            limits = Constraint(min_length=self.min_length, max_length=self.max_length, pattern=self.pattern)
            base = Annotated[StrictStr, limits]
        return base | None if self.nullable else base


class Event(BaseModel):
    """One step of a call's timeline."""

    model_config = STRICT
    time: Annotated[StrictStr, Constraint(max_length=64)]
    type: Annotated[StrictStr, Constraint(min_length=1, max_length=32)]
    agentId: Annotated[StrictStr, Constraint(max_length=64)] | None = None
    note: Annotated[StrictStr, Constraint(max_length=1000)] | None = None


def _analysis_keys(v: Any) -> Any:
    # Before the union: a float field would otherwise take 2**63 silently as 9.2e18.
    for key, value in v.items() if isinstance(v, dict) else ():
        if not isinstance(key, str) or not ANALYSIS_KEY.fullmatch(key):  # match() lets a final \n through
            raise ValueError(f"key {str(key)[:70]!r} must be 1-64 characters, no quotes, backslashes or controls")
        if type(value) is int and not -(2**63) <= value < 2**63:
            raise ValueError(f"value of {key!r} must be within 64-bit integers")
    return v


Scalar = Annotated[StrictStr, Constraint(max_length=10_000)] | StrictInt | StrictFloat | StrictBool | None
Analysis = Annotated[dict[StrictStr, Scalar], Constraint(max_length=50), BeforeValidator(_analysis_keys)]


def _seconds(name: str, column: str, **roles: Any) -> Field:
    return Field(name, column, "int", ge=0, le=MAX_SECONDS, **roles)


def _name(name: str, column: str, **roles: Any) -> Field:
    """A nullable label of up to 200 characters (campaign, department, ...)."""
    return Field(name, column, "text", max_length=200, nullable=True, default=None, **roles)


def _phone(name: str, column: str, **roles: Any) -> Field:
    return Field(name, column, "phone", min_length=1, max_length=32, pattern=PHONE.pattern, **roles)


# §5, in its order.
FIELDS: tuple[Field, ...] = (
    Field("callId", "call_id", "text", min_length=1, max_length=64, filter="callIds", filter_label="Call ids",
          pdf_at=0, sample="xxxx-00000000"),
    Field("startTime", "start_ts", "time", max_length=64, sort_code=0, pdf_at=1),
    Field("endTime", "end_ts", "time", max_length=64, sort_code=1),
    _seconds("duration", "duration", sort_code=2, pdf_at=7, bounds=(
        Bound("minDuration", ">=", "Duration at least (s)"), Bound("maxDuration", "<=", "Duration at most (s)"))),
    _seconds("talkDuration", "talk_duration", default=0, sort_code=3, pdf_at=8, bounds=(
        Bound("minTalkDuration", ">=", "Talk time at least (s)"),
        Bound("maxTalkDuration", "<=", "Talk time at most (s)"))),
    _seconds("holdDuration", "hold_duration", default=0),
    _seconds("waitTime", "wait_time", default=0, sort_code=4, pdf_at=9),
    Field("direction", "direction", "text", choices=DIRECTIONS, filter="directions", filter_label="Directions",
          group="direction", pdf_at=2, sample="outbound"),
    Field("callType", "call_type", "text", min_length=1, max_length=32, filter="callTypes",
          filter_label="Call types", group="callType", pdf_at=3, sample="click2call"),
    Field("status", "status", "text", choices=STATUSES, filter="statuses", filter_label="Statuses",
          group="status", pdf_at=4, sample="answered"),
    _phone("callerNumber", "caller_number", masked=True),
    _phone("customerNumber", "customer_number", masked=True, sort_code=6, pdf_at=5),
    _phone("didNumber", "did_number", filter="didNumbers", filter_label="DID numbers"),
    Field("agentId", "agent_id", "text", min_length=1, max_length=64, nullable=True, default=None,
          filter="agentIds", filter_label="Agents", group="agent", sample="agent-0001"),
    _name("agentName", "agent_name", sort_code=5, pdf_at=6, sample="Firstname Lastname"),
    _name("campaign", "campaign", filter="campaigns", filter_label="Campaigns", group="campaign", pdf_at=10,
          sample="Campaign xxxxxxx"),
    _name("department", "department", filter="departments", filter_label="Departments", group="department",
          sample="Department"),
    _name("disposition", "disposition", filter="dispositions", filter_label="Dispositions", group="disposition",
          pdf_at=11, sample="Call Back Later"),
    _name("queueName", "queue_name", filter="queueNames", filter_label="Queues", group="queueName",
          sample="Queue xxxxxxxx"),
    Field("hangupBy", "hangup_by", "text", choices=HANGUP_BY, nullable=True, default=None, filter="hangupBy",
          filter_label="Hung up by", sample="customer"),
    Field("recordingUrl", "recording_url", "text", max_length=2000, nullable=True, default=None,
          sample="https://rec.example/xxxxxxxx"),
    Field("callAnalysis", "call_analysis", "json", default=dict),
    Field("events", "events", "events", default=list, export=False),
)  # fmt: skip
BY_NAME = {f.name: f for f in FIELDS}
LISTED = tuple(f for f in FIELDS if f.filter)  # the list filters, in §5 order
BOUNDED = tuple((f, b) for f in FIELDS for b in f.bounds)
SORTS = tuple(sorted((f for f in FIELDS if f.sort_code is not None), key=lambda f: f.sort_code))
GROUPS = tuple(f for f in FIELDS if f.group)
EXPORTED = tuple(f for f in FIELDS if f.export)
PDF_DEFAULT = tuple(sorted((f for f in FIELDS if f.pdf_at is not None), key=lambda f: f.pdf_at))
