"""/docs (Swagger UI) and /redoc from assets shipped in the package: they work with no internet access."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).parent.parent / "static" / "apidocs"
ASSETS_PATH = "/docs/assets"
# Relative URLs: the pages keep working behind a proxy that serves the app under a path prefix.
_REL = ASSETS_PATH.lstrip("/")

SWAGGER_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>callreport API - Swagger UI</title>
<link rel="icon" type="image/png" href="{_REL}/favicon-32x32.png">
<link rel="stylesheet" href="{_REL}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_REL}/swagger-ui-bundle.js"></script>
<script src="{_REL}/swagger-init.js"></script>
</body>
</html>
"""


def add_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (create the app with docs_url=None, redoc_url=None)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="apidocs")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="openapi.json",
            title="callreport API - ReDoc",
            redoc_js_url=f"{_REL}/redoc.standalone.js",
            redoc_favicon_url=f"{_REL}/favicon-32x32.png",
            with_google_fonts=False,
        )
