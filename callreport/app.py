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
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from callreport import __version__, auth, console, db, errors, ops
from callreport.apidocs import add_docs
from callreport.context import Ctx
from callreport.memory import BodyQueue, tune_process
from callreport.principal import Principal
from callreport.ratelimit import RateLimiter
from callreport.responses import LINKS, ErrorEnvelope
from callreport.settings import Settings
from callreport.sources import push as pbx_push
from callreport.transport import ContractMiddleware, Endpoint, error_response

log = logging.getLogger("callreport")


def _apis() -> list:
    from callreport.api import auth as auth_api
    from callreport.api import calls as calls_api

    apis = [auth_api.api, calls_api.api]
    try:
        from callreport.api import downloads as downloads_api
        from callreport.api import exports as exports_api

        apis += [exports_api.api, downloads_api.api]
    except ImportError:  # the export endpoints are optional while being built
        pass
    return apis


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
    # Ingest batches validate under the GIL, so running two at once in a process gains no speed
    # but holds two ~150 MB batches: one at a time keeps the server's memory bounded. The wait is
    # on the event loop, before the body is read, so queued batches hold no thread and no body.
    app.state.ingest_gate = BodyQueue(settings.large_body_queue)
    app.state.authenticate = lambda creds: _authenticate(app, creds)
    app.state.context = lambda principal, request_id: Ctx(
        principal, app.state.engine, settings, app.state.storage, request_id
    )
    apis = _apis()
    for api in apis:
        app.include_router(api.router)
    app.include_router(pbx_push.router)  # PBX pushes (§11)
    add_docs(app)
    app.add_middleware(ContractMiddleware)
    _add_handlers(app)
    console.mount(app)  # the web console (§10): its pages, assets and headers
    app.openapi = lambda: _openapi(app, [ep for api in apis for ep in api.endpoints])

    ops.add_routes(app)
    return app


def _authenticate(app: FastAPI, creds: dict) -> Principal:
    with app.state.engine.connect() as conn:
        return auth.authenticate(conn, creds)


def _make_storage(settings: Settings) -> Any:
    from callreport.storage import from_url

    return from_url(settings.resolved_storage_url(), settings.s3_endpoint_url)


def _add_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        allow = (exc.headers or {}).get("Allow", "POST")  # the route's methods: POST on the API
        detail = {
            404: f"No endpoint at {request.url.path}.",
            405: f"{request.method} is not allowed here; use {allow}.",
        }
        err = errors.InvalidParameters(detail.get(exc.status_code, str(exc.detail)))
        err.http_status = exc.status_code
        response = error_response(err)
        if exc.status_code == 405:  # §1: a 405 carries Allow
            response.headers["allow"] = allow
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(errors.SomethingWentWrong())


CREDENTIALS_SCHEMA = {
    "ssid": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "Session id from auth/login (not with userId/token).",
    },
    "userId": {"type": "string", "minLength": 1, "maxLength": 200, "description": "User id, with token."},
    "token": {"type": "string", "minLength": 1, "maxLength": 200, "description": "API token, with userId."},
}


def _openapi(app: FastAPI, endpoints: list[Endpoint]) -> dict:
    """OpenAPI with each endpoint's real body schema (bodies are parsed by hand, whatever the type)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    names = {ep.name for ep in endpoints}
    for ep in endpoints:
        body: dict = {"type": "object", "properties": {}, "additionalProperties": False}
        if ep.params is not None:
            body = _component(components, ep.params)
        if ep.authenticated:
            body = {**body, "properties": {**CREDENTIALS_SCHEMA, **body.get("properties", {})}}
        op = schema["paths"][ep.path]["post"]
        op["operationId"] = ep.name  # what links name (responses.LINKS)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        op["responses"] = {"200": _response_doc(ep, components, names)}
    app.openapi_schema = schema
    return schema


def _component(components: dict, model: type) -> dict:
    """model's JSON schema, its nested models moved to components (a name never stands for two models)."""
    doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in doc.pop("$defs", {}).items():
        assert components.get(name, sub) == sub, f"two models are both called {name}"
        components[name] = sub
    return doc


def _response_doc(ep: Endpoint, components: dict, names: set[str]) -> dict:
    """The 200 answer: the endpoint's success body or the error envelope (one of, by status), or the file."""
    refs = {}
    for model in (ep.response, ErrorEnvelope):
        if model is not None:
            components[model.__name__] = _component(components, model)
            refs[model.__name__] = f"#/components/schemas/{model.__name__}"
    json_doc: dict = {"oneOf": [{"$ref": ref} for ref in refs.values()]}
    if ep.response is not None:
        success, error = refs.values()
        json_doc["discriminator"] = {"propertyName": "status", "mapping": {"success": success, "error": error}}
    content = {"application/json": {"schema": json_doc}}
    if ep.download:
        content[ep.download_type] = {"schema": {"type": "string", "format": "binary"}}
    doc = {"description": "The envelope (HTTP 200 for every API outcome), or the file.", "content": content}
    links = {k: link for k, link in LINKS.get(ep.name, {}).items() if link["operationId"] in names}
    if links:
        doc["links"] = links
    return doc


def app_from_env() -> FastAPI:
    """The app with settings from the environment (uvicorn's factory for `serve --workers N`)."""
    tune_process()
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return create_app(settings)
