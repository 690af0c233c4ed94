"""Every call from the console into the core, in one module: the one place to adapt when the core moves.

The console reuses the API's own handlers (login, list, reportCount, detail, summary, the export
endpoints and downloads), so it shows exactly what the API answers to the same user: same scope,
same masking, same errors. Only the pick-lists and the heat map are reads of their own.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from typing import Any, get_args

from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from callreport import errors, filters, record
from callreport.actions import auth as auth_api
from callreport.actions import calls as calls_api
from callreport.actions import common
from callreport.actions import downloads as downloads_api
from callreport.actions import exports as exports_api
from callreport.context import Ctx
from callreport.principal import Principal
from callreport.repo import browse

ApiError = errors.ApiError
CallFilter = filters.CallFilter
FILTER_FIELDS = tuple(CallFilter.model_fields)
LIST_FILTERS = tuple(name for name in filters.LIST_FIELDS if name in CallFilter.model_fields)
NUMBER_FILTERS = tuple(name for name in filters.BOUNDS if name in CallFilter.model_fields)
GROUP_KEYS: tuple[str, ...] = get_args(calls_api.GroupBy)
SORT_KEYS: tuple[str, ...] = get_args(filters.SortBy)
STATUSES, DIRECTIONS, HANGUP_BY = record.STATUSES, record.DIRECTIONS, record.HANGUP_BY
CONDITION_OPS: tuple[str, ...] = get_args(filters.Op)
DOWNLOADS = downloads_api.DOWNLOADERS  # every registered format (export/formats.py)
CREATORS = exports_api.EXPORTERS
FINAL_STATES = ("done", "failed", "cancelled", "expired")


def _request_id() -> str:
    return uuid.uuid4().hex[:16]


def _valid(model: type[BaseModel], values: dict) -> Any:
    """The model of these values, or the API's own 1000 naming the parameter at fault."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise errors.InvalidParameters(errors.describe_validation(exc)) from None


# --- sessions -----------------------------------------------------------------------------------


def login(state: Any, username: str, password: str) -> str:
    """An ssid from the API's own login (same throttle, same failures), or ApiError."""
    if not username or not password:
        raise errors.InvalidToken(message="Invalid username or password")
    params = _valid(auth_api.LoginParams, {"username": username, "password": password})
    return auth_api.login(state.context(None, _request_id()), params)["ssid"]


def logout(state: Any, ssid: str) -> None:
    """End the session; one already dead is no error here."""
    try:
        auth_api.logout(state.context(None, _request_id()), _valid(auth_api.LogoutParams, {"ssid": ssid}))
    except errors.ApiError:
        pass


def principal(state: Any, ssid: str) -> Principal:
    """Who holds this ssid (1014 when unknown, expired or revoked), checked on every page."""
    if not ssid or len(ssid) > 200:
        raise errors.InvalidToken()
    return state.authenticate({"ssid": ssid})


def may_read(p: Principal) -> bool:
    """Whether the user may read calls at all (the API's LIST_CALL_LOG)."""
    return "LIST_CALL_LOG" in p.permissions


def context(state: Any, p: Principal) -> Ctx:
    """The API's per-request context for this user."""
    return state.context(p, _request_id())


def form_token(ssid: str) -> str:
    """The anti-forgery token of a session: derived from the ssid, which another site cannot read."""
    return hashlib.sha256(f"callreport-console-form:{ssid}".encode()).hexdigest()[:32]


# --- calls --------------------------------------------------------------------------------------


def call_filter(values: dict) -> filters.CallFilter:
    """The §6 filter of these values, or 1000 naming the field."""
    return _valid(CallFilter, values)


def effective_zone(ctx: Ctx, values: dict) -> str:
    """The timezone the filter's dates and the times shown are in."""
    return common.resolved(ctx, call_filter(values)).timezone


def list_page(ctx: Ctx, values: dict, limit: int, cursor: str | None) -> dict:
    """The API's list answer: data (masked as for this user), nextCursor."""
    body = {**values, "limit": limit, **({"cursor": cursor} if cursor else {})}
    return calls_api.list_calls(ctx, _valid(calls_api.ListParams, body))


def count(ctx: Ctx, values: dict) -> int:
    """The API's reportCount for the filter."""
    return calls_api.report_count(ctx, call_filter(values))["count"]


def call_detail(ctx: Ctx, call_id: str, timezone: str | None) -> dict:
    """The API's detail record with events (1009 when unknown or not visible)."""
    body = {"callId": call_id, **({"timezone": timezone} if timezone else {})}
    return calls_api.detail(ctx, _valid(calls_api.DetailParams, body))["data"]


def summary(ctx: Ctx, values: dict, group_by: str) -> dict:
    """The API's summary answer: data per group and totals."""
    return calls_api.summary(ctx, _valid(calls_api.SummaryParams, {**values, "groupBy": group_by}))


def heat_map(ctx: Ctx, values: dict) -> list[list[int]]:
    """Calls per day of week (Monday first) and hour of day, in the effective timezone."""
    r = common.resolved(ctx, call_filter(values))
    with ctx.engine.connect() as conn:
        return browse.heat_map(conn, ctx.principal, r)


# Pick-lists are cheap (index seeks, ~10 ms cold at 10^6 calls) but asked for on every page: kept a minute.
PICK_TTL_SECONDS = 60
_picks: dict[tuple, tuple[float, dict]] = {}
_picks_lock = threading.Lock()


def pick_lists(ctx: Ctx, values: dict | None = None) -> dict[str, list]:
    """The choices of the multi-selects: agents and recent call types from the data, the rest from the enumerations."""
    p = ctx.principal
    key = (p.account_id, p.agents)
    now = time.monotonic()
    with _picks_lock:
        hit = _picks.get(key)
    if hit and hit[0] > now:
        found = hit[1]
    else:
        with ctx.engine.connect() as conn:
            found = {"agents": browse.agents(conn, p), "callTypes": browse.recent_call_types(conn, p)}
        with _picks_lock:
            if len(_picks) > 1000:
                _picks.clear()
            _picks[key] = (now + PICK_TTL_SECONDS, found)
    # A chosen call type stays a choice even when no recent call has it (a bookmarked page).
    chosen = [t for t in (values or {}).get("callTypes", []) if t not in found["callTypes"]]
    types = sorted([*found["callTypes"], *chosen])
    return {"agents": found["agents"], "statuses": STATUSES, "directions": DIRECTIONS, "callTypes": types}


# --- exports ------------------------------------------------------------------------------------


def create_export(ctx: Ctx, values: dict, fmt: str, title: str | None) -> str:
    """Start an export through the API's own endpoint; returns its requestId."""
    body = {**values, **({"title": title} if title else {})}
    return CREATORS[fmt](ctx, _valid(exports_api.ExportParams, body))["requestId"]


def export_list(ctx: Ctx, limit: int = 100) -> list[dict]:
    """The export requests this user may see, newest first, as exportList shows them."""
    return exports_api.export_list(ctx, _valid(exports_api.ListParams, {"limit": limit}))["data"]


def rename_export(ctx: Ctx, request_id: str, title: str) -> None:
    """The API's changeTitle."""
    exports_api.change_title(ctx, _valid(exports_api.TitleParams, {"requestId": request_id, "title": title}))


def cancel_export(ctx: Ctx, request_id: str) -> None:
    """The API's exportCancel."""
    exports_api.export_cancel(ctx, _valid(common.RequestIdParams, {"requestId": request_id}))


def download(ctx: Ctx, request_id: str) -> Response:
    """The API's download of the request's file (its format looked up first): the same bytes."""
    params = _valid(common.RequestIdParams, {"requestId": request_id})
    fmt = exports_api.export_status(ctx, params)["data"]["format"]
    if fmt not in DOWNLOADS:
        raise errors.NotExists("File")
    return DOWNLOADS[fmt](ctx, params)
