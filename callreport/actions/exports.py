"""export<Format> for every registered format, exportList, exportStatus, changeTitle, exportCancel."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field, StrictInt, StrictStr, field_validator
from sqlalchemy.engine import Row

from callreport import db, errors, jobs
from callreport.actions.common import RequestIdParams, resolved
from callreport.context import Ctx
from callreport.export.columns import resolve_columns
from callreport.export.formats import FORMATS, NAMES, Format
from callreport.export.words import default_title, filters_in_words
from callreport.filters import CallFilter
from callreport.record import STRICT
from callreport.repo import exports as exports_repo
from callreport.time_format import account_time

IDEMPOTENCY_WINDOW = 24 * 3600
Title = Annotated[StrictStr, Field(min_length=1, max_length=200)]
ColumnName = Annotated[StrictStr, Field(max_length=100)]
# Ids sort as they were made (like the reference's ObjectIds): exportList orders requests made
# in the same second by id, and random ids would put them in random order.
_ID_NODE = os.urandom(3).hex()
_ID_COUNTER = itertools.count()


class ExportParams(CallFilter):
    """Filters plus title, columns and idempotencyKey."""

    title: Title | None = None
    columns: Annotated[list[ColumnName], Field(min_length=1, max_length=100)] | None = None
    idempotencyKey: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            try:
                resolve_columns(v)
            except KeyError as exc:
                raise ValueError(f"{exc.args[0]!r} is not a record field or callAnalysis.<key>") from None
        return v


class TitleParams(RequestIdParams):
    """An export request's id and its new title."""

    title: Title


class ListParams(BaseModel):
    """Paging and filters of exportList."""

    model_config = STRICT
    page: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1
    limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 50
    formats: Annotated[list[Literal[NAMES]], Field(max_length=len(NAMES))] | None = None  # type: ignore[valid-type]
    states: Annotated[list[Literal[jobs.STATES]], Field(max_length=6)] | None = None  # type: ignore[valid-type]


def _echo(p: ExportParams, r: Any) -> dict:
    given = p.model_dump(exclude_unset=True, exclude={"title", "columns", "idempotencyKey"})
    given = {k: v for k, v in given.items() if v is not None}
    for name, ts in (("startDate", r.start_ts), ("endDate", r.end_ts)):
        if ts is not None:
            given[name] = account_time(ts, r.tz)
    given["timezone"] = r.timezone
    return given


def _request_id() -> str:
    """24 hex digits: epoch seconds, this host and process, then a per-process counter."""
    return f"{int(time.time()):08x}{_ID_NODE}{os.getpid() & 0xFFFF:04x}{next(_ID_COUNTER) & 0xFFFFFF:06x}"


def _create(ctx: Ctx, p: ExportParams, fmt: str) -> dict:
    r = resolved(ctx, p)
    pr = ctx.principal
    columns = [c.name for c in resolve_columns(p.columns, fmt)]
    echo = _echo(p, r)
    fingerprint = hashlib.sha256(orjson.dumps([fmt, echo, columns, p.title], option=orjson.OPT_SORT_KEYS)).hexdigest()
    params = {
        "filter": p.model_dump(exclude={"title", "columns", "idempotencyKey", "startDate", "endDate"}),
        "echo": echo,
        "columns": columns,
        "timezone": r.timezone,
        "start_ts": r.start_ts,
        "end_ts": r.end_ts,
        "agents": list(pr.agents) if pr.agents is not None else None,
        "masked": not pr.sees_numbers,
        "filters_text": filters_in_words(echo, r),
    }
    with db.writing(ctx.engine) as conn:
        if p.idempotencyKey:
            prior = exports_repo.find_idempotent(conn, pr, p.idempotencyKey, int(time.time()) - IDEMPOTENCY_WINDOW)
            if prior is not None:
                if prior.fingerprint != fingerprint:
                    raise errors.InvalidParameters("idempotencyKey was already used with different parameters.")
                return {"requestId": prior.id, "state": jobs.shown_state(prior)}
        cap = ctx.settings.max_active_exports
        if exports_repo.active(conn, pr) >= cap:
            raise errors.InvalidParameters(
                f"You already have {cap} export requests pending or running (the most allowed); "
                "wait for one to finish or cancel one."
            )
        request_id = _request_id()
        exports_repo.create(
            conn,
            pr,
            params,
            id=request_id,
            format=fmt,
            title=p.title or default_title(r),
            title_set=p.title is not None,
            masked=params["masked"],
            agent_scope=exports_repo.agent_scope(pr.agents, p.agentIds),
            idempotency_key=p.idempotencyKey,
            fingerprint=fingerprint,
        )
    return {"requestId": request_id, "state": "pending"}


def _exporter(fmt: Format) -> Callable[[Ctx, ExportParams], dict]:
    def export(ctx: Ctx, p: ExportParams) -> dict:
        return _create(ctx, p, fmt.name)

    export.__name__ = f"export_{fmt.name}"
    export.__doc__ = f"Start a {fmt.described} export of the matching calls; the file is made in the background."
    return export


# format -> its export handler (export<suffix> on the API).
EXPORTERS = {name: _exporter(fmt) for name, fmt in FORMATS.items()}


def present(row: Row, account_tz: str) -> dict:
    """An export request as the contract shows it (times in the account's timezone)."""
    return {
        "requestId": row.id,
        "title": row.title,
        "format": row.format,
        "state": jobs.shown_state(row),
        "progress": row.progress,
        "rowCount": row.row_count,
        "fileSize": row.file_size,
        "sha256": row.sha256,
        "filters": row.params["echo"],
        "columns": row.params["columns"],
        "createdBy": row.created_by,
        **{
            out: account_time(getattr(row, col), account_tz)
            for out, col in (
                ("createdAt", "created_at"),
                ("startedAt", "started_at"),
                ("finishedAt", "finished_at"),
                ("expiresAt", "expires_at"),
            )
        },
        "error": row.error,
    }


def export_list(ctx: Ctx, p: ListParams) -> dict:
    """The export requests this user may see, newest first."""
    states = list(p.states) if p.states else None
    with ctx.engine.connect() as conn:
        rows = exports_repo.page(conn, ctx.principal, p.formats, states, p.limit, (p.page - 1) * p.limit)
    return {"data": [present(r, ctx.principal.account_tz) for r in rows], "page": p.page, "limit": p.limit}


def _visible(ctx: Ctx, request_id: str) -> Row:
    with ctx.engine.connect() as conn:
        row = exports_repo.get(conn, ctx.principal, request_id)
    if row is None:
        raise errors.NotExists("Request")
    return row


def export_status(ctx: Ctx, p: RequestIdParams) -> dict:
    """One export request: its state, progress, row count and file."""
    return {"data": present(_visible(ctx, p.requestId), ctx.principal.account_tz)}


def change_title(ctx: Ctx, p: TitleParams) -> dict:
    """Rename an export request (the title names the downloaded file)."""
    # Visibility is part of the UPDATE itself: no check made in another transaction to go stale.
    with db.writing(ctx.engine) as conn:
        renamed = exports_repo.set_title(conn, ctx.principal, p.requestId, p.title)
        row = exports_repo.get(conn, ctx.principal, p.requestId) if renamed else None
    if row is None:
        raise errors.NotExists("Request")
    return {"message": "Title updated", "data": present(row, ctx.principal.account_tz)}


def export_cancel(ctx: Ctx, p: RequestIdParams) -> dict:
    """Stop a pending or running export; a finished one is left as it is."""
    with db.writing(ctx.engine) as conn:
        exports_repo.cancel(conn, ctx.principal, p.requestId)
        row = exports_repo.get(conn, ctx.principal, p.requestId)
    if row is None:
        raise errors.NotExists("Request")
    return {"data": present(row, ctx.principal.account_tz)}
