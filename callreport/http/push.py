"""POST /api/v2/sources/freeswitch: FreeSWITCH's mod_json_cdr posts (§11), answered as it expects.

FreeSWITCH keeps and retries a CDR it could not post, so every answer but 200 means "send it
again": 401 for bad credentials, 400 for a body it cannot read, 503 while the database is away.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from callreport import errors
from callreport.db import is_db_unavailable
from callreport.http.wire import error_response, json_response, read_body
from callreport.sources import push
from callreport.sources.credentials import PUSH_PATH

log = logging.getLogger("callreport.sources")
router = APIRouter()


@router.post(PUSH_PATH, include_in_schema=False)
async def freeswitch_push(request: Request) -> Response:
    """One mod_json_cdr post: 200 once the call is stored or deliberately skipped."""
    state = request.app.state
    try:
        username, password = push.basic_credentials(request.headers.get("authorization"))
        try:
            raw = await read_body(request, state.settings.body_limit_bytes)
        except errors.ApiError as exc:
            raise exc.with_status(400) from None
        result = await run_in_threadpool(push.receive, state.engine, username, password, raw)
    except push.Unauthorized as exc:
        response = error_response(exc)
        response.headers["www-authenticate"] = 'Basic realm="callreport", charset="UTF-8"'
        return response
    except errors.ApiError as exc:
        return error_response(exc)
    except Exception as exc:  # never a traceback: 503 tells FreeSWITCH to keep the CDR and retry
        if is_db_unavailable(exc):
            log.warning("freeswitch push: database unavailable: %s", exc.__class__.__name__)
            return error_response(errors.DatabaseUnavailable().with_status(503))
        log.exception("freeswitch push failed")
        return error_response(errors.SomethingWentWrong().with_status(503))
    if push.prune_due():
        await run_in_threadpool(push.prune_legs, state.engine, state.settings.source_leg_retention_hours)
    return json_response({"status": "success", **result})
