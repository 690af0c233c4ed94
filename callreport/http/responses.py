"""What each endpoint answers (§2, §3, §5, §7), as plain pydantic models, for the OpenAPI document.

Documentation only: responses are built as dicts and never validated against these at runtime
(list latency). `tests/test_openapi_responses.py` checks real answers against them, so they
cannot drift from the code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from callreport import record
from callreport.export.formats import FORMATS, NAMES

# additionalProperties: false, so a field the code adds but the document omits is caught.
CLOSED = ConfigDict(extra="forbid")
REQUEST_ID = r"^[0-9a-f]{24}$"
Seconds = Annotated[int, Field(ge=0)]
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Success = Literal["success"]
Scalar = str | int | float | bool | None


class ErrorEnvelope(BaseModel):
    """Every error (§2): HTTP 200 for the API's own outcomes, 4xx below the API."""

    model_config = CLOSED
    status: Literal["error"]
    message: str
    code: Literal[1000, 1009, 1010, 1014, 1015, 1047, 1050]
    # Absent when there is nothing to add (never null); download errors never carry one.
    detail: str | SkipJsonSchema[None] = None


def _shown(f: record.Field) -> Any:
    """The type a record field has in an answer (§5): times as ISO text, phone numbers possibly masked."""
    if f.kind == "time":
        base: Any = Time
    elif f.kind == "int":
        base = Seconds
    elif f.kind == "json":
        base = Annotated[dict[str, Scalar], Field(max_length=50)]
    elif f.choices:
        base = Literal[f.choices]
    else:
        base = Annotated[str, Field(max_length=f.max_length)]
    return base | None if f.nullable else base


# Derived from record.py, so a field added there is documented here at once.
CallRecordOut = create_model(
    "CallRecordOut",
    __config__=CLOSED,
    __doc__="A call record as list, masklist and the exports show it (§5).",
    **{f.name: (_shown(f), ...) for f in record.FIELDS if f.kind != "events"},
)


class EventOut(BaseModel):
    """One step of a call's timeline."""

    model_config = CLOSED
    time: Time
    type: str
    agentId: str | SkipJsonSchema[None] = None  # absent when not known, never null
    note: str | SkipJsonSchema[None] = None


class CallWithEventsOut(CallRecordOut):
    """A call record with its events (detail)."""

    events: list[EventOut]


class ListResponse(BaseModel):
    """list and masklist: a page of calls and the sealed cursor of the next one."""

    model_config = CLOSED
    status: Success
    data: list[CallRecordOut]
    page: Annotated[int, Field(ge=1)]
    limit: Annotated[int, Field(ge=1, le=1000)]
    nextCursor: Annotated[str, Field(min_length=1)] | None


class CountResponse(BaseModel):
    """reportCount."""

    model_config = CLOSED
    status: Success
    count: Annotated[int, Field(ge=0)]


class DetailResponse(BaseModel):
    """detail: one call with its events."""

    model_config = CLOSED
    status: Success
    data: CallWithEventsOut


class SummaryFigures(BaseModel):
    """The figures of a summary group or of the totals."""

    model_config = CLOSED
    calls: Annotated[int, Field(ge=0)]
    answered: Annotated[int, Field(ge=0)]
    missed: Annotated[int, Field(ge=0)]
    totalDuration: Annotated[int, Field(ge=0)]
    totalTalkDuration: Annotated[int, Field(ge=0)]
    avgTalkDuration: Annotated[float, Field(ge=0)]
    avgWaitTime: Annotated[float, Field(ge=0)]
    maxWaitTime: Annotated[int, Field(ge=0)]


class SummaryRow(SummaryFigures):
    """One group: its key (and, grouped by agent, the agent's name as label)."""

    key: str | None
    label: str | None | SkipJsonSchema[None] = None


class SummaryResponse(BaseModel):
    """summary: one row per group, and the totals."""

    model_config = CLOSED
    status: Success
    data: list[SummaryRow]
    totals: SummaryFigures


class ExportCreated(BaseModel):
    """export<Format> of every registered format: the new (or idempotent) request."""

    model_config = CLOSED
    status: Success
    requestId: Annotated[str, Field(pattern=REQUEST_ID)]
    state: Literal["pending", "running", "done", "failed", "cancelled", "expired"]


class ExportRequestOut(BaseModel):
    """An export request as exportList and the request endpoints show it (§7)."""

    model_config = CLOSED
    requestId: Annotated[str, Field(pattern=REQUEST_ID)]
    title: Annotated[str, Field(min_length=1, max_length=200)]
    format: Literal[NAMES]  # type: ignore[valid-type]
    state: Literal["pending", "running", "done", "failed", "cancelled", "expired"]
    progress: Annotated[int, Field(ge=0, le=100)]
    rowCount: Annotated[int, Field(ge=0)]
    fileSize: Annotated[int, Field(ge=0)] | None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None
    filters: dict[str, Any]
    columns: list[str]
    createdBy: str
    createdAt: Time
    startedAt: Time | None
    finishedAt: Time | None
    expiresAt: Time | None
    error: str | None


class ExportListResponse(BaseModel):
    """exportList: the requests this user may see, newest first."""

    model_config = CLOSED
    status: Success
    data: list[ExportRequestOut]
    page: Annotated[int, Field(ge=1)]
    limit: Annotated[int, Field(ge=1, le=1000)]


class ExportRequestResponse(BaseModel):
    """exportStatus and exportCancel: one request."""

    model_config = CLOSED
    status: Success
    data: ExportRequestOut


class TitleChanged(ExportRequestResponse):
    """changeTitle: the renamed request."""

    message: Literal["Title updated"]


class LoginResponse(BaseModel):
    """auth/login: a session."""

    model_config = CLOSED
    status: Success
    ssid: Annotated[str, Field(min_length=1)]
    userId: Annotated[str, Field(min_length=1)]
    expiresAt: Time


class Done(BaseModel):
    """auth/logout: nothing but success."""

    model_config = CLOSED
    status: Success


class IngestResponse(BaseModel):
    """ingest: how many records were inserted and how many replaced."""

    model_config = CLOSED
    status: Success
    inserted: Annotated[int, Field(ge=0)]
    updated: Annotated[int, Field(ge=0)]


def _link(target: str, **body: str) -> dict:
    return {"operationId": target, "requestBody": {k: f"$response.body#{v}" for k, v in body.items()}}


_AFTER_EXPORT = {t: _link(t, requestId="/requestId") for t in ("exportStatus", "changeTitle", "exportCancel")}
# An OpenAPI link per arrow: which answer feeds which request (stateful fuzzing follows them). A
# next page also repeats the filters of the page before; a link can only add fields, so the fuzzer
# (tests/test_fuzz_stateful.py) puts them back.
LINKS: dict[str, dict[str, dict]] = {
    **{
        f.export_endpoint: {**_AFTER_EXPORT, f.download_endpoint: _link(f.download_endpoint, requestId="/requestId")}
        for f in FORMATS.values()
    },
    "list": {"nextPage": _link("list", cursor="/nextCursor"), "detail": _link("detail", callId="/data/0/callId")},
    "masklist": {"nextPage": _link("masklist", cursor="/nextCursor")},
}
