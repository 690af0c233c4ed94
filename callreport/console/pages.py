"""Sign-in, sign-out and the read pages: /calls, /calls/<callId>, /summary."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from callreport.console import forms, service, web
from callreport.console.web import Viewer, render

router = APIRouter(include_in_schema=False, route_class=web.ConsoleRoute)
ViewerDep = Annotated[Viewer, Depends(web.viewer)]
PAGE_SIZE = 50
MAX_TRAIL = 20  # Previous works this many pages back; the URL stays short
AUDIO = re.compile(r"^https?://[^\s;,'\"]+\.(mp3|wav|ogg|oga|opus|m4a|aac|flac|webm)$", re.IGNORECASE)


@router.get("/")
async def home(request: Request) -> Response:
    """Signed in: the calls; else the sign-in page."""
    try:
        await web.viewer(request)
    except web.SignIn:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/calls", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    """The sign-in form."""
    return render(request, "login.html", viewer=None, error=None, username="")


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the credentials with the API's login; the ssid goes into an HttpOnly cookie."""
    try:
        form = await web.checked_form(request, None)
    except web.Refused:
        return web.refused(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    state = request.app.state
    try:
        ssid = await run_in_threadpool(service.login, state, username, password)
    except service.ApiError as exc:
        error = exc.detail if exc.detail and "Too many" in exc.detail else exc.message
        return render(request, "login.html", status=401, viewer=None, error=error, username=username)
    response = RedirectResponse("/calls", status_code=303)
    web.set_session(response, request, ssid, state.settings.session_ttl_seconds)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session in the database (so the ssid is dead everywhere) and drop the cookie."""
    try:
        who = await web.viewer(request)
    except web.SignIn:
        return web.to_sign_in(request)
    try:
        await web.checked_form(request, who.token)
    except web.Refused:
        return web.refused(request)
    await run_in_threadpool(service.logout, request.app.state, who.ssid)
    response = RedirectResponse("/login", status_code=303)
    web.clear_session(response, request)
    return response


def _calls_view(request: Request, who: Viewer) -> dict[str, Any]:
    pairs = list(request.query_params.multi_items())
    values = forms.parse(pairs)
    ctx = service.context(request.app.state, who.principal)
    cursor = request.query_params.get("cursor") or None
    trail = [c for k, c in pairs if k == "prev"][-MAX_TRAIL:]
    limit = request.query_params.get("limit", "")
    limit = int(limit) if limit.isdigit() else PAGE_SIZE
    view: dict[str, Any] = {"values": values, "rows": [], "count_query": None, "error": None, "limit": limit}
    view["picks"] = service.pick_lists(ctx, values)
    try:
        view["zone"] = service.effective_zone(ctx, values)
        page = service.list_page(ctx, values, limit, cursor)
    except service.ApiError as exc:
        view["zone"] = values.get("timezone") or who.principal.account_tz
        view["error"] = exc.detail or exc.message
        return view
    view["rows"] = page["data"]
    view["count_query"] = forms.query(values)  # the count comes on its own (calls_count), after the table
    paging = {"limit": limit if limit != PAGE_SIZE else None}
    if page["nextCursor"]:
        view["next"] = forms.query(values, **paging, prev=[*trail, cursor or ""], cursor=page["nextCursor"])
    if cursor is not None:
        back = trail[-1] if trail else ""
        view["previous"] = forms.query(values, **paging, prev=trail[:-1] or None, cursor=back or None)
    return view


COLUMNS = [  # (header, sort key or None): the contract's sort keys make the sortable headers
    ("Start", "startTime"),
    ("Agent", "agentName"),
    ("Customer", "customerNumber"),
    ("Direction", None),
    ("Status", None),
    ("Duration", "duration"),
    ("Talk", "talkDuration"),
    ("Wait", "waitTime"),
    ("Call type", None),
]


def _columns(who: Viewer) -> list[tuple[str, str | None]]:
    """The table's headers; sorting by the hidden number is offered only to who may see numbers."""
    if who.principal.sees_numbers:
        return COLUMNS
    return [(label, None if key == "customerNumber" else key) for label, key in COLUMNS]


PICKED = ("agentIds", "statuses", "directions", "callTypes", "hangupBy")
LABELS = {
    "didNumbers": "DID number",
    "campaigns": "Campaign",
    "departments": "Department",
    "dispositions": "Disposition",
    "callIds": "Call id",
    "queueNames": "Queue",
}
MORE = ("minTalkDuration", "maxTalkDuration", "hangupBy", "sortBy", "sortOrder", *LABELS)


def _form(action: str, zone: str, values: dict, picks: dict, group_by: str | None) -> dict[str, Any]:
    """What the filter form needs besides the values."""
    return {
        "action": action,
        "zone": zone,
        "values": values,
        "picks": picks,
        "group_by": group_by,
        "ranges": forms.quick_ranges(zone),
        "sort_keys": service.SORT_KEYS,
        "hangup": service.HANGUP_BY,
        "list_filters": [n for n in service.LIST_FILTERS if n not in PICKED],
        "labels": {n: LABELS.get(n, n) for n in service.LIST_FILTERS},
        "ops": service.CONDITION_OPS,
        "more_open": any(name in values for name in MORE),
        "selected": forms.selected,
        "condition_text": forms.condition_text,
    }


@router.get("/calls")
def calls_page(request: Request, who: ViewerDep) -> Response:
    """The filter form, the count, a page of calls and the export buttons."""
    view = _calls_view(request, who)
    form = _form("/calls", view.pop("zone"), view.pop("values"), view.pop("picks"), None)
    limit = view.pop("limit")
    return render(
        request,
        "calls.html",
        viewer=who,
        active="calls",
        columns=_columns(who),
        paging_limit=limit if limit != PAGE_SIZE else None,
        **form,
        **view,
    )


def _count_view(request: Request, who: Viewer, values: dict) -> dict[str, Any]:
    """The count for the filters, or the filter's fault (1000) in words; other failures raise."""
    ctx = service.context(request.app.state, who.principal)
    try:
        return {"count": service.count(ctx, values), "error": None}
    except service.ApiError as exc:
        if exc.code in (1009, 1010):
            raise
        return {"count": None, "error": exc.detail or exc.message}


@router.get("/calls-count")
async def calls_count(request: Request) -> Response:
    """`N calls` for the filters: the text alone for htmx, else a page of its own (the count without JS)."""
    values = forms.parse(list(request.query_params.multi_items()))
    htmx = bool(request.headers.get("hx-request"))
    try:
        who = await web.viewer(request)
        view = await run_in_threadpool(_count_view, request, who, values)
    except web.SignIn:
        raise
    except Exception as exc:
        if not htmx:
            raise
        # htmx swaps only a 2xx: a failure is said in place (and logged), not left at "Counting…".
        failed = web.failure_page(request, exc)
        reason = "the database cannot be reached" if failed.status_code == 503 else "an error on the server"
        return render(request, "_count.html", count=None, error=reason)
    if htmx:
        return render(request, "_count.html", **view)
    return render(request, "count.html", viewer=who, active="calls", back=forms.query(values), **view)


@router.get("/calls/{call_id:path}")
def call_page(request: Request, call_id: str, who: ViewerDep) -> Response:
    """Every field of one call, its callAnalysis, its events and its recording."""
    ctx = service.context(request.app.state, who.principal)
    try:
        call = service.call_detail(ctx, call_id, request.query_params.get("timezone") or None)
    except service.ApiError as exc:
        status = 404 if exc.code == 1009 else 400
        return render(request, "missing.html", status=status, viewer=who, active="calls", message=exc.message)
    url = call.get("recordingUrl") or ""
    audio = bool(AUDIO.match(url)) and url.isascii()
    headers = None
    if audio:  # the player may load this one file and nothing else from its origin
        headers = {"content-security-policy": web.CSP.replace("media-src 'self'", f"media-src 'self' {url}")}
    link = url if url.lower().startswith(("https://", "http://")) else None
    return render(request, "call.html", headers=headers, viewer=who, active="calls", call=call, audio=audio, link=link)


@router.get("/summary")
def summary_page(request: Request, who: ViewerDep) -> Response:
    """Groups with the §7 figures, calls per day (answered and missed) and the hour-by-weekday heat map."""
    values = forms.parse(list(request.query_params.multi_items()))
    group_by = request.query_params.get("groupBy", "agent")
    ctx = service.context(request.app.state, who.principal)
    view: dict[str, Any] = {"values": values, "group_by": group_by, "error": None, "groups": None}
    try:
        view["zone"] = service.effective_zone(ctx, values)
        view["groups"] = service.summary(ctx, values, group_by)
        days = service.summary(ctx, values, "day")["data"]
        view["heat"] = service.heat_map(ctx, values)
    except service.ApiError as exc:
        view["zone"] = values.get("timezone") or who.principal.account_tz
        view["error"] = exc.detail or exc.message
        days, view["heat"] = [], [[0] * 24 for _ in range(7)]
    view["chart"] = {
        "days": [d["key"] for d in days],
        "answered": [d["answered"] for d in days],
        "missed": [d["missed"] for d in days],
    }
    peak = max((max(row) for row in view["heat"]), default=0)
    view["level"] = lambda n: 0 if not n or not peak else 1 + min(4, n * 5 // (peak + 1))
    form = _form("/summary", view.pop("zone"), values, service.pick_lists(ctx, values), group_by)
    view.pop("values")
    view.pop("group_by")
    return render(request, "summary.html", viewer=who, active="summary", group_keys=service.GROUP_KEYS, **form, **view)
