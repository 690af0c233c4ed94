"""Data and sign-in for the console's tests: demo-like calls, an XSS probe agent, users of every kind."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient

from callreport.demo import generate_calls

XSS = "<img src=x onerror=alert(1)>"
XSS_NOTE = '<script>alert("note")</script>'
PROBE_ID = "PROBE-1"
START = datetime(2025, 3, 1)
ORIGIN = "http://testserver"


def demo_calls(n: int, prefix: str) -> list[dict[str, Any]]:
    """n realistic calls over ten days of March 2025 (UTC), plus one whose agent name is markup."""
    records = list(generate_calls(n, seed=7, start=START, days=10, tz="UTC", id_prefix=prefix))
    probe = dict(records[0])
    probe.update(
        callId=f"{prefix}-{PROBE_ID}",
        agentId="AG-XSS",
        agentName=XSS,
        status="answered",
        talkDuration=min(30, probe["duration"]),
        callAnalysis={"summary": XSS, "score": 7},
        events=[{"time": probe["startTime"], "type": "note", "note": XSS_NOTE}],
        recordingUrl="javascript:alert(2)",
    )
    return [*records, probe]


def agents_of(records: list[dict]) -> set[str]:
    """The agentIds that took calls."""
    return {r["agentId"] for r in records if r["agentId"]}


@dataclass(frozen=True)
class Visible:
    """What a page shows as text: markup stripped, entities left as they are."""

    html: str

    @property
    def text(self) -> str:
        """The HTML with its tags removed."""
        return re.sub(r"<[^>]+>", " ", self.html)


def inline_code(html: str) -> list[str]:
    """Inline scripts, event-handler attributes and style attributes in a page (CSP would block them)."""
    found = [m.group(0) for m in re.finditer(r"<script(?![^>]*\bsrc=)[^>]*>", html)]
    found += [m.group(0) for m in re.finditer(r"<[^>]+\s(on[a-z]+|style)\s*=[^>]*>", html)]
    return found


def token_of(html: str) -> str:
    """The anti-forgery token in a signed-in page."""
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no csrf field in the page"
    return match.group(1)


def browser(client: TestClient, base_url: str = ORIGIN) -> TestClient:
    """A client with its own cookie jar on the running app (no second lifespan)."""
    return TestClient(client.app, base_url=base_url, follow_redirects=False)


def signed_in(client: TestClient, who: Any, base_url: str = ORIGIN) -> TestClient:
    """A browser signed in as who through the sign-in form."""
    b = browser(client, base_url)
    resp = b.post("/login", data={"username": who.username, "password": who.password}, headers={"Origin": base_url})
    assert resp.status_code == 303 and resp.headers["location"] == "/calls", resp.text
    return b
