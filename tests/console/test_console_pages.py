"""The console's count fragment, its pick-lists, its fonts and its error pages (in-process, both databases)."""

from __future__ import annotations

import io
import re
import secrets

from fastapi.testclient import TestClient
from fontTools.ttLib import TTFont
from sqlalchemy import event

from callreport import db
from callreport.app import create_app
from callreport.console import service
from callreport.repo import browse
from tests.console.helpers import demo_calls, signed_in
from tests.factories import call, make_tenant
from tests.fixtures.outages import database_away

HINDI, ARABIC = "अर्जुन मेहता", "فاطمة الزهراء"


def ingest(client, who, records: list[dict]) -> None:
    """Store calls for who's account."""
    assert call(client, "ingest", {**who.creds, "calls": records})["status"] == "success"


def test_the_page_comes_first_and_the_count_after_it(client, engine):
    who = make_tenant(engine)
    ingest(client, who, demo_calls(30, f"N{secrets.token_hex(3)}"))
    b = signed_in(client, who)
    html = b.get("/calls?statuses=answered").text
    count = re.search(r'<p class="count"[^>]*>.*?</p>', html, re.S).group(0)
    assert 'role="status"' in count and 'aria-live="polite"' in count and 'hx-trigger="load"' in count
    assert "Counting…" in count and not re.search(r">[\d,]+ calls<", html)  # the page itself never counts
    assert 'src="/console/static/vendor/htmx-2.0.11.min.js"' in html
    expected = call(client, "reportCount", {**who.creds, "statuses": ["answered"]})["count"]
    fragment = b.get("/calls-count?statuses=answered", headers={"HX-Request": "true"})
    assert fragment.text.strip() == f"{expected:,} calls" and "<" not in fragment.text
    # Without JavaScript the count is a link (nojs.css, in <noscript>, shows it) to a page of its own.
    assert '<noscript><link rel="stylesheet" href="/console/static/nojs.css"></noscript>' in html
    assert '<a class="nojs" href="/calls-count?statuses=answered">Count the calls</a>' in count
    page = b.get("/calls-count?statuses=answered")
    assert f'<p class="count" role="status">{expected:,} calls</p>' in page.text
    assert 'href="/calls?statuses=answered">Back to the calls' in page.text and "Sign out" in page.text
    assert ".count .counting { display: none; }" in b.get("/console/static/nojs.css").text


def test_count_fragment_needs_a_session(client):
    b = TestClient(client.app, follow_redirects=False)
    assert b.get("/calls-count", headers={"HX-Request": "true"}).headers["hx-redirect"] == "/login"


def test_pick_lists_are_the_enumerations_and_the_newest_names_and_types(client, engine, monkeypatch):
    who = make_tenant(engine)
    base = demo_calls(4, f"P{secrets.token_hex(3)}")[:4]
    days = ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]
    for rec, day, name, kind in zip(
        base, days, ["Old Name", "New Name", "Other", "Other"], ["rare", "a", "b", "b"], strict=True
    ):
        rec.update(startTime=f"{day}T10:00:00+00:00", endTime=f"{day}T10:05:00+00:00", status="answered")
        rec.update(agentId="AG-2" if name == "Other" else "AG-1", agentName=name, callType=kind)
    ingest(client, who, base)
    monkeypatch.setattr(browse, "RECENT_CALLS", 3)  # call types come from the newest calls only
    b = signed_in(client, who)
    html = b.get("/calls").text
    assert options(html, "statuses") == list(service.STATUSES)  # all six, though only `answered` was stored
    assert options(html, "directions") == ["inbound", "outbound"]
    assert options(html, "hangupBy") == ["customer", "agent", "system"]
    assert options(html, "agentIds") == ["AG-1", "AG-2"]
    assert ">New Name (AG-1)</option>" in html  # the name of the agent's newest call
    assert options(html, "callTypes") == ["a", "b"]
    chosen = b.get("/calls?callTypes=rare").text  # a bookmarked type keeps its option, selected
    assert options(chosen, "callTypes") == ["a", "b", "rare"] and '<option value="rare" selected>' in chosen


def options(html: str, name: str) -> list[str]:
    """The option values of the select named name."""
    select = html.split(f'name="{name}"')[1].split("</select>")[0]
    return re.findall(r'<option value="([^"]*)"', select)


def test_agent_pick_list_reads_by_index_seeks_not_a_scan(client, engine):
    who = make_tenant(engine)
    records = demo_calls(40, f"S{secrets.token_hex(3)}")
    ingest(client, who, records)
    agents = sorted({r["agentId"] for r in records if r["agentId"]})
    statements: list[str] = []
    with engine.connect() as conn:
        principal = service.Principal(who.account_id, "a", "UTC", who.user_id, frozenset(), None)
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2].lower()))
        assert [a for a, _ in browse.agents(conn, principal)] == agents
    reads = [s for s in statements if s.startswith("select")]
    # One seek for each next id (and one finding none), one for each name: never a DISTINCT over the calls.
    assert len(reads) == 2 * len(agents) + 1 and not [s for s in reads if "distinct" in s or "group by" in s]
    assert all("min(calls.agent_id)" in s or "limit" in s for s in reads)


def test_devanagari_and_arabic_faces_are_served_for_their_characters_only(client, engine):
    b = signed_in(client, make_tenant(engine))
    css = b.get("/console/static/console.css").text
    faces = re.findall(r"@font-face \{(.*?)\}", css, re.S)
    for script, text in [("Devanagari", HINDI), ("Arabic", ARABIC)]:
        face = next(f for f in faces if f'"Noto Sans {script}"' in f)
        url = re.search(r'url\("([^"]+)"\) format\("woff2"\)', face).group(1)
        font = b.get("/console/static/" + url)
        assert font.status_code == 200 and font.headers["content-type"] == "font/woff2"
        assert font.content[:4] == b"wOF2" and len(font.content) < 60_000
        cmap = TTFont(io.BytesIO(font.content)).getBestCmap()
        assert [c for c in text if c != " " and ord(c) not in cmap] == []
        ranges = re.search(r"unicode-range: ([^;]+);", face).group(1)
        assert all(in_ranges(ord(c), ranges) for c in text if c != " ") and not in_ranges(ord("A"), ranges)
        assert f'"Noto Sans {script}"' in css.split("body {")[1].split("}")[0]  # in the page's font stack
    licence = b.get("/console/static/fonts/Noto-LICENSE.txt").text
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence


def in_ranges(code: int, ranges: str) -> bool:
    """Whether a code point is in a CSS unicode-range list."""
    for part in ranges.split(","):
        lo, _, hi = part.strip()[2:].partition("-")
        if int(lo, 16) <= code <= int(hi or lo, 16):
            return True
    return False


def test_unexpected_errors_are_an_html_page(client, engine, monkeypatch):
    b = signed_in(client, make_tenant(engine))

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_page", broken)
    monkeypatch.setattr(service, "summary", broken)
    for path in ["/calls", "/summary"]:
        resp = b.get(path)
        assert resp.status_code == 500 and resp.headers["content-type"].startswith("text/html"), path
        assert "<h1>Something went wrong</h1>" in resp.text and "Sign out" not in resp.text
        assert "secret internals" not in resp.text and "Traceback" not in resp.text and '"status"' not in resp.text
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    monkeypatch.setattr(service, "count", broken)
    fragment = b.get("/calls-count", headers={"HX-Request": "true"})  # said in place, not left at "Counting…"
    assert (fragment.status_code, fragment.text.strip()) == (200, "Count unavailable: an error on the server")
    assert b.get("/calls-count").status_code == 500


def test_unknown_console_paths_are_html_and_the_api_keeps_its_envelope(client, engine):
    b = signed_in(client, make_tenant(engine))
    for path, status in [("/summary/x", 404), ("/exports/a/b/c", 404), ("/console/static/none.js", 404)]:
        resp = b.get(path)
        assert resp.status_code == status and "<h1>Page not found</h1>" in resp.text, path
    wrong = b.get("/logout")
    assert wrong.status_code == 405 and "<h1>Not allowed</h1>" in wrong.text
    api = b.get("/api/v2/callreport/nothing")
    assert api.status_code == 404 and api.json()["status"] == "error"


def test_database_outage_is_a_503_page(pg_url, settings, local_storage):
    engine = db.make_engine(pg_url)
    db.migrate(engine)
    app = create_app(settings, engine=engine, storage=local_storage)
    with TestClient(app) as client:
        who = make_tenant(engine)
        b = signed_in(client, who)
        assert b.get("/calls").status_code == 200
        with database_away(engine):
            for path in ["/calls", "/summary", "/exports", "/calls/x"]:
                resp = b.get(path)
                assert resp.status_code == 503 and "<h1>Database unavailable</h1>" in resp.text, path
                assert "Traceback" not in resp.text and '"status"' not in resp.text
            fragment = b.get("/calls-count", headers={"HX-Request": "true"})
            assert fragment.text.strip() == "Count unavailable: the database cannot be reached"
        assert b.get("/calls").status_code == 200  # back by itself
    engine.dispose()
