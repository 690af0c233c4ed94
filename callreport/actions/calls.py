"""list, masklist, reportCount, detail, summary and ingest."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StrictStr, field_validator

from callreport import db, errors, metrics
from callreport.actions.common import budgeted, resolved
from callreport.context import Ctx
from callreport.export.columns import record, records
from callreport.filters import CallFilter
from callreport.ingest import IngestParams, to_rows
from callreport.record import GROUPS, STRICT
from callreport.repo import calls as calls_repo
from callreport.repo.calls import totals_of
from callreport.zones import check_timezone

FIELDS = [c.name for c in calls_repo.ROW_COLUMNS]


class ListParams(CallFilter):
    """Filters plus page, limit and cursor."""

    page: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 50
    cursor: Annotated[StrictStr, Field(max_length=1000)] | None = None


class DetailParams(BaseModel):
    """One call by its callId."""

    model_config = STRICT
    callId: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    timezone: Annotated[StrictStr, Field(max_length=64)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


# The fields record.py marks groupable (agent, status, queueName, ...), then day and hour of startTime.
GroupBy = Literal[(*(f.group for f in GROUPS), "day", "hour")]


class SummaryParams(CallFilter):
    """Filters plus groupBy."""

    groupBy: GroupBy = "agent"


def _page(ctx: Ctx, p: ListParams, masked: bool) -> dict:
    r = resolved(ctx, p)
    with budgeted(ctx) as conn:
        try:
            rows, next_cursor = calls_repo.list_page(conn, ctx.principal, r, p.limit, p.page, p.cursor)
        except ValueError as exc:
            raise errors.InvalidParameters(f"cursor {exc}.") from None
    data = records(rows, FIELDS, r.tz, masked)
    return {"data": data, "page": p.page, "limit": p.limit, "nextCursor": next_cursor}


def list_calls(ctx: Ctx, p: ListParams) -> dict:
    """A page of calls matching the filters (numbers masked without VIEW_NUMBER)."""
    return _page(ctx, p, masked=not ctx.principal.sees_numbers)


def mask_list(ctx: Ctx, p: ListParams) -> dict:
    """A page of calls with caller and customer numbers always masked."""
    return _page(ctx, p, masked=True)


def report_count(ctx: Ctx, p: CallFilter) -> dict:
    """How many calls match the filters."""
    r = resolved(ctx, p)
    with budgeted(ctx) as conn:
        return {"count": calls_repo.count(conn, ctx.principal, r)}


def detail(ctx: Ctx, p: DetailParams) -> dict:
    """One call with its events."""
    r = resolved(ctx, CallFilter(timezone=p.timezone))
    with ctx.engine.connect() as conn:
        row = calls_repo.get_call(conn, ctx.principal, p.callId)
    if row is None:
        raise errors.NotExists("Call")
    return {"data": record(row, r.tz, not ctx.principal.sees_numbers, with_events=True)}


def _figures(g: dict) -> dict:
    calls, answered = g["calls"], g["answered"]
    return {
        "calls": calls,
        "answered": answered,
        "missed": calls - answered,
        "totalDuration": g["total_duration"],
        "totalTalkDuration": g["total_talk"],
        "avgTalkDuration": round(g["answered_talk"] / answered, 2) if answered else 0,
        "avgWaitTime": round(g["total_wait"] / calls, 2) if calls else 0,
        "maxWaitTime": g["max_wait"] or 0,
    }


def summary(ctx: Ctx, p: SummaryParams) -> dict:
    """Totals per agent, day, hour, status, direction, callType, campaign, department, disposition or queue."""
    r = resolved(ctx, p)
    with budgeted(ctx) as conn:
        groups = calls_repo.summary(conn, ctx.principal, r, p.groupBy)
    data = []
    for g in groups:
        item = {"key": g["key"]}
        if p.groupBy == "agent":
            item["label"] = g["label"]
        item.update(_figures({k: int(v or 0) if k not in ("key", "label") else v for k, v in g.items()}))
        data.append(item)
    return {"data": data, "totals": _figures(totals_of(groups))}


def ingest(ctx: Ctx, p: IngestParams) -> dict:
    """Load up to 10,000 call records atomically; an existing callId is replaced."""
    from zoneinfo import ZoneInfo

    rows = to_rows(ctx.principal.account_id, p.calls, ZoneInfo(ctx.principal.account_tz))
    with db.writing(ctx.engine) as conn:
        inserted, updated = calls_repo.upsert(conn, ctx.principal.account_id, rows)
    metrics.ingested("api", inserted + updated)
    return {"inserted": inserted, "updated": updated}
