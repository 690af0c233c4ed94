"""HTTP plumbing: body parsing whatever the Content-Type, the contract's headers, paths, envelopes.

Each endpoint is declared with `Api.endpoint(...)`: its name, its parameter model and the
permission it needs. The wrapper runs the contract's checks in order (the client address's rate
1050 before the body is read, body 1047, credential shape 1000, credentials 1014, the user's rate
1050, permission 1015, parameters 1000), then the handler in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callreport import errors, metrics
from callreport.db import is_db_unavailable
from callreport.memory import give_back

log = logging.getLogger("callreport.http")
access_log = logging.getLogger("callreport.access")

CORS_HEADERS = {
    "access-control-allow-methods": "GET, PUT, POST, DELETE, OPTIONS",
    "access-control-allow-headers": (
        "session-token, Authorization, Origin, Accept, Content-Type, DNT, Keep-Alive, User-Agent, "
        "X-Requested-With, If-Modified-Since, Cache-Control, Content-Range, Range"
    ),
    "access-control-allow-credentials": "true",
    "access-control-max-age": "1728000",
}
# §1: on every response; answers hold personal data, so no cache keeps them and no browser sniffs them.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "strict-transport-security": "max-age=15724800; includeSubDomains",
}
CREDENTIAL_FIELDS = ("ssid", "userId", "token")


def weak_etag(body: bytes) -> str:
    """A weak validator of a JSON body: length and SHA-1, as the reference's server sends."""
    digest = base64.b64encode(hashlib.sha1(body).digest()).decode()[:27]
    return f'W/"{len(body):x}-{digest}"'


def json_response(payload: dict, status_code: int = 200) -> Response:
    """An orjson-encoded response with its weak ETag."""
    body = orjson.dumps(payload)
    return Response(
        body,
        status_code=status_code,
        media_type="application/json; charset=utf-8",
        headers={"etag": weak_etag(body)},
    )


def error_response(exc: errors.ApiError) -> Response:
    """The envelope of an API error (with Retry-After on 1050)."""
    response = json_response(exc.body(), exc.http_status)
    if isinstance(exc, errors.TooManyRequests):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


class ContractMiddleware:
    """Normalises paths (any case, one trailing slash), answers preflights and adds CORS under /api/; HSTS."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        # A path with "//" (or two trailing slashes) keeps them: no route matches it, so it is 404,
        # never a redirect (which would follow the client's Host header, §1).
        api = path.lower().startswith("/api/")
        if api:
            path = path.lower()
            if path.endswith("/") and not path.endswith("//"):
                path = path[:-1]
            scope = {**scope, "path": path, "raw_path": path.encode()}
        origin = None
        for key, value in scope.get("headers", []):
            if key == b"origin":
                origin = value.decode("latin-1")
        always = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
        if api:  # §10: CORS only under /api/; the console's pages are for its own origin alone
            always += [(k.encode(), v.encode()) for k, v in CORS_HEADERS.items()]
            always += [(b"access-control-allow-origin", (origin or "*").encode("latin-1")), (b"vary", b"Origin")]
        if api and scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": always})
            await send({"type": "http.response.body", "body": b""})
            return

        held: list[Message] = []
        forced = {k.encode() for k in SECURITY_HEADERS}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The security headers win over a handler's own (a FileResponse's, say); the rest fill in.
                own = [(k, v) for k, v in message.get("headers", []) if k.lower() not in forced]
                names = {k.lower() for k, _ in own}
                extra = [(k, v) for k, v in always if k not in names]
                message = {**message, "headers": own + extra}
                if b"etag" not in names and message["status"] != 204:
                    held.append(message)  # §9: an ETag on every body; wait to see the body
                    return
            elif message["type"] == "http.response.body" and held:
                start = held.pop()
                body = message.get("body", b"")
                # Only a body sent in one piece (docs, OpenAPI) gets one: a stream is never buffered.
                if body and not message.get("more_body", False):
                    start = {**start, "headers": start["headers"] + [(b"etag", weak_etag(body).encode())]}
                await send(start)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def read_body(request: Request, limit: int) -> bytearray:
    """The raw body, refusing (1047) one over the limit without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.InvalidRequestData(f"The request body is larger than the limit of {limit} bytes.")
    # One growing buffer, not a list of chunks joined: the join held the body twice (64 MiB at 32 MiB).
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise errors.InvalidRequestData(f"The request body is larger than the limit of {limit} bytes.")
        body += chunk
    return body


def _depth(value: Any, limit: int) -> bool:
    """Whether value nests no deeper than limit (iterative: no recursion on hostile input)."""
    # One iterator per open level, not one entry per container: a 32 MiB body holds up to 11M
    # containers, and a stack entry for each cost ~600 MB.
    stack = [iter(value.values() if type(value) is dict else value)]
    while stack:
        for child in stack[-1]:
            if type(child) is dict or type(child) is list:
                if len(stack) >= limit:
                    return False
                stack.append(iter(child.values() if type(child) is dict else child))
                break
        else:
            stack.pop()
    return True


def parse_body(raw: bytes | bytearray, max_depth: int) -> dict:
    """One JSON object, whatever the Content-Type said, or 1047."""
    if not raw or raw.isspace():  # not raw.strip(): that copied the whole body
        raise errors.InvalidRequestData("The request body is empty; send one JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.InvalidRequestData(f"The request body is not valid JSON ({exc.msg}).") from None
    if not isinstance(body, dict):
        raise errors.InvalidRequestData("The request body must be a JSON object.")
    if not _depth(body, max_depth):
        raise errors.InvalidRequestData(f"The request body nests deeper than {max_depth} levels.")
    return body


def credential_shape(body: dict) -> dict[str, str]:
    """The credentials of a body, checked for shape only (1000)."""
    given = {k: body.pop(k) for k in CREDENTIAL_FIELDS if k in body}
    for key, value in given.items():
        if not isinstance(value, str) or not value or len(value) > 200:
            raise errors.InvalidParameters(f"{key} must be a non-empty string.")
    if "ssid" in given and ("userId" in given or "token" in given):
        raise errors.InvalidParameters("Send either ssid, or userId and token, not both.")
    if "ssid" not in given and not ("userId" in given and "token" in given):
        if given:
            raise errors.InvalidParameters("userId and token must be sent together.")
        raise errors.InvalidParameters("No credentials: send ssid, or userId and token.")
    return given


def describe_validation(exc: ValidationError) -> str:
    """One sentence naming the first parameter at fault."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{loc} is not a known parameter."
    if kind == "missing":
        return f"{loc} is required."
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg[0].lower() + msg[1:]}." if loc else f"{msg}."


@dataclass
class Endpoint:
    """One contract endpoint: where it lives and what it needs."""

    path: str
    params: type[BaseModel] | None
    handler: Callable[..., Any]
    permission: str | None
    authenticated: bool
    body_limit: int
    download: bool
    summary: str
    download_type: str = "application/octet-stream"
    response: type[BaseModel] | None = None  # the success body, for the OpenAPI document only
    name: str = ""


class Api:
    """Registers endpoints on a router and runs the contract's checks around them."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.router = APIRouter()
        self.endpoints: list[Endpoint] = []

    def endpoint(
        self,
        name: str,
        params: type[BaseModel] | None,
        *,
        permission: str | None = "LIST_CALL_LOG",
        authenticated: bool = True,
        ingest: bool = False,
        download: bool = False,
        media_type: str = "application/octet-stream",
        tags: list[str] | None = None,
        response: type[BaseModel] | None = None,
    ) -> Callable:
        """Decorator: handler(ctx, params) -> dict | Response, run in a worker thread."""

        def register(handler: Callable) -> Callable:
            ep = Endpoint(
                f"{self.prefix}/{name.lower()}",
                params,
                handler,
                permission,
                authenticated,
                -1 if ingest else 0,
                download,
                (handler.__doc__ or name).strip().splitlines()[0],
                media_type,
                response,
                name,
            )
            self.endpoints.append(ep)

            async def route(request: Request) -> Response:
                return await dispatch(request, ep)

            self.router.add_api_route(
                ep.path,
                route,
                methods=["POST"],
                summary=ep.summary,
                name=name,
                tags=tags,
                openapi_extra={"x-callreport-endpoint": name},
            )
            return handler

        return register


@dataclass
class Seen:
    """What a request turned out to be, filled in by the worker thread."""

    user_id: str | None = None


async def dispatch(request: Request, ep: Endpoint) -> Response:
    """Run one endpoint with the contract's checks; count its rate; every failure becomes the envelope."""
    limits = request.app.state.limits
    address = request.client.host if request.client else "-"
    seen = Seen()
    response = await _answer(request, ep, address, seen)
    # Only requests that did not authenticate count against their address (§9 Rates); a refusal
    # for the rate itself is not counted again.
    if seen.user_id is None and response.status_code != 429:
        await limits.count_address(address)
    return response


async def _answer(request: Request, ep: Endpoint, address: str, seen: Seen) -> Response:
    state = request.app.state
    settings = state.settings
    request_id = uuid.uuid4().hex[:16]
    started = time.perf_counter()
    try:
        await state.limits.check_address(address)  # before the body is read: a refusal costs nothing
        if ep.body_limit >= 0:
            raw = await read_body(request, settings.body_limit_bytes)
            # One hop to a worker thread for all the rest: each hop costs ~0.1 ms of a 2 ms request.
            result = await run_in_threadpool(_run, state, ep, raw, request_id, seen)
        elif _declared(request) <= settings.body_limit_bytes:  # a small ingest: no need to queue
            raw = await read_body(request, settings.body_limit_bytes)
            result = await run_in_threadpool(_run, state, ep, raw, request_id, seen)
        else:
            async with state.ingest_gate:  # before the body is read: one large body at a time
                raw = await read_body(request, settings.ingest_body_limit_bytes)
                result = await run_in_threadpool(_run, state, ep, raw, request_id, seen)
                del raw
    except errors.ApiError as exc:
        _forget(exc)  # its frames hold the raw body; nothing below needs them
        if ep.download:
            exc.detail = None  # download errors are exactly the reference's bodies
        _access(request_id, ep, exc.code, started)
        return error_response(exc)
    except Exception as exc:  # every other failure becomes 1010 or 1009, logged, never shown
        if is_db_unavailable(exc):
            _forget(exc)
            log.warning("request %s %s: database unavailable: %s", request_id, ep.path, exc.__class__.__name__)
            _access(request_id, ep, 1010, started)
            return error_response(errors.DatabaseUnavailable())
        log.exception("request %s %s failed", request_id, ep.path)
        _forget(exc)
        _access(request_id, ep, 1009, started)
        return error_response(errors.SomethingWentWrong())
    _access(request_id, ep, "success", started)
    if isinstance(result, Response):
        return result
    return json_response({"status": "success", **result})


def _declared(request: Request) -> int:
    """The declared Content-Length, or a huge number when there is none (chunked)."""
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else 1 << 62


def _forget(exc: BaseException) -> None:
    """Drop an exception's frames and its chain: their locals hold the parsed body (§9 Memory)."""
    exc.__traceback__ = None
    exc.__context__ = None
    exc.__cause__ = None


def _run(state: Any, ep: Endpoint, raw: bytes | bytearray, request_id: str, seen: Seen) -> Any:
    """Parse, check credentials and permission, validate, then run the handler (in a worker thread)."""
    try:
        return _checked(state, ep, raw, request_id, seen)
    except errors.ApiError as exc:
        # A refusal's traceback would keep the parsed body (~5x the raw bytes) alive for as long as
        # anything holds the exception; the envelope needs none of it.
        _forget(exc)
        raise exc from None
    finally:
        if len(raw) > state.settings.body_limit_bytes:
            give_back()  # a large body's heap goes back to the system after it (~1 ms)


def _checked(state: Any, ep: Endpoint, raw: bytes | bytearray, request_id: str, seen: Seen) -> Any:
    body = parse_body(raw, state.settings.max_json_depth)
    principal = None
    if ep.authenticated:
        principal = state.authenticate(credential_shape(body))
        seen.user_id = principal.user_id
        state.limits.check_user(principal.user_id)  # §2: the rate right after the credentials
        if ep.permission and ep.permission not in principal.permissions:
            raise errors.PermissionDenied(f"This endpoint needs the {ep.permission} permission.")
    params = _validate(ep, body, raw)
    return ep.handler(state.context(principal, request_id), params)


def _access(request_id: str, ep: Endpoint, outcome: object, started: float) -> None:
    """One line per request: id, endpoint, outcome and time; never a body (it holds secrets). Counted too."""
    seconds = time.perf_counter() - started
    metrics.observe_request(ep.path, outcome, seconds)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("%s %s %s %.1fms", request_id, ep.path, outcome, seconds * 1000)


INT64 = (-(2**63), 2**63 - 1)


def unstorable(body: dict) -> tuple[str, str] | None:
    """(path, reason) of the first NUL character or integer beyond 64 bits: no database stores them."""
    stack: list[tuple[Any, str]] = [(v, str(k)) for k, v in body.items()]
    while stack:
        item, path = stack.pop()
        if "\x00" in path:
            return path.replace("\x00", "\\u0000"), "must not contain the NUL character"
        if isinstance(item, str) and "\x00" in item:
            return path, "must not contain the NUL character"
        if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            return path, "must be a number within 64-bit integers"
        if isinstance(item, dict):
            stack.extend((v, f"{path}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
    return None


def _validate(ep: Endpoint, body: dict, raw: bytes | bytearray) -> BaseModel | None:
    # A NUL reaches a body only as the escape \u0000; ingest's fields bound their integers. So an
    # ingest body (up to 10,000 records, where the walk costs ~200 ms) is walked only when it has one.
    odd = unstorable(body) if ep.body_limit >= 0 or b"\\u0000" in raw else None
    if odd is not None:
        if ep.download:
            raise errors.InvalidParameter() if odd[0].startswith("requestId") else errors.InvalidParameters()
        raise errors.InvalidParameters(f"{odd[0]}: {odd[1]}.")
    if ep.params is None:
        if body:
            raise errors.InvalidParameters(f"{next(iter(body))} is not a known parameter.")
        return None
    try:
        return ep.params.model_validate(body)
    except ValidationError as exc:
        if ep.download:
            fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if fields == {"requestId"}:
                raise errors.InvalidParameter() from None
            raise errors.InvalidParameters() from None
        raise errors.InvalidParameters(describe_validation(exc)) from None
