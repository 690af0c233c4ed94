"""The contract as plain FastAPI (issue 9): routes, dependencies in the contract's order, the document as generated."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

from callreport.app import create_app
from callreport.http import auth, calls, downloads, exports
from callreport.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "api.md"
FAMILIES = (auth, calls, exports, downloads)


def _calls(dependant) -> list[str]:
    """The names of a route's dependencies in the order FastAPI solves them (sub-dependencies first)."""
    names = []
    for sub in dependant.dependencies:
        names += _calls(sub)
        names.append(sub.call.__name__)
    return names


def _routes() -> list[APIRoute]:
    return [r for family in FAMILIES for r in family.router.routes if isinstance(r, APIRoute)]


def test_every_contract_route_checks_in_the_contracts_order() -> None:
    """§2: the address's rate, the body, the caller (shape, credentials, rate, permission), then the parameters."""
    assert len(_routes()) == 20
    for route in _routes():
        order = _calls(route.dependant)
        body = "ingest_body" if route.path.endswith("/ingest") else "json_body"
        caller = next(n for n in order if n.startswith(("caller_with_", "_public")))
        params = next(n for n in order if n.endswith("_checked"))
        assert order.index("metered") < order.index(body) < order.index(caller) < order.index(params), (
            route.path,
            order,
        )
        if route.path.rsplit("/", 1)[-1].startswith("download"):
            assert order[0] == "bare", (route.path, order)  # it sees every error, the address's rate included


def test_permissions_are_declared_per_route() -> None:
    needs = {
        r.path.rsplit("/", 1)[-1]: next(n for n in _calls(r.dependant) if n.startswith("caller_with_"))
        for r in _routes()
        if "/auth/" not in r.path
    }
    assert needs.pop("ingest") == "caller_with_ingest_call_log"
    assert set(needs.values()) == {"caller_with_list_call_log"}


def test_the_document_is_fastapis_own_with_the_contracts_paths() -> None:
    app = create_app(Settings())
    assert "openapi" not in vars(app) and type(app).openapi is FastAPI.openapi  # generated, never patched
    paths = set(app.openapi()["paths"])
    documented = set()
    for heading in re.findall(r"^### `POST (/api/v2/\S+)`(.*)$", DOCS.read_text(encoding="utf-8"), re.M):
        first = heading[0]
        documented.add(first)
        documented |= set(re.findall(r"`POST (/api/v2/\S+)`", heading[1]))  # "... and `POST /api/v2/...`"
        documented |= {first.rsplit("/", 1)[0] + "/" + name for name in re.findall(r"`(\w+)`", heading[1])}
    documented = {p for p in documented if not p.startswith("/api/v2/sources/")}  # FreeSWITCH's, not the API's
    assert documented == paths, sorted(documented ^ paths)  # spelled exactly as docs/api.md spells them
