"""Issue 8 items 4 and 6: request rates (1050, §9 Rates) and the memory a refused body costs (§9 Memory)."""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import errors
from callreport.app import create_app
from callreport.memory import BodyQueue
from callreport.settings import Settings
from tests.factories import make_tenant
from tests.fixtures.procs import serving
from tests.fixtures.s3 import free_port

REDIS_URL = os.environ.get("CALLREPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _app(engine: sa.Engine, tmp_path: Path, limit: int, **more) -> TestClient:
    settings = Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_per_minute=limit, **more)
    return TestClient(create_app(settings, engine=engine))


def _post(client: TestClient, body: dict):
    return client.post("/api/v2/callreport/reportCount", content=orjson.dumps(body))


def _is_1050(resp) -> bool:
    body = resp.json()
    return resp.status_code == 429 and body["code"] == 1050 and body["message"] == "Too many requests"


def test_a_user_over_the_rate_gets_1050_and_another_user_does_not(engine, tmp_path):
    noisy, quiet = make_tenant(engine), make_tenant(engine)
    with _app(engine, tmp_path, 5) as client:
        assert all(_post(client, noisy.creds).json()["status"] == "success" for _ in range(5))
        over = _post(client, noisy.creds)
        assert _is_1050(over), over.text
        assert 1 <= int(over.headers["retry-after"]) <= 60
        assert over.headers["etag"].startswith('W/"')
        assert _post(client, quiet.creds).json()["status"] == "success"


def test_an_address_over_the_rate_before_authentication_is_refused_even_with_credentials(engine, tmp_path):
    tenant = make_tenant(engine)
    with _app(engine, tmp_path, 3) as client:
        for _ in range(3):
            assert _post(client, {"userId": tenant.user_id, "token": "wrong"}).json()["code"] == 1014
        refused = _post(client, tenant.creds)  # checked before the body is even read
        assert _is_1050(refused), refused.text
        assert "retry-after" in refused.headers


def test_authenticated_requests_do_not_use_up_their_address(engine, tmp_path):
    users = [make_tenant(engine) for _ in range(3)]
    with _app(engine, tmp_path, 2) as client:
        for user in users:  # six requests from one address, two per user: all within the limits
            assert [_post(client, user.creds).json()["status"] for _ in range(2)] == ["success"] * 2


def test_counts_are_shared_through_redis_by_two_apps(engine, tmp_path):
    pytest.importorskip("redis")
    tenant = make_tenant(engine)
    prefix = f"callreport-test:{secrets.token_hex(6)}"  # its own keys: runs never collide
    apps = [_app(engine, tmp_path, 4, redis_url=REDIS_URL, redis_key_prefix=prefix) for _ in range(2)]
    with apps[0] as one, apps[1] as two:
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        except Exception as exc:
            pytest.skip(f"Redis at {REDIS_URL} is not reachable ({exc.__class__.__name__})")
        statuses = [_post(c, tenant.creds).json()["status"] for c in (one, two, one, two)]
        assert statuses == ["success"] * 4
        assert _is_1050(_post(one, tenant.creds))
        assert _is_1050(_post(two, tenant.creds))  # alone, each app counted only two


def test_an_unreachable_redis_falls_back_to_counting_in_the_process(engine, tmp_path, caplog):
    tenant = make_tenant(engine)
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, "callreport.ratelimit"), _app(engine, tmp_path, 2, redis_url=url) as c:
        assert [_post(c, tenant.creds).json()["status"] for _ in range(2)] == ["success"] * 2
        assert _is_1050(_post(c, tenant.creds))
    assert "Redis unreachable" in caplog.text


def test_the_large_body_queue_is_bounded():
    async def scenario() -> list[str]:
        queue, seen, release = BodyQueue(waiting=1), [], asyncio.Event()

        async def one(name: str) -> None:
            try:
                async with queue:
                    seen.append(f"{name} in")
                    await release.wait()
            except errors.TooManyRequests:
                seen.append(f"{name} refused")

        tasks = [asyncio.create_task(one(n)) for n in "abc"]
        await asyncio.sleep(0.05)  # a holds it, b waits, c finds the queue full
        release.set()
        await asyncio.gather(*tasks)
        return seen

    assert asyncio.run(scenario()) == ["a in", "c refused", "b in"]


# --- §9 Memory: a live server's resident memory after a burst of refused 32 MiB bodies ---------


def _hostile_body(limit: int) -> bytes:
    """An unauthenticated ingest body of plausible records, just under the limit."""
    one = orjson.dumps(
        {"callId": "x" * 20, "startTime": "2025-01-01T00:00:00Z", "agentName": "agent", "status": "answered",
         "customerNumber": "+911234567890", "duration": 10, "callAnalysis": {"a": [1, 2, 3], "b": "text" * 5}}
    )  # fmt: skip
    n = (limit - 32) // (len(one) + 1)
    return b'{"calls":[' + b",".join([one] * n) + b"]}"


def vm_rss_mb(pid: int) -> float:
    """The process's resident memory (VmRSS) in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


class Peak:
    """Samples a process's VmRSS every 20 ms in a thread; the highest seen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.mb = max(self.mb, vm_rss_mb(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(2)
        return self.mb


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """(port, pid) of a `callreport serve` on SQLite."""
    data_dir = tmp_path_factory.mktemp("limits")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLREPORT_")}
    env.update(CALLREPORT_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
    port = free_port()
    with serving(port, env, data_dir / "serve.log") as proc:
        yield port, proc.pid


def _send(port: int, body: bytes) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/api/v2/callreport/ingest", body=body)
        return orjson.loads(conn.getresponse().read())
    finally:
        conn.close()


@pytest.mark.slow  # a live server and 32 MiB bodies: ~18 s
def test_refused_32_mib_bodies_give_their_memory_back(live):
    port, pid = live
    body = _hostile_body(32 << 20)
    time.sleep(0.5)
    before = vm_rss_mb(pid)
    peak = Peak(pid)
    answers = [_send(port, body) for _ in range(5)]  # one after another, as in the review
    threads = [threading.Thread(target=lambda: answers.append(_send(port, body))) for _ in range(6)]
    for t in threads:  # then six at once
        t.start()
    for t in threads:
        t.join(300)
    top = peak.stop()
    time.sleep(0.5)
    after = vm_rss_mb(pid)
    print(f"VmRSS MB before {before:.0f}, peak {top:.0f}, after {after:.0f}")
    assert len(answers) == 11 and {a["code"] for a in answers} <= {1000, 1050}, answers
    assert sum(a["code"] == 1000 for a in answers) >= 5
    assert after - before < 50, (before, top, after)
    assert top - before < 600, (before, top, after)  # one body at a time: ~270 MB for this one
