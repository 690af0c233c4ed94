"""create_app(settings): engine and storage made in the lifespan; routers; one error shape.

The app never migrates and never renders an export: `serve` migrates once before it starts and runs
the export workers as processes of their own (callreport/supervisor.py).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from callreport import __version__, auth, console, db, errors
from callreport.context import Ctx
from callreport.http import auth as auth_routes
from callreport.http import calls as calls_routes
from callreport.http import downloads as download_routes
from callreport.http import exports as export_routes
from callreport.http import ops, push
from callreport.http.apidocs import add_docs
from callreport.http.wire import ContractMiddleware, error_response
from callreport.memory import BodyQueue, tune_process
from callreport.principal import Principal
from callreport.ratelimit import RateLimiter
from callreport.settings import Settings

log = logging.getLogger("callreport")


def create_app(settings: Settings, *, engine: Any = None, storage: Any = None) -> FastAPI:
    """The ASGI app. Engine and storage may be handed in (tests, benchmarks) or made from settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.engine = engine or db.make_engine(settings.resolved_database_url())
        state.storage = storage or _make_storage(settings)
        state.limits = RateLimiter(settings.rate_limit_per_minute, settings.redis_url, settings.redis_key_prefix)
        log.info("callreport %s serving; database %s", __version__, state.engine.url.render_as_string())
        try:
            yield
        finally:
            if engine is None:
                state.engine.dispose()
            await state.limits.aclose()

    app = FastAPI(
        title="callreport",
        version=__version__,
        description="Call Report API v2: find, count, summarise and export call detail records.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from apidocs, with assets shipped in the package
        redoc_url=None,
        # Never redirect (§1): Starlette's slash redirect builds its Location from the Host header.
        redirect_slashes=False,
    )
    app.state.settings = settings
    # Large ingest bodies, one at a time (http/contract.py ingest_body).
    app.state.ingest_gate = BodyQueue(settings.large_body_queue)
    app.state.authenticate = lambda creds: _authenticate(app, creds)
    app.state.context = lambda principal, request_id: Ctx(
        principal, app.state.engine, settings, app.state.storage, request_id
    )
    routers = [family.router for family in (auth_routes, calls_routes, export_routes, download_routes)]
    routers.append(push.router)  # PBX pushes (§11)
    for router in routers:
        app.include_router(router)
    add_docs(app)
    app.add_middleware(ContractMiddleware, paths=[route.path for router in routers for route in router.routes])
    _add_handlers(app)
    console.mount(app)  # the web console (§10): its pages, assets and headers
    ops.add_routes(app)
    return app


def _authenticate(app: FastAPI, creds: dict) -> Principal:
    with app.state.engine.connect() as conn:
        return auth.authenticate(conn, creds)


def _make_storage(settings: Settings) -> Any:
    from callreport.storage import from_url

    return from_url(settings.resolved_storage_url(), settings.s3_endpoint_url)


def _add_handlers(app: FastAPI) -> None:
    """The one handler of the contract's errors (raised by the dependencies and the actions), and the HTTP ones."""

    @app.exception_handler(errors.ApiError)
    async def api_error(request: Request, exc: errors.ApiError) -> Response:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        allow = (exc.headers or {}).get("Allow", "POST")  # the route's methods: POST on the API
        detail = {
            404: f"No endpoint at {request.url.path}.",
            405: f"{request.method} is not allowed here; use {allow}.",
        }
        err = errors.InvalidParameters(detail.get(exc.status_code, str(exc.detail)))
        response = error_response(err.with_status(exc.status_code))
        if exc.status_code == 405:  # §1: a 405 carries Allow
            response.headers["allow"] = allow
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(errors.SomethingWentWrong())


def app_from_env() -> FastAPI:
    """The app with settings from the environment (uvicorn's factory for `serve --workers N`)."""
    tune_process()
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(settings)
