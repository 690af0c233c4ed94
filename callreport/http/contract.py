"""The contract's checks as FastAPI dependencies, in the contract's order (§2, §9).

A contract endpoint is a plain FastAPI route:

    @router.post("/list", **documented("list", ListParams, R.ListResponse))
    def list_calls(ctx: ReaderDep, p: Params[ListParams]) -> Response: ...

and its dependencies run in this order: the client address's rate, 1050, before the body is read
(`metered`, on every contract router); the body, 1047 (`JsonBody` or `IngestBody`); the shape of the
credentials, 1000; the credentials, 1014; the user's rate, 1050; the permission, 1015 (`caller`);
the parameters, 1000 (`Params`, declared after the caller). Every failure is an `errors.ApiError`,
answered by the app's one handler as the envelope.

Thread hops: the endpoint runs in a worker thread; the caller's lookup of the credentials runs on the
loop on SQLite and in a worker thread on PostgreSQL (`_principal`).
(No `from __future__ import annotations` here: FastAPI reads the annotations of the closures below.)
Bodies over INLINE_BYTES are parsed and validated in a worker thread; smaller ones on the loop,
where a hop would cost more than the work.
"""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from callreport import errors, metrics
from callreport.context import Ctx
from callreport.db import is_db_unavailable
from callreport.http.wire import credential_shape, parse_body, read_body, unstorable
from callreport.memory import give_back
from callreport.principal import Principal

log = logging.getLogger("callreport.http")
access_log = logging.getLogger("callreport.access")
INLINE_BYTES = 64 << 10  # bodies up to this size are parsed and validated on the event loop


@dataclass
class Body:
    """A request's JSON object and what the parameter check needs to know of its raw bytes."""

    data: dict
    size: int
    walk: bool  # whether to look for NULs and huge integers (ingest: only when the raw body has \\u0000)


def forget(exc: BaseException) -> None:
    """Drop an exception's frames and its chain: their locals hold the parsed body (§9 Memory)."""
    exc.__traceback__ = None
    exc.__context__ = None
    exc.__cause__ = None


async def metered(request: Request) -> AsyncIterator[None]:
    """Every contract endpoint: the address's rate first; then one access line, the metrics, the address's count.

    Anything that is not the contract's own error becomes 1010 (database away) or 1009, logged and never shown.
    """
    state = request.app.state
    address = request.client.host if request.client else "-"
    request.state.request_id = uuid.uuid4().hex[:16]
    request.state.user_id = None
    started = time.perf_counter()
    outcome: object = "success"
    try:
        await state.limits.check_address(address)  # before the body is read: a refusal costs nothing
        yield
    except errors.ApiError as exc:
        outcome = exc.code
        forget(exc)
        raise
    except Exception as exc:
        path = request.url.path
        if is_db_unavailable(exc):
            log.warning("request %s %s: database unavailable: %s", request.state.request_id, path, type(exc).__name__)
            outcome, failure = 1010, errors.DatabaseUnavailable()
        else:
            log.exception("request %s %s failed", request.state.request_id, path)
            outcome, failure = 1009, errors.SomethingWentWrong()
        forget(exc)
        raise failure from None
    finally:
        _access(request, outcome, started)
        # Only requests that did not authenticate count against their address (§9 Rates); a refusal
        # for the rate itself is not counted again.
        if request.state.user_id is None and outcome != errors.TooManyRequests.code:
            await state.limits.count_address(address)


def _access(request: Request, outcome: object, started: float) -> None:
    """One line per request: id, endpoint, outcome and time; never a body (it holds secrets). Counted too."""
    seconds = time.perf_counter() - started
    route = request.scope.get("route")
    path = route.path if route is not None else request.url.path
    metrics.observe_request(path, outcome, seconds)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s %s %s %.1fms", request.state.request_id, path, outcome, seconds * 1000)


async def bare() -> AsyncIterator[None]:
    """Download endpoints: their errors are exactly the reference's bodies, without a detail."""
    try:
        yield
    except errors.ApiError as exc:
        exc.detail = None
        raise


async def _parsed(request: Request, raw: bytearray, walk: bool) -> Body:
    depth = request.app.state.settings.max_json_depth
    if len(raw) > INLINE_BYTES:
        data = await run_in_threadpool(parse_body, raw, depth)
    else:
        data = parse_body(raw, depth)
    body = Body(data, len(raw), walk)
    request.state.body = body
    return body


async def json_body(request: Request) -> Body:
    """The body of every endpoint but ingest: one JSON object up to CALLREPORT_BODY_LIMIT_BYTES, or 1047."""
    raw = await read_body(request, request.app.state.settings.body_limit_bytes)
    return await _parsed(request, raw, walk=True)


async def ingest_body(request: Request) -> AsyncIterator[Body]:
    """ingest's body, up to CALLREPORT_INGEST_BODY_LIMIT_BYTES; a large one waits its turn before it is read.

    Batches validate under the GIL, so two at once in a process gain no speed but hold two
    ~150 MB batches: large bodies go one at a time, and the wait holds no thread and no body.
    """
    state = request.app.state
    settings = state.settings
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) <= settings.body_limit_bytes:
        raw = await read_body(request, settings.body_limit_bytes)
        yield await _parsed(request, raw, walk=b"\\u0000" in raw)
        return
    async with state.ingest_gate:
        raw = await read_body(request, settings.ingest_body_limit_bytes)
        try:
            yield await _parsed(request, raw, walk=b"\\u0000" in raw)
        finally:
            large = len(raw) > settings.body_limit_bytes
            del raw
            request.state.body = None
            if large:
                await run_in_threadpool(give_back)  # the large body's heap goes back to the system (~1 ms)


JsonBody = Annotated[Body, Depends(json_body)]
IngestBody = Annotated[Body, Depends(ingest_body)]


async def _principal(state: Any, creds: dict[str, str]) -> Principal:
    """Who the credentials name, or 1014.

    On SQLite the lookup is one index seek in a local file (~30 us), run on the event loop: a hop to a
    worker thread and back costs more (~140 us of CPU on the 2-core test machine), and the endpoint
    makes its own. On PostgreSQL it is a network round trip, so it waits in a worker thread.
    """
    if state.engine.dialect.name == "sqlite":
        return state.authenticate(creds)
    return await run_in_threadpool(state.authenticate, creds)


def caller(permission: str, body: Any = JsonBody) -> Any:
    """The Ctx of an authenticated request holding `permission`: credentials 1000/1014, user's rate 1050, 1015."""

    async def check(request: Request, given: body) -> Ctx:  # type: ignore[valid-type]
        state = request.app.state
        creds = credential_shape(given.data)  # takes them out: they are not parameters
        principal = await _principal(state, creds)
        request.state.user_id = principal.user_id
        await state.limits.check_user(principal.user_id)  # §2: the rate right after the credentials
        if permission not in principal.permissions:
            raise errors.PermissionDenied(f"This endpoint needs the {permission} permission.")
        return state.context(principal, request.state.request_id)

    check.__name__ = f"caller_with_{permission.lower()}"
    return Annotated[Ctx, Depends(check)]


async def _public(request: Request, given: JsonBody) -> Ctx:
    return request.app.state.context(None, request.state.request_id)


ReaderDep = caller("LIST_CALL_LOG")
IngesterDep = caller("INGEST_CALL_LOG", IngestBody)
PublicDep = Annotated[Ctx, Depends(_public)]  # login and logout: no credentials


def _validate(model: type[BaseModel], body: Body, download: bool) -> BaseModel:
    odd = unstorable(body.data) if body.walk else None
    if odd is not None:
        if download:
            raise errors.InvalidParameter() if odd[0].startswith("requestId") else errors.InvalidParameters()
        raise errors.InvalidParameters(f"{odd[0]}: {odd[1]}.")
    try:
        return model.model_validate(body.data)
    except ValidationError as exc:
        if download:  # the reference's two answers: a bad requestId alone, or anything else
            fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            raise (errors.InvalidParameter() if fields == {"requestId"} else errors.InvalidParameters()) from None
        raise errors.InvalidParameters(errors.describe_validation(exc)) from None


def _validator(model: type[BaseModel], download: bool) -> Callable:
    async def validated(request: Request) -> BaseModel:
        body: Body | None = getattr(request.state, "body", None)
        if body is None:  # a route that declares its parameters before its caller: a bug, shown as 1009
            raise RuntimeError("the parameters were checked before the body was read")
        if body.size > INLINE_BYTES:
            return await run_in_threadpool(_validate, model, body, download)
        return _validate(model, body, download)

    validated.__name__ = f"{model.__name__}_checked"
    return validated


class Params:
    """`Params[Model]`: the endpoint's parameters, validated after its caller (1000 naming the field)."""

    download = False

    def __class_getitem__(cls, model: type[BaseModel]) -> Any:
        return Annotated[model, Depends(_validator(model, cls.download))]


class FileParams(Params):
    """`FileParams[Model]`: a download's parameters, refused as the reference does (no detail)."""

    download = True
