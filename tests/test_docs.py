"""The docs cannot go stale: every endpoint and setting is documented, every relative link resolves
inside the repository, and /docs and /redoc need nothing from another origin."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from callreport.app import create_app
from callreport.settings import Settings
from callreport.supervisor import migrate_once

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
BASE = "http://testserver"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("docs-data"), database_url=None, embedded_worker=False)
    migrate_once(settings)  # as `serve` does: the app itself never migrates
    with TestClient(create_app(settings), base_url=BASE) as c:
        yield c


def docs_text() -> str:
    assert DOCS, "docs/*.md is missing"
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS)


def path_pattern(path: str) -> re.Pattern:
    """A route path as docs write it: `{callId}` may be written `<callId>` or `{callId}`."""
    parts = re.split(r"\{[^}]+\}", path)
    return re.compile(r"(?:<[^>]+>|\{[^}]+\})".join(re.escape(p) for p in parts) + r"(?![\w/{<])", re.IGNORECASE)


def registered_paths(routes: list, prefix: str = "") -> set[str]:
    """Every route path of the app, included routers walked (FastAPI keeps them nested), mounts skipped."""
    paths: set[str] = set()
    for route in routes:
        inner = getattr(route, "original_router", None)  # an included router
        if inner is not None:
            paths |= registered_paths(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute | Route):
            paths.add(prefix + route.path)
        else:
            assert isinstance(route, Mount), route  # static assets
    return paths


def test_every_registered_endpoint_is_documented(client: TestClient) -> None:
    text = docs_text()
    paths = registered_paths(client.app.routes)
    assert {"/api/v2/callreport/list", "/api/v2/auth/login", "/docs"} <= paths
    missing = sorted(p for p in paths if not path_pattern(p).search(text))
    assert not missing, f"endpoints not in docs/*.md: {missing}"


def test_every_setting_is_documented() -> None:
    text = docs_text()
    names = [f"CALLREPORT_{name.upper()}" for name in Settings.model_fields]
    assert "CALLREPORT_DATABASE_URL" in names
    missing = [n for n in names if not re.search(rf"\b{n}\b", text)]
    assert not missing, f"settings not in docs/*.md: {missing}"


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a markdown file (no scheme, not a bare #anchor), code spans excluded."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    out = []
    for target in LINK.findall(text):
        if urlsplit(target).scheme or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


@pytest.mark.parametrize("doc", [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    for target in relative_links(doc):
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


def test_the_link_checker_sees_links_and_skips_urls_and_code(tmp_path: Path) -> None:
    sample = tmp_path / "x.md"
    sample.write_text("[a](docs/api.md#list) [b](https://example.com) [c](#top) `[d](nope.md)`\n[e](../out.md)")
    assert relative_links(sample) == ["docs/api.md", "../out.md"]


class Assets(HTMLParser):
    """Every URL a page makes the browser fetch: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)
        if tag == "redoc":  # Redoc fetches its spec-url itself
            self.urls += [v for n, v in attrs if n == "spec-url" and v]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_everything_from_the_app_itself(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    parser = Assets()
    parser.feed(answer.text)
    assert len(parser.urls) >= 2, answer.text
    for url in parser.urls:
        absolute = urljoin(BASE + page, url)
        assert absolute.startswith(BASE + "/"), f"{page} loads {url} from another origin"
        fetched = client.get(absolute)
        assert fetched.status_code == 200 and fetched.content, url
    if page == "/docs":
        init = client.get(urljoin(BASE + page, parser.urls[-1])).text
        assert "SwaggerUIBundle(" in init and not re.search(r"https?://", init.replace("validatorUrl: null", ""))


def test_the_vendored_assets_ship_with_their_licences() -> None:
    assets = ROOT / "callreport" / "static" / "apidocs"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert (assets / name).stat().st_size > 100_000
    for name in ("swagger-ui-LICENSE.txt", "swagger-ui-NOTICE.txt", "redoc-LICENSE.txt"):
        assert "License" in (assets / name).read_text() or "Copyright" in (assets / name).read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"static/apidocs/*"' in pyproject  # shipped in the wheel, not only in the clone


def code_blocks(path: Path, lang: str, after: str = "", before: str = "\x00") -> list[str]:
    """The fenced code blocks of one language, between two headings when given."""
    text = path.read_text(encoding="utf-8")
    start = text.index(after) if after else 0
    end = text.find(before, start)
    return re.findall(rf"```{lang}\n(.*?)```", text[start : end if end >= 0 else None], flags=re.S)


@pytest.mark.parametrize("doc", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_examples_are_valid_and_work_on_any_day(doc: Path) -> None:
    for block in code_blocks(doc, "python"):
        compile(block, f"{doc.name} example", "exec")  # pasteable: no `...` inside a dict
    for block in code_blocks(doc, "python") + code_blocks(doc, "sh"):
        assert not re.search(r"\b20\d\d-\d\d-\d\d", block), f"{doc.name}: a fixed date in an example:\n{block}"
        for line in block.splitlines():
            if re.search(r'"cursor"|cursor=', line):  # a sealed cursor goes with the filters that made it
                assert re.search(r"FILTERS|\*\*filters|startDate", line), f"{doc.name}: a cursor alone: {line}"


@pytest.mark.slow  # a live server with the demo: ~6 s
def test_the_readme_python_examples_run_against_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from callreport.cli import app as cli_app
    from tests.fixtures.procs import serving
    from tests.fixtures.s3 import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLREPORT_")}
    env["CALLREPORT_DATA_DIR"] = str(tmp_path / "data")
    port = free_port()
    made = CliRunner().invoke(cli_app, ["demo", "--calls", "2000", "--port", str(port), "--json"], env=env)
    demo = json.loads(made.stdout)
    blocks = code_blocks(ROOT / "README.md", "python", "## The API by example", "## Operating")
    assert len(blocks) >= 6
    source = "\n".join(blocks)
    for placeholder, value in (
        ("http://127.0.0.1:8000", f"http://127.0.0.1:{port}"),
        ("USER_ID", demo["userId"]),
        ("TOKEN", demo["token"]),
        ("PASSWORD", demo["password"]),
    ):
        source = source.replace(placeholder, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with serving(port, env, tmp_path / "serve.log"):
        exec(compile(source, "README.md examples", "exec"), namespace)  # noqa: S102
    assert namespace["calls"], "the list example found no call of the last 7 days"
    assert namespace["page"]["status"] == "success" and namespace["page"]["nextCursor"] is None
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
