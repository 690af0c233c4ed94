"""/api/v2/callreport: list, masklist, reportCount, detail, summary and ingest (§4-§6)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from callreport.actions import calls
from callreport.actions.calls import DetailParams, ListParams, SummaryParams
from callreport.filters import CallFilter
from callreport.http import responses as R
from callreport.http.contract import IngesterDep, Params, ReaderDep, metered
from callreport.http.openapi import documented
from callreport.http.wire import success
from callreport.ingest import IngestParams

router = APIRouter(prefix="/api/v2/callreport", tags=["calls"], dependencies=[Depends(metered)])


@router.post("/list", **documented("list", ListParams, R.ListResponse))
def list_calls(ctx: ReaderDep, p: Params[ListParams]) -> Response:
    """A page of calls matching the filters (numbers masked without VIEW_NUMBER)."""
    return success(calls.list_calls(ctx, p))


@router.post("/masklist", **documented("masklist", ListParams, R.ListResponse))
def mask_list(ctx: ReaderDep, p: Params[ListParams]) -> Response:
    """A page of calls with caller and customer numbers always masked."""
    return success(calls.mask_list(ctx, p))


@router.post("/reportCount", **documented("reportCount", CallFilter, R.CountResponse))
def report_count(ctx: ReaderDep, p: Params[CallFilter]) -> Response:
    """How many calls match the filters."""
    return success(calls.report_count(ctx, p))


@router.post("/detail", **documented("detail", DetailParams, R.DetailResponse))
def detail(ctx: ReaderDep, p: Params[DetailParams]) -> Response:
    """One call with its events."""
    return success(calls.detail(ctx, p))


@router.post("/summary", **documented("summary", SummaryParams, R.SummaryResponse))
def summary(ctx: ReaderDep, p: Params[SummaryParams]) -> Response:
    """Totals per agent, day, hour, status, direction, callType, campaign, department, disposition or queue."""
    return success(calls.summary(ctx, p))


@router.post("/ingest", **documented("ingest", IngestParams, R.IngestResponse))
def ingest(ctx: IngesterDep, p: Params[IngestParams]) -> Response:
    """Load up to 10,000 call records atomically; an existing callId is replaced (INGEST_CALL_LOG)."""
    return success(calls.ingest(ctx, p))
