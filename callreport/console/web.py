"""The console's HTTP side: templates, the session cookie, the same-origin check and security headers."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callreport.console import forms, service
from callreport.db import is_db_unavailable

log = logging.getLogger("callreport.console")
HERE = Path(__file__).parent
COOKIE = "callreport_session"
STATIC = "/console/static"
FORM_LIMIT = 64 * 1024  # the largest console form (a calls query with long lists) is far smaller
# Pages of the console (everything else, /api/ included, keeps its own headers).
PREFIXES = ("/login", "/logout", "/calls", "/summary", "/exports", "/console/")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; media-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # URLs hold filters and callIds; no-referrer would make Origin "null"
    (b"cross-origin-opener-policy", b"same-origin"),
]

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,  # every value from a call is text, never markup
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    thousands=forms.thousands,
    clock=forms.clock,
    wall=forms.wall_time,
    segment=lambda s: quote(str(s), safe=""),
)
templates.globals.update(static=STATIC, query=forms.query)


def is_console(path: str) -> bool:
    """Whether a path is one of the console's (so it gets the console's headers)."""
    return path == "/" or path.startswith(PREFIXES)


class ConsoleHeaders:
    """CSP, no framing, no sniffing, same-origin referrers and Server-Timing on console paths; a route's CSP wins."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope["path"]):
            await self.app(scope, receive, send)
            return
        pages = not scope["path"].startswith(STATIC)
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in names]
                # The server's own time for the page (benchmarks/bench_console.py reads it).
                headers.append((b"server-timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()))
                if pages and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))  # pages hold personal data
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request."""

    principal: service.Principal
    ssid: str
    token: str


class SignIn(Exception):
    """The request has no live session: go to the sign-in page."""


class Refused(Exception):
    """A state change that did not come from this console (another origin, or no token)."""


async def viewer(request: Request) -> Viewer:
    """The signed-in user, checked against the database on every request (revocation is immediate)."""
    ssid = request.cookies.get(COOKIE, "")
    try:
        p = await run_in_threadpool(service.principal, request.app.state, ssid)
    except service.ApiError as exc:
        if exc.code == 1014:
            raise SignIn() from None
        raise
    return Viewer(p, ssid, service.form_token(ssid))


def own_origin(request: Request) -> str:
    """This server's origin as the browser names it (scheme, host and port)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form (all the console posts) as a dict; an oversized body is refused."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise Refused()
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        raise Refused() from None


async def checked_form(request: Request, token: str | None) -> dict[str, str]:
    """The posted form, if it came from this console: same Origin, and the session's token when signed in."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None and origin != own_origin(request):
        raise Refused()  # another site, or this host on another port
    if origin is None and fetch_site not in (None, "same-origin"):
        raise Refused()
    form = await _form_fields(request)
    if token is not None and not hmac.compare_digest(form.get("csrf", "").encode(), token.encode()):
        raise Refused()
    if token is None and origin is None:
        raise Refused()  # signing in needs the Origin, as every browser sends it on a POST
    return form


def render(request: Request, name: str, status: int = 200, headers: dict | None = None, **values: Any) -> Response:
    """A page from its template."""
    html = templates.get_template(name).render(request=request, **values)
    return HTMLResponse(html, status_code=status, headers=headers)


def set_session(response: Response, request: Request, ssid: str, max_age: int) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(
        COOKIE,
        ssid,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response, request: Request) -> None:
    """Drop the session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https")


def to_sign_in(request: Request) -> Response:
    """Back to the sign-in page: a full navigation, also from an htmx poll."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"hx-redirect": "/login"})
    response = RedirectResponse("/login", status_code=303)
    clear_session(response, request)
    return response


def refused(request: Request) -> Response:
    """The answer to a forged state change."""
    return render(request, "refused.html", status=403, viewer=None)


def error_page(request: Request, status: int, heading: str, message: str) -> Response:
    """A plain page for a failure: what happened in words, never a traceback or the API's envelope."""
    return render(request, "error.html", status=status, viewer=None, heading=heading, message=message)


def not_found(request: Request, status: int) -> Response:
    """A console path with no page (404), or a method it does not take (405): an HTML page."""
    if status == 405:
        return error_page(request, 405, "Not allowed", f"{request.method} is not allowed at this address.")
    if status == 404:
        return error_page(request, 404, "Page not found", "There is no console page at this address.")
    return error_page(request, status, "Request not understood", "The page could not read this request.")


def failure_page(request: Request, exc: Exception) -> Response:
    """The page for an exception no route handled: 503 when the database is away, else 500 (logged)."""
    if is_db_unavailable(exc) or (isinstance(exc, service.ApiError) and exc.code == 1010):
        log.warning("console %s: database unavailable: %s", request.url.path, exc.__class__.__name__)
        text = "The call database cannot be reached just now. Try again in a minute."
        return error_page(request, 503, "Database unavailable", text)
    log.error("console %s failed", request.url.path, exc_info=exc)
    text = "The page could not be shown because of an error on the server. It has been logged."
    return error_page(request, 500, "Something went wrong", text)


class ConsoleRoute(APIRoute):
    """A console route: an exception from it (its dependencies included) becomes an HTML page, not the envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[object, object, Response]]:
        """The route's handler, guarded."""
        handle = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handle(request)
            except SignIn:
                return to_sign_in(request)
            except HTTPException as exc:
                return not_found(request, exc.status_code)
            except Exception as exc:  # every failure is a page, never a 500 traceback or JSON
                return failure_page(request, exc)

        return guarded
