"""The operator's endpoints (§12), outside /api/: GET /healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from callreport import db, errors, metrics
from callreport.http.wire import error_response, json_response

log = logging.getLogger("callreport.ops")
READY_TIMEOUT_SECONDS = 2.0  # the network timeout of each check: a store or database silent this long is down
# The wait for each check, a backstop for what no network timeout covers (a full connection pool, a
# hung file system) and room for a loaded machine to make the S3 client (0.3 s idle, over 2 s seen).
READY_WAIT_SECONDS = 5.0


def add_routes(app: FastAPI) -> None:
    """Register the three endpoints on the app (not in the OpenAPI document: they are not the API)."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        return await _readiness(app.state)

    @app.get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request) -> Response:
        settings = app.state.settings
        if not settings.metrics:  # off: as if there were no such endpoint
            return error_response(errors.InvalidParameters(f"No endpoint at {request.url.path}.").with_status(404))
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        if token and not _bearer_matches(request.headers.get("authorization", ""), token):
            response = error_response(errors.InvalidToken("GET /metrics needs Authorization: Bearer.").with_status(401))
            response.headers["www-authenticate"] = 'Bearer realm="metrics"'
            return response
        body = await run_in_threadpool(metrics.render, app.state.engine)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(header: str, token: str) -> bool:
    """Whether the Authorization header carries the token, compared in constant time."""
    scheme, _, given = header.partition(" ")
    # compare_digest on bytes: the time does not depend on where the values differ.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def _readiness(state: Any) -> Response:
    database, storage = await asyncio.gather(
        _answers("database", _database(state.engine)),
        _answers("storage", lambda: state.storage.ping(READY_TIMEOUT_SECONDS)),
    )
    down = [name for name, ok in (("database", database), ("storage", storage)) if not ok]
    if not down:
        return json_response({"status": "ok"})
    detail = "; ".join(f"{name} unreachable" for name in down)
    exc = errors.DatabaseUnavailable(detail) if not database else errors.SomethingWentWrong(detail)
    return error_response(exc.with_status(503))


def _database(engine: sa.Engine) -> Callable[[], None]:
    def check() -> None:
        db.ping(engine)

    return check


async def _answers(name: str, check: Callable[[], None]) -> bool:
    """Whether the check returns within the timeout; a hung one is left to its own timeouts."""
    # run_in_executor, not run_in_threadpool: anyio would wait for the thread before cancelling.
    future = asyncio.get_running_loop().run_in_executor(None, check)
    try:
        await asyncio.wait_for(future, READY_WAIT_SECONDS)
        return True
    except Exception as exc:
        log.warning("readyz: %s unreachable (%s)", name, exc.__class__.__name__)
        return False
