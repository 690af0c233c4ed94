"""The web console (§10): server-rendered pages on the API's own app, port and logic."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from callreport.console import exports, pages, web


def mount(app: FastAPI) -> None:
    """Add the console's routes, its static assets and its headers to the app."""
    app.include_router(pages.router)
    app.include_router(exports.router)
    app.mount(web.STATIC, StaticFiles(directory=web.HERE / "static"), name="console-static")
    app.add_middleware(web.ConsoleHeaders)

    @app.exception_handler(web.SignIn)
    async def sign_in(request: Request, exc: web.SignIn) -> Response:
        return web.to_sign_in(request)

    api_handler = app.exception_handlers.get(HTTPException)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        # An unknown console path is a page for a person; the API's paths keep their envelope (§2).
        if web.is_console(request.url.path) or api_handler is None:
            return web.not_found(request, exc.status_code)
        return await api_handler(request, exc)

    app.add_exception_handler(HTTPException, http_error)
