"""/exports: create from the calls page, list with live state, download, rename, cancel."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from callreport.console import forms, service, web
from callreport.console.web import Viewer, render

router = APIRouter(include_in_schema=False, route_class=web.ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(web.viewer)]
FORMAT_NAMES = {"csv": "CSV", "xlsx": "Excel", "pdf": "PDF", "jsonl": "JSON Lines"}


def _rows_view(request: Request, who: Viewer) -> dict:
    ctx = service.context(request.app.state, who.principal)
    items = service.export_list(ctx)
    live = any(item["state"] not in service.FINAL_STATES for item in items)
    return {"items": items, "live": live, "formats": FORMAT_NAMES, "viewer": who}


@router.get("/exports")
def exports_page(request: Request, who: ViewerDep) -> Response:
    """Every export request the user may see; the table polls while one is pending or running."""
    notice = {"renamed": "Title updated.", "cancelled": "Export cancelled."}.get(request.query_params.get("done", ""))
    error = request.query_params.get("error")
    view = _rows_view(request, who)
    return render(request, "exports.html", active="exports", notice=notice, error=error, **view)


@router.get("/exports/rows")
def export_rows(request: Request, who: ViewerDep) -> Response:
    """The table body alone, for htmx polling (a GET: it changes nothing)."""
    return render(request, "_export_rows.html", **_rows_view(request, who))


@router.post("/exports")
async def create_export(request: Request) -> Response:
    """Start an export of the calls page's filters through the API's export endpoint."""
    return await _post(request, _create)


def _create(request: Request, ctx: object, form: dict) -> str:
    fmt = form.get("format", "")
    if fmt not in service.CREATORS:
        raise service.errors.InvalidParameters("Choose CSV, Excel or PDF.")
    values = forms.parse(parse_qsl(form.get("query", ""), keep_blank_values=True))
    title = form.get("title", "").strip() or None
    service.create_export(ctx, values, fmt, title)
    return "/exports"


@router.post("/exports/{request_id}/rename")
async def rename(request: Request, request_id: str) -> Response:
    """The API's changeTitle."""

    def run(request: Request, ctx: object, form: dict) -> str:
        service.rename_export(ctx, request_id, form.get("title", "").strip())
        return "/exports?done=renamed"

    return await _post(request, run)


@router.post("/exports/{request_id}/cancel")
async def cancel(request: Request, request_id: str) -> Response:
    """The API's exportCancel."""

    def run(request: Request, ctx: object, form: dict) -> str:
        service.cancel_export(ctx, request_id)
        return "/exports?done=cancelled"

    return await _post(request, run)


async def _post(request: Request, action: object) -> Response:
    """Sign-in and same-origin checks, then the action in a thread; back to a page (303) either way."""
    try:
        who = await web.viewer(request)
    except web.SignIn:
        return web.to_sign_in(request)
    try:
        form = await web.checked_form(request, who.token)
    except web.Refused:
        return web.refused(request)
    ctx = service.context(request.app.state, who.principal)
    fields = {k: str(v) for k, v in form.items()}
    try:
        target = await run_in_threadpool(action, request, ctx, fields)
    except service.ApiError as exc:
        target = "/exports?" + urlencode({"error": exc.detail or exc.message})
    return RedirectResponse(target, status_code=303)


@router.get("/exports/{request_id}/download")
def download(request: Request, request_id: str, who: ViewerDep) -> Response:
    """The file, through the API's own download: the same bytes and headers."""
    ctx = service.context(request.app.state, who.principal)
    try:
        return service.download(ctx, request_id)
    except service.ApiError as exc:
        return render(request, "missing.html", status=404, viewer=who, active="exports", message=exc.message)
