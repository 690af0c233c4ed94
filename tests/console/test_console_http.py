"""The console over HTTP (in-process, both databases): sign-in, headers, forgery checks, scope, masking, escaping."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from callreport import auth, db
from tests.console.helpers import (
    ORIGIN,
    XSS,
    XSS_NOTE,
    agents_of,
    browser,
    demo_calls,
    inline_code,
    signed_in,
    token_of,
)
from tests.factories import call, make_tenant

PAGES = ["/calls", "/summary", "/exports"]


@pytest.fixture(scope="module")
def world(client, engine):
    """An account with 80 demo calls and the probe; an admin, a masked user and an agent-limited one."""
    admin = make_tenant(engine)
    prefix = f"C{secrets.token_hex(3)}"
    records = demo_calls(80, prefix)
    assert call(client, "ingest", {**admin.creds, "calls": records})["status"] == "success"
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=admin.account_id)
    some = sorted(agents_of(records) - {"AG-XSS"})[:2]
    limited = make_tenant(engine, permissions=auth.PERMISSIONS, agents=some, account_id=admin.account_id)
    return {"admin": admin, "masked": masked, "limited": limited, "records": records, "agents": some}


def test_signed_out_pages_lead_to_sign_in(client):
    b = browser(client)
    assert b.get("/").headers["location"] == "/login"
    for path in [*PAGES, "/calls/x", "/exports/rows"]:
        resp = b.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/login", path
    polled = b.get("/exports/rows", headers={"HX-Request": "true"})
    assert polled.headers["hx-redirect"] == "/login"


def test_sign_in_sets_a_strict_http_only_cookie_and_lands_on_calls(client, world):
    b = browser(client)
    resp = b.post(
        "/login",
        data={"username": world["admin"].username, "password": world["admin"].password},
        headers={"Origin": ORIGIN},
    )
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert b.get("/").headers["location"] == "/calls"
    secure = browser(client, "https://testserver")
    resp = secure.post(
        "/login",
        data={"username": world["admin"].username, "password": world["admin"].password},
        headers={"Origin": "https://testserver"},
    )
    assert "Secure" in resp.headers["set-cookie"]


def test_sign_in_shares_the_api_throttle(client, engine):
    who = make_tenant(engine)
    b = browser(client)
    for _ in range(5):
        resp = b.post("/login", data={"username": who.username, "password": "wrong"}, headers={"Origin": ORIGIN})
        assert resp.status_code == 401 and "Invalid username or password" in resp.text
    resp = b.post("/login", data={"username": who.username, "password": who.password}, headers={"Origin": ORIGIN})
    assert resp.status_code == 401 and "Too many failed logins" in resp.text
    api = call(client, "login", {"username": who.username, "password": who.password}, family="auth")
    assert api["code"] == 1014  # the API refuses too: one throttle


def test_console_headers_csp_and_no_cors(client, world):
    b = signed_in(client, world["admin"])
    evil = {"Origin": "https://evil.example"}
    for path in ["/login", *PAGES, "/console/static/console.css"]:
        resp = b.get(path, headers=evil)
        assert resp.status_code == 200, path
        csp = resp.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe" not in csp and "http" not in csp and "*" not in csp, csp
        assert not [h for h in resp.headers if h.startswith("access-control-")], path
    preflight = b.options("/calls", headers={**evil, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code != 204
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    assert b.get("/calls").headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client, world):
    b = signed_in(client, world["admin"])
    call_id = world["records"][0]["callId"]
    for path in ["/login", *PAGES, f"/calls/{call_id}", "/summary?groupBy=day"]:
        html = b.get(path).text
        assert inline_code(html) == [], path


def test_count_and_rows_match_the_api(client, world):
    admin, b = world["admin"], signed_in(client, world["admin"])
    cases = [
        {},
        {"statuses": ["answered", "missed"], "directions": ["inbound"]},
        {"startDate": "2025-03-03", "endDate": "2025-03-05T12:30", "minDuration": 60},
        {"agentIds": world["agents"], "callAnalysis": [{"field": "language", "op": "eq", "value": "hi"}]},
        {"callAnalysis": [{"field": "attempt", "op": "gte", "value": 2}], "timezone": "Asia/Kolkata"},
    ]
    for filters in cases:
        expected = call(client, "reportCount", {**admin.creds, **filters})["count"]
        html = b.get("/calls?" + query_of(filters)).text
        assert count_of(b, html) == f"{expected:,} calls", filters
        first = call(client, "list", {**admin.creds, **filters, "limit": 50})["data"]
        links = re.findall(r'href="/calls/([^"?]+)', html)
        assert links == [c["callId"] for c in first], filters


def count_of(b: TestClient, html: str) -> str:
    """What the page's count fragment says (the request htmx makes once the page has loaded)."""
    url = re.search(r'<p class="count"[^>]* hx-get="([^"]+)" hx-trigger="load"', html).group(1)
    resp = b.get(url.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    return resp.text.strip()


def query_of(filters: dict) -> str:
    """The console's query string for API filters (lists repeated, conditions as three fields)."""
    from callreport.console.forms import to_pairs

    return urlencode(to_pairs(filters))


def test_bad_filter_shows_the_api_message(client, world):
    b = signed_in(client, world["admin"])
    html = b.get("/calls?startDate=2025-03-05&endDate=2025-03-01").text
    assert "startDate is after endDate" in html
    assert "calls<" not in html and "/calls-count" not in html  # no count of a filter that failed
    fragment = b.get("/calls-count?startDate=2025-03-05&endDate=2025-03-01", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and fragment.text.strip().startswith("Count unavailable: startDate is after")


def test_cursor_walk_next_then_previous(client, world):
    b = signed_in(client, world["admin"])
    first = b.get("/calls?limit=30").text
    nxt = re.search(r'href="/calls\?([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = b.get("/calls?" + nxt).text
    prev = re.search(r'href="/calls\?([^"]*)" rel="prev"', second).group(1).replace("&amp;", "&")
    ids = [re.findall(r'href="/calls/([^"?]+)', page) for page in (first, second, b.get("/calls?" + prev).text)]
    assert len(ids[0]) == 30 and ids[1] and not set(ids[0]) & set(ids[1])
    assert ids[2] == ids[0]


def test_forged_posts_are_refused(client, world):
    admin, b = world["admin"], signed_in(client, world["admin"])
    token = token_of(b.get("/calls").text)
    before = len(call(client, "exportList", admin.creds)["data"])
    form = {"csrf": token, "format": "csv", "query": ""}
    for headers, data in [
        ({"Origin": "http://testserver:8001"}, form),  # this host, another port
        ({"Origin": "https://evil.example"}, form),
        ({"Origin": "null"}, form),
        ({"Origin": ORIGIN}, {**form, "csrf": "0" * 32}),  # right origin, wrong token
        ({"Sec-Fetch-Site": "cross-site"}, form),
    ]:
        resp = b.post("/exports", data=data, headers=headers)
        assert resp.status_code == 403 and "Request refused" in resp.text, headers
    assert len(call(client, "exportList", admin.creds)["data"]) == before
    login = browser(client).post(
        "/login", data={"username": admin.username, "password": admin.password}, headers={"Origin": "http://x.test"}
    )
    assert login.status_code == 403 and "set-cookie" not in login.headers
    logout = b.post("/logout", data={"csrf": token}, headers={"Origin": "http://testserver:9"})
    assert logout.status_code == 403 and b.get("/calls").status_code == 200
    made = b.post("/exports", data=form, headers={"Origin": ORIGIN})
    assert made.status_code == 303 and len(call(client, "exportList", admin.creds)["data"]) == before + 1


def test_no_get_changes_anything(client, world):
    b = signed_in(client, world["admin"])
    rid = call(client, "exportCsv", world["admin"].creds)["requestId"]
    for path in ["/logout", f"/exports/{rid}/cancel", f"/exports/{rid}/rename?title=x", "/exports?format=csv"]:
        b.get(path)
    assert b.get("/calls").status_code == 200
    status = call(client, "exportStatus", {**world["admin"].creds, "requestId": rid})["data"]
    assert status["state"] != "cancelled" and status["title"] != "x"


def test_masked_user_sees_masked_numbers_everywhere(client, world):
    b = signed_in(client, world["masked"])
    records = world["records"]
    company = {r["didNumber"] for r in records}  # §9: the company's own number is never masked
    full = {r[k] for r in records for k in ("customerNumber", "callerNumber") if r[k]} - company
    shown = call(client, "list", {**world["masked"].creds, "limit": 5})["data"]
    pages = [b.get(p).text for p in [*PAGES, "/summary?groupBy=day"]]
    pages += [b.get(f"/calls/{c['callId']}").text for c in shown]
    for html in pages:
        leaked = [n for n in full if n in html]
        assert leaked == [], leaked[:3]
    assert shown[0]["customerNumber"] in pages[0] and "X" in shown[0]["customerNumber"]


def test_agent_limited_user_sees_only_their_agents(client, world):
    b = signed_in(client, world["limited"])
    html = b.get("/calls?limit=200").text
    options = re.findall(r'<option value="([^"]+)"', html.split('name="agentIds"')[1].split("</select>")[0])
    assert sorted(options) == sorted(world["agents"])
    mine = {r["callId"] for r in world["records"] if r["agentId"] in world["agents"]}
    assert set(re.findall(r'href="/calls/([^"?]+)', html)) == mine
    other = next(r for r in world["records"] if r["agentId"] not in world["agents"])
    assert b.get(f"/calls/{other['callId']}").status_code == 404
    assert "AG-XSS" not in b.get("/summary?groupBy=agent").text


def test_values_from_calls_are_text_never_markup(client, world):
    b = signed_in(client, world["admin"])
    probe = world["records"][-1]
    pages = [
        b.get("/calls?agentIds=AG-XSS").text,
        b.get(f"/calls/{probe['callId']}").text,
        b.get("/summary?groupBy=agent").text,
    ]
    for html in pages:
        assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
        assert inline_code(html) == []
    assert "&lt;script&gt;alert(&#34;note&#34;)&lt;/script&gt;" in pages[1] and XSS_NOTE not in pages[1]
    assert 'href="javascript:' not in pages[1]  # a recording URL that is not http(s) is never a link


def test_sign_out_and_session_revoke_end_the_session(client, world, engine):
    b = signed_in(client, world["admin"])
    token = token_of(b.get("/calls").text)
    ssid = b.cookies.get("callreport_session")
    out = b.post("/logout", data={"csrf": token}, headers={"Origin": ORIGIN})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert call(client, "reportCount", {"ssid": ssid})["code"] == 1014  # dead for the API too
    b.cookies.set("callreport_session", ssid)
    assert b.get("/calls").headers["location"] == "/login"
    again = signed_in(client, world["admin"])
    with db.writing(engine) as conn:
        auth.revoke(conn, world["admin"].user_id, "session")  # what `callreport session revoke` does
    assert again.get("/calls").headers["location"] == "/login"


def test_export_rename_cancel_and_download_through_the_console(client, world):
    admin, b = world["admin"], signed_in(client, world["admin"])
    token = token_of(b.get("/calls").text)
    made = b.post(
        "/exports",
        data={"csrf": token, "format": "csv", "title": "March answered", "query": "statuses=answered"},
        headers={"Origin": ORIGIN},
    )
    assert made.status_code == 303
    item = call(client, "exportList", admin.creds)["data"][0]
    assert item["title"] == "March answered" and item["filters"]["statuses"] == ["answered"]
    rid = item["requestId"]
    html = b.get("/exports").text
    assert "March answered" in html and 'hx-trigger="every 2s"' in html and ">Cancel<" in html
    b.post(f"/exports/{rid}/rename", data={"csrf": token, "title": "Renamed"}, headers={"Origin": ORIGIN})
    b.post(f"/exports/{rid}/cancel", data={"csrf": token}, headers={"Origin": ORIGIN})
    status = call(client, "exportStatus", {**admin.creds, "requestId": rid})["data"]
    assert (status["title"], status["state"]) == ("Renamed", "cancelled")
    assert b.get(f"/exports/{rid}/download").status_code == 404  # no file: the API's File Not Exists


def test_sorting_by_the_hidden_number_is_offered_only_to_who_sees_numbers(client, world):
    masked = signed_in(client, world["masked"]).get("/calls").text
    assert "sortBy=customerNumber" not in masked and "sortBy=agentName" in masked
    full = signed_in(client, world["admin"]).get("/calls").text
    assert "sortBy=customerNumber" in full
