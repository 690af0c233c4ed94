"""The operator's endpoints (§12): /healthz, /readyz on both databases and storages and through
outages of PostgreSQL and S3, and /metrics (off by default, its token, and figures that move)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from callreport import db
from callreport.demo import generate_calls
from callreport.export.run import run_export
from callreport.loading import load_records
from callreport.models import export_requests
from callreport.storage import StorageError
from callreport.storage.local import LocalStorage
from callreport.storage.s3 import S3Storage
from tests.factories import app_client, call, make_tenant, sample, scrape
from tests.fixtures.outages import database_away
from tests.fixtures.procs import callreport_command, stop, wait_for_health, worker_env
from tests.fixtures.s3 import free_port, unique_bucket

DB_DOWN = {"status": "error", "message": "Error in DB connect", "code": 1010, "detail": "database unreachable"}
STORAGE_DOWN = {"status": "error", "message": "Something went wrong", "code": 1009, "detail": "storage unreachable"}
TOKEN = "scrape-secret-7f3a"


# --- /healthz, /readyz ----------------------------------------------------------------------------


def test_healthz_answers_without_the_database_and_readyz_names_it(settings, local_storage):
    nowhere = db.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    with app_client(settings, nowhere, local_storage) as client:
        health = client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, DB_DOWN)
        wrong = client.post("/healthz")
        assert wrong.status_code == 405 and wrong.headers["allow"] == "GET", wrong.headers
        assert wrong.json()["detail"] == "POST is not allowed here; use GET."
    nowhere.dispose()


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_readyz_is_ok_on_each_database_and_storage(request, engine, settings, kind):
    storage = request.getfixturevalue("local_storage" if kind == "local" else "s3_storage")
    with app_client(settings, engine, storage) as client:
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


def test_readyz_fails_while_postgresql_is_away_and_recovers(pg_url, settings, local_storage):
    engine = db.make_engine(pg_url)
    with app_client(settings, engine, local_storage) as client:
        assert client.get("/readyz").status_code == 200
        with database_away(engine):
            started = time.monotonic()
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()) == (503, DB_DOWN)
            assert time.monotonic() - started < 5
            assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")  # the pool pre-pings and reconnects: no restart
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    engine.dispose()


@pytest.mark.slow  # stops and restarts a moto server: ~2.5 s
def test_readyz_fails_while_s3_is_stopped_and_recovers(engine, settings, private_moto_server, s3_env):
    storage = S3Storage(unique_bucket(), "exports", private_moto_server.url)
    with app_client(settings, engine, storage) as client:
        assert client.get("/readyz").status_code == 200
        private_moto_server.stop()
        started = time.monotonic()
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, STORAGE_DOWN)
        assert time.monotonic() - started < 5
        private_moto_server.start()
        ready = client.get("/readyz")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})


@pytest.mark.slow  # waits out the store's timeout: ~2.2 s
def test_readyz_gives_up_on_a_store_that_never_answers(engine, settings, s3_env):
    # A listening socket nobody reads: the connection opens, the answer never comes. With the
    # storage's own client (60 s read timeout, 3 attempts) the probe would hang for minutes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        storage = S3Storage(unique_bucket(), "exports", f"http://127.0.0.1:{silent.getsockname()[1]}")
        with app_client(settings, engine, storage) as client:
            started = time.monotonic()
            ready = client.get("/readyz")
            elapsed = time.monotonic() - started
    assert (ready.status_code, ready.json()) == (503, STORAGE_DOWN)
    assert elapsed < 6, elapsed


def test_s3_ping_gives_up_after_its_timeout_itself(s3_env):
    # readyz stops waiting after 5 s either way; this keeps the thread from hanging on for minutes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        storage = S3Storage(unique_bucket(), "exports", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        with pytest.raises(StorageError):
            storage.ping(timeout=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed  # one 0.5 s try (plus making the client), not 3 tries of 60 s


def test_readyz_checks_the_export_folder_without_making_it(engine, settings, tmp_path):
    fresh = LocalStorage(tmp_path / "exports")  # before the first export: its parent takes files
    unmounted = LocalStorage(tmp_path / "volume" / "exports")  # the volume's mount point is missing
    clash = tmp_path / "file"
    clash.write_text("")  # a file where the folder should be
    for storage, status in ((fresh, 200), (unmounted, 503), (LocalStorage(clash), 503)):
        with app_client(settings, engine, storage) as client:
            ready = client.get("/readyz")
        assert ready.status_code == status, (storage, ready.text)
        if status == 503:
            assert ready.json() == STORAGE_DOWN
    assert not (tmp_path / "exports").exists() and not (tmp_path / "volume").exists()


# --- /metrics: switch and token -----------------------------------------------------------------------


def test_metrics_are_off_by_default(client):
    resp = client.get("/metrics")
    assert resp.status_code == 404
    assert resp.json() == {
        "status": "error",
        "message": "Invalid parameters",
        "code": 1000,
        "detail": "No endpoint at /metrics.",
    }


def test_metrics_token_is_enforced(engine, settings, local_storage):
    with app_client(settings, engine, local_storage, metrics=True, metrics_token=SecretStr(TOKEN)) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            resp = client.get("/metrics", headers=headers)
            assert resp.status_code == 401, (headers, resp.text)
            assert resp.json()["code"] == 1014 and resp.headers["www-authenticate"].startswith("Bearer")
        assert sample(scrape(client, TOKEN), "callreport_database_up") == 1
        assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


# --- /metrics: figures that move ------------------------------------------------------------------


@pytest.fixture
def metered(engine, settings, local_storage) -> Iterator[TestClient]:
    """An app with /metrics on and no token."""
    with app_client(settings, engine, local_storage, metrics=True) as client:
        yield client


def test_request_counters_move_by_endpoint_and_code(metered, tenant):
    before = scrape(metered)
    for _ in range(3):
        call(metered, "reportCount", tenant.creds)
    call(metered, "reportCount", {"userId": tenant.user_id, "token": "not-the-token"})
    call(metered, "list", {**tenant.creds, "limit": 0})
    after = scrape(metered)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    count, listing = "/api/v2/callreport/reportCount", "/api/v2/callreport/list"
    assert moved("callreport_requests_total", endpoint=count, code="success") == 3
    assert moved("callreport_requests_total", endpoint=count, code="1014") == 1
    assert moved("callreport_requests_total", endpoint=listing, code="1000") == 1
    assert moved("callreport_request_duration_seconds_count", endpoint=count) == 4
    assert moved("callreport_request_duration_seconds_bucket", endpoint=count, le="+Inf") == 4
    assert moved("callreport_request_duration_seconds_sum", endpoint=count) > 0
    # The raw path never becomes a label: a path in another case is the same endpoint.
    metered.post("/api/v2/CallReport/ReportCount/", json=tenant.creds)
    assert sample(scrape(metered), "callreport_requests_total", endpoint=count, code="success") == (
        sample(after, "callreport_requests_total", endpoint=count, code="success") + 1
    )
    assert not [k for k in after if k[0] == "callreport_requests_total" and "CallReport" in str(k)]


def test_ingested_calls_are_counted_for_api_and_cli(metered, engine, tenant):
    before = scrape(metered)
    records = list(generate_calls(7, seed=11, tz="UTC"))
    assert call(metered, "ingest", {**tenant.creds, "calls": records[:4]})["inserted"] == 4
    assert load_records(engine, tenant.account_id, records[4:], 3, "calls")["inserted"] == 3
    after = scrape(metered)
    for source, n in (("api", 4), ("cli", 3)):
        got = sample(after, "callreport_calls_ingested_total", source=source)
        assert got - sample(before, "callreport_calls_ingested_total", source=source) == n, source
    assert ("callreport_calls_imported_total", ()) not in after  # labelled by PBX: appears on first import
    assert "callreport_calls_imported" in metered.get("/metrics").text


def claim_this(engine: sa.Engine, request_id: str, worker: str) -> sa.Row:
    """Claim one given job as jobs.claim would (the session's queue holds other tests' jobs)."""
    with db.writing(engine) as conn:
        conn.execute(
            export_requests.update()
            .where(export_requests.c.id == request_id)
            .values(state="running", lease_owner=worker, lease_expires_at=time.time() + 30, attempts=1,
                    claimed_at=time.time(), started_at=int(time.time()))
        )  # fmt: skip
        return conn.execute(sa.select(export_requests).where(export_requests.c.id == request_id)).one()


def test_job_figures_follow_the_jobs(metered, engine, settings, local_storage):
    tenant = make_tenant(engine)
    load_records(engine, tenant.account_id, generate_calls(40, seed=40, tz="UTC"), 40, "calls")
    before = scrape(metered)
    ids = [call(metered, "exportCsv", tenant.creds)["requestId"] for _ in range(2)]
    call(metered, "exportPdf", tenant.creds)
    pending = scrape(metered)

    def moved(now: dict, name: str, **labels: str) -> float:
        return sample(now, name, **labels) - sample(before, name, **labels)

    assert moved(pending, "callreport_export_jobs", state="pending", format="csv") == 2
    assert moved(pending, "callreport_export_jobs", state="pending", format="pdf") == 1
    assert moved(pending, "callreport_export_queue_depth") == 3
    assert sample(pending, "callreport_export_oldest_pending_age_seconds") >= 0

    for request_id in ids:  # run both CSV exports for real
        assert run_export(engine, local_storage, settings, claim_this(engine, request_id, "t"), "t") == "done"
    done = scrape(metered)
    assert moved(done, "callreport_export_jobs", state="pending", format="csv") == 0
    assert moved(done, "callreport_export_jobs", state="done", format="csv") == 2
    assert moved(done, "callreport_export_queue_depth") == 1
    assert moved(done, "callreport_export_rows_count", format="csv") == 2
    assert moved(done, "callreport_export_rows_sum", format="csv") == 80
    assert moved(done, "callreport_export_rows_bucket", format="csv", le="100.0") == 2
    assert moved(done, "callreport_export_rows_bucket", format="csv", le="10.0") == 0  # no such bucket
    assert moved(done, "callreport_export_duration_seconds_count", format="csv") == 2
    assert moved(done, "callreport_export_duration_seconds_bucket", format="csv", le="+Inf") == 2


def test_oldest_pending_age_counts_from_the_oldest_job(metered, engine, tenant):
    request_id = call(metered, "exportCsv", tenant.creds)["requestId"]
    with db.writing(engine) as conn:  # as if it had waited an hour
        conn.execute(
            export_requests.update()
            .where(export_requests.c.id == request_id)
            .values(created_at=int(time.time()) - 3600)
        )
    try:
        age = sample(scrape(metered), "callreport_export_oldest_pending_age_seconds")
        assert 3600 <= age < 3660, age
    finally:
        with db.writing(engine) as conn:
            conn.execute(export_requests.update().where(export_requests.c.id == request_id).values(state="cancelled"))


def test_metrics_still_answer_while_postgresql_is_away(pg_url, settings, local_storage):
    engine = db.make_engine(pg_url)
    db.migrate(engine)  # when run alone, nothing else has made the tables yet
    with app_client(settings, engine, local_storage, metrics=True) as client:
        with database_away(engine):
            resp = client.get("/metrics")
            assert resp.status_code == 200 and "Traceback" not in resp.text
            assert "callreport_database_up 0.0" in resp.text
            assert "callreport_requests_total" in resp.text
        assert sample(scrape(client), "callreport_database_up") == 1
    engine.dispose()


# --- several processes ---------------------------------------------------------------------------


@pytest.mark.slow  # serve with two processes: ~12 s
def test_serve_with_two_processes_counts_every_request_in_every_scrape(tmp_path: Path, sqlite_url):
    # One backend is enough: what is shown is that the processes' counters are summed.
    engine = db.make_engine(sqlite_url)
    db.migrate(engine)
    tenant = make_tenant(engine)
    engine.dispose()
    port = free_port()
    env = worker_env(
        {
            "CALLREPORT_DATABASE_URL": sqlite_url,
            "CALLREPORT_DATA_DIR": str(tmp_path),
            "CALLREPORT_EMBEDDED_WORKER": "false",
            "CALLREPORT_METRICS": "true",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*callreport_command(), "serve", "--port", str(port), "--workers", "2"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_health(port, proc, log, seconds=60)
        base = f"http://127.0.0.1:{port}"
        for _ in range(20):  # a new connection each: the kernel spreads them over both processes
            with httpx.Client(base_url=base, timeout=10) as http:
                assert http.post("/api/v2/callreport/reportCount", json=tenant.creds).json()["status"] == "success"
        seen = set()
        key = ("callreport_requests_total", (("code", "success"), ("endpoint", "/api/v2/callreport/reportCount")))
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=10) as http:
                text = http.get("/metrics").text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            seen.add(samples.get(key))
        assert seen == {20.0}, (seen, log.read_text()[-2000:])
    finally:
        stop(proc, 15)
