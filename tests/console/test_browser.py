"""The console in a real browser (Debian's Chromium through Playwright) against a real `callreport serve`."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from callreport import auth, db
from tests.console.helpers import XSS, agents_of, demo_calls
from tests.factories import Tenant, make_tenant, project_root
from tests.fixtures.procs import callreport_command, serving, worker_env
from tests.fixtures.s3 import free_port

pytestmark = pytest.mark.slow  # a real browser: 2 to 7 s a test

HINDI = "अर्जुन मेहता"

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("CALLREPORT_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
SHOTS = project_root() / "docs" if os.environ.get("CALLREPORT_UPDATE_SCREENSHOTS") == "1" else None
API = "/api/v2/callreport"

if not Path(CHROMIUM).exists():  # .ci/run installs it and requires it; elsewhere the module skips, saying why
    why = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CALLREPORT_REQUIRE_BROWSER") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)


@dataclass
class Site:
    """A running server with its users and data."""

    base: str
    env: dict[str, str]
    admin: Tenant
    masked: Tenant
    limited: Tenant
    records: list[dict]
    agents: list[str]

    def api(self, who: Tenant, name: str, body: dict | None = None) -> httpx.Response:
        """POST an API endpoint as who."""
        return httpx.post(f"{self.base}{API}/{name}", json={**who.creds, **(body or {})}, timeout=30)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`callreport serve` on SQLite with 150 demo calls, the XSS probe and three kinds of user."""
    data = tmp_path_factory.mktemp("console-site")
    engine = db.make_engine(f"sqlite:///{data / 'callreport.db'}")
    db.migrate(engine)
    admin = make_tenant(engine)
    records = demo_calls(150, "B")
    agents = sorted(agents_of(records) - {"AG-XSS"})[:2]
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=admin.account_id)
    limited = make_tenant(engine, permissions=auth.PERMISSIONS, agents=agents, account_id=admin.account_id)
    engine.dispose()
    port = free_port()
    env = worker_env({"CALLREPORT_DATA_DIR": str(data), "CALLREPORT_WORKER_POLL_SECONDS": "0.2"})
    with serving(port, env, data / "serve.log"):
        s = Site(f"http://127.0.0.1:{port}", env, admin, masked, limited, records, agents)
        assert s.api(admin, "ingest", {"calls": records}).json()["status"] == "success"
        yield s


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One headless Chromium for the module."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser context (no cookies) at 1280 px."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context.new_page()
    context.close()


def sign_in(page, site: Site, who: Tenant) -> None:
    """Through the sign-in form, by the fields' accessible names."""
    page.goto(site.base + "/")
    page.get_by_label("Username").fill(who.username)
    page.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/calls$"))


def count_text(page) -> int:
    """The N of the page's `N calls`."""
    status = page.get_by_role("status")
    playwright_api.expect(status).to_have_text(re.compile(r"^[\d,]+ calls$"))  # it comes after the page
    text = status.inner_text()
    return int(text.split()[0].replace(",", ""))


def row_ids(page) -> list[str]:
    """The callIds the table's rows link to."""
    return [h.split("/calls/")[1] for h in page.locator("table.calls tbody a").evaluate_all("a => a.map(x => x.href)")]


def test_sign_in_filter_count_and_walk_pages(page, site):
    sign_in(page, site, site.admin)
    for name in ["Calls", "Summary", "Exports"]:
        assert page.get_by_role("link", name=name, exact=True).is_visible()
    assert page.get_by_role("heading", name="Calls").is_visible()
    page.get_by_label("Statuses").select_option(["answered", "missed"])
    page.get_by_label("Directions").select_option("inbound")
    page.get_by_label("From", exact=True).fill("2025-03-02")
    page.get_by_label("To", exact=True).fill("2025-03-08T18:00")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"statuses=answered&statuses=missed"))
    body = {"statuses": ["answered", "missed"], "directions": ["inbound"]}
    body.update(startDate="2025-03-02", endDate="2025-03-08T18:00")
    assert count_text(page) == site.api(site.admin, "reportCount", body).json()["count"]
    first = row_ids(page)
    assert len(first) == 50
    for header in ["Start", "Agent", "Customer", "Direction", "Status", "Duration"]:
        assert page.get_by_role("columnheader", name=header, exact=True).count() == 1
    page.get_by_role("link", name="Next").click()
    second = row_ids(page)
    assert second and not set(first) & set(second)
    page.get_by_role("link", name="Previous").click()
    assert row_ids(page) == first
    page.go_back()
    assert row_ids(page) == second  # Back works: the page is its URL


def test_sort_by_a_header_and_open_a_call(page, site):
    sign_in(page, site, site.admin)
    page.get_by_role("columnheader", name="Duration").get_by_role("link").click()
    expected = site.api(site.admin, "list", {"sortBy": "duration", "limit": 50}).json()["data"]
    assert row_ids(page) == [c["callId"] for c in expected]
    page.locator("table.calls tbody a").first.click()
    call = expected[0]
    assert page.get_by_role("heading", name=f"Call {call['callId']}").is_visible()
    assert page.get_by_role("heading", name="Events").is_visible()
    assert page.locator("ol.timeline li").count() == len(call_detail(site, call["callId"])["events"])
    for key in call["callAnalysis"]:
        assert page.locator("dl.analysis dt", has_text=key).count() == 1


def call_detail(site: Site, call_id: str) -> dict:
    """The API's detail of a call, as the admin."""
    return site.api(site.admin, "detail", {"callId": call_id}).json()["data"]


def test_export_csv_downloads_the_same_bytes_as_the_api(page, site):
    sign_in(page, site, site.admin)
    page.goto(site.base + "/calls?statuses=answered")
    page.get_by_label("Export title (optional)").fill("Answered calls")
    page.get_by_role("button", name="Export CSV").click()
    page.wait_for_url(re.compile(r"/exports$"))
    link = page.get_by_role("link", name="Download").first
    link.wait_for(timeout=30_000)  # appears through htmx polling, without a reload
    request_id = link.get_attribute("href").split("/")[2]
    with page.expect_download() as download:
        link.click()
    got = Path(download.value.path()).read_bytes()
    api = site.api(site.admin, "downloadCsv", {"requestId": request_id})
    assert api.headers["content-type"].startswith("text/csv") and got == api.content
    assert download.value.suggested_filename == "Answered calls.csv"
    assert got.count(b"\n") == 1 + site.api(site.admin, "reportCount", {"statuses": ["answered"]}).json()["count"]


def test_masked_user_sees_masked_numbers_on_every_page(page, site):
    sign_in(page, site, site.masked)
    company = {r["didNumber"] for r in site.records}
    full = {r[k] for r in site.records for k in ("customerNumber", "callerNumber") if r[k]} - company
    first = site.api(site.masked, "list", {"limit": 1}).json()["data"][0]
    texts = []
    for path in ["/calls", f"/calls/{first['callId']}", "/summary?groupBy=agent", "/exports"]:
        page.goto(site.base + path)
        texts.append(page.content())
    for text in texts:
        assert not [n for n in full if n in text]
    assert first["customerNumber"] in texts[0] and "XX" in first["customerNumber"]


def test_agent_limited_user_sees_only_their_agents(page, site):
    sign_in(page, site, site.limited)
    options = page.get_by_label("Agents").locator("option").evaluate_all("o => o.map(x => x.value)")
    assert sorted(options) == site.agents
    page.goto(site.base + "/calls?limit=500")
    names = {r["agentName"] for r in site.records if r["agentId"] in site.agents}
    shown = set(page.locator("table.calls tbody td:nth-child(2)").all_inner_texts())
    assert shown == names
    assert count_text(page) == sum(r["agentId"] in site.agents for r in site.records)


def test_xss_probe_shows_the_characters_and_runs_nothing(chromium, site):
    # CSP off for this context: escaping alone must keep the probe inert.
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, site, site.admin)
    probe = site.records[-1]["callId"]
    for path in ["/calls?agentIds=AG-XSS", f"/calls/{probe}", "/summary?groupBy=agent"]:
        page.goto(site.base + path)
        page.wait_for_load_state("networkidle")
        assert XSS in page.inner_text("main"), path
        assert page.locator("img[src='x']").count() == 0
    assert page.get_by_label("Agents").locator("option", has_text=XSS).count() == 1
    assert dialogs == []
    context.close()


def test_cross_site_form_post_is_refused(page, site, tmp_path):
    sign_in(page, site, site.admin)
    before = len(site.api(site.admin, "exportList").json()["data"])
    (tmp_path / "index.html").write_text(
        f'<!doctype html><form method="post" action="{site.base}/exports">'
        '<input name="format" value="csv"><input name="query" value="">'
        '<button type="submit">Go</button></form>'
    )
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **kw)  # noqa: E731
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/index.html")  # same host, another port
        with page.expect_response(f"{site.base}/exports") as answer:
            page.get_by_role("button", name="Go").click()
        assert answer.value.status == 403
        assert page.get_by_role("heading", name="Request refused").is_visible()
    finally:
        evil.shutdown()
        evil.server_close()
    assert len(site.api(site.admin, "exportList").json()["data"]) == before


def test_sign_out_and_session_revoke_end_the_browser_session(page, site):
    sign_in(page, site, site.admin)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login$"))
    page.goto(site.base + "/calls")
    assert page.url.endswith("/login")
    sign_in(page, site, site.admin)
    subprocess.run(
        [*callreport_command(), "session", "revoke", "--user", site.admin.user_id, "--json"],
        env=site.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    page.goto(site.base + "/summary")
    assert page.url.endswith("/login")


def test_keyboard_alone_filters_the_calls(page, site):
    sign_in(page, site, site.admin)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.get_by_label("Min duration").focus()
    page.keyboard.type("120")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"minDuration=120"))
    assert count_text(page) == site.api(site.admin, "reportCount", {"minDuration": 120}).json()["count"]


def test_the_count_arrives_in_place_and_devanagari_gets_its_face(page, site):
    fonts: list[str] = []
    page.on("request", lambda r: fonts.append(r.url.rsplit("/", 1)[1]) if r.resource_type == "font" else None)
    page.goto(site.base + "/login")
    page.wait_for_load_state("networkidle")
    assert fonts == []  # no Devanagari on the page: the face is not fetched
    sign_in(page, site, site.admin)
    status = page.get_by_role("status")
    assert status.get_attribute("aria-live") == "polite"
    assert count_text(page) == len(site.records)
    assert page.get_by_role("status").count() == 1
    assert HINDI in {r["agentName"] for r in site.records}
    assert page.get_by_label("Agents").locator("option", has_text=HINDI).count() == 1
    faces = page.evaluate(
        """() => document.fonts.ready.then(() => [...document.fonts]
            .filter(f => f.family.includes('Devanagari')).map(f => f.status))"""
    )
    assert faces == ["loaded"] and "NotoSansDevanagari-subset.woff2" in fonts
    assert set(fonts) <= {"NotoSansDevanagari-subset.woff2", "NotoSansArabic-subset.woff2"}
    assert page.evaluate(f"document.fonts.check('15px \"Noto Sans Devanagari\"', '{HINDI}')")


def test_without_javascript_the_count_is_a_link_to_its_page(chromium, site):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, site, site.admin)
    assert not page.get_by_text("Counting…").is_visible()
    page.get_by_role("link", name="Count the calls").click()
    assert count_text(page) == len(site.records)
    page.get_by_role("link", name="Back to the calls").click()
    page.wait_for_url(re.compile(r"/calls\?$|/calls$"))
    context.close()


def pages_of(site: Site) -> dict[str, str]:
    """Each console page by its screenshot name."""
    probe = site.records[3]["callId"]
    return {
        "calls": "/calls",
        "call": f"/calls/{probe}",
        "summary": "/summary?groupBy=status",
        "exports": "/exports",
    }


def test_axe_finds_nothing_serious_and_pages_fit_a_phone(page, site, tmp_path):
    axe = AXE.read_text()
    page.goto(site.base + "/login")
    checks = {"login": serious_violations(page, axe)}
    shoot(page, "login", tmp_path)
    sign_in(page, site, site.admin)
    site.api(site.admin, "exportCsv", {"title": "March, all calls"})
    for name, path in pages_of(site).items():
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(site.base + path)
        page.wait_for_load_state("networkidle")
        checks[name] = serious_violations(page, axe)
        shoot(page, name, tmp_path)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(200)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    assert checks == {name: [] for name in checks}
    assert page.get_by_label("Group by").count() == 0  # (exports page) and on the summary:
    page.goto(site.base + "/summary")
    assert page.get_by_label("Group by").is_visible()
    assert page.get_by_role("img", name="Calls per day").locator("canvas").count() >= 1


def serious_violations(page, axe: str) -> list[str]:
    """axe-core's serious and critical violations on the page (injected by the test, not served)."""
    page.evaluate(axe)
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))"""
    )


def shoot(page, name: str, tmp_path: Path) -> None:
    """A 1280 px screenshot of the page's first screen (into docs/ when asked to update them)."""
    folder = SHOTS or tmp_path
    path = folder / f"console-{name}.png"
    page.evaluate("document.fonts.ready.then(() => document.fonts.size)")  # the faces fetched by unicode-range
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 1000
