"""The contract on the wire (§1, §2, §9): headers, paths, envelopes, and bodies read whatever the Content-Type.

Plain functions and one ASGI middleware; the checks that use them, in the contract's order, are
the FastAPI dependencies of http/contract.py.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callreport import errors

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
# Encoded once: the middleware adds them to every response.
_SECURITY = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_CORS = [(k.encode(), v.encode()) for k, v in CORS_HEADERS.items()]
_FORCED = {k for k, _ in _SECURITY}


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


def success(result: dict) -> Response:
    """The success envelope of a handler's answer, built here (response_model documents it, never re-validates)."""
    return json_response({"status": "success", **result})


def error_response(exc: errors.ApiError) -> Response:
    """The envelope of an API error (with Retry-After on 1050)."""
    response = json_response(exc.body(), exc.http_status)
    if isinstance(exc, errors.TooManyRequests):
        response.headers["retry-after"] = str(exc.retry_after)
    return response


class ContractMiddleware:
    """Normalises paths (any case, one trailing slash), answers preflights and adds CORS under /api/; HSTS.

    `paths` are the API's route paths: a path under /api/ in any case is served by the route spelled
    as the contract spells it (/api/v2/callreport/reportCount).
    """

    def __init__(self, app: ASGIApp, paths: Iterable[str]):
        self.app = app
        self._canonical = {p.lower(): p for p in paths if p.lower().startswith("/api/")}

    def canonical(self, path: str) -> str:
        """The route's own spelling of an /api/ path given in any case, with one trailing slash or none."""
        if path.endswith("/") and not path.endswith("//"):
            path = path[:-1]
        return self._canonical.get(path.lower(), path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        # A path with "//" (or two trailing slashes) keeps them: no route matches it, so it is 404,
        # never a redirect (which would follow the client's Host header, §1).
        api = path.lower().startswith("/api/")
        if api:
            path = self.canonical(path)
            scope = {**scope, "path": path, "raw_path": path.encode()}
        origin = None
        for key, value in scope.get("headers", []):
            if key == b"origin":
                origin = value.decode("latin-1")
        always = _SECURITY
        if api:  # §10: CORS only under /api/; the console's pages are for its own origin alone
            always = [*_SECURITY, *_CORS, (b"access-control-allow-origin", (origin or "*").encode("latin-1"))]
            always.append((b"vary", b"Origin"))
        if api and scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": always})
            await send({"type": "http.response.body", "body": b""})
            return

        held: list[Message] = []

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The security headers win over a handler's own (a FileResponse's, say); the rest fill in.
                own = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _FORCED]
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
