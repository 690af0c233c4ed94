"""Fault tests on real services: workers killed or stopped mid-export, several workers on one queue,
the database and the storage going away, and a storage write failing halfway.

Workers run as real `callreport worker` subprocesses against a database and a storage folder of this
module's own (a fresh SQLite file, a fresh PostgreSQL database), with a 2-second job lease.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import os
import re
import shutil
import signal
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import db
from callreport.app import create_app
from callreport.demo import generate_calls
from callreport.loading import load_records
from callreport.models import export_requests
from callreport.settings import Settings
from callreport.storage import StorageError
from callreport.storage.local import LocalStorage
from callreport.storage.s3 import S3Storage
from callreport.worker import Worker
from tests.factories import Tenant, call, fresh_pg_database, make_tenant
from tests.fixtures.outages import database_away
from tests.fixtures.procs import WorkerProcess
from tests.fixtures.s3 import unique_bucket

pytestmark = pytest.mark.slow  # worker processes killed, databases and stores taken away: 3 to 16 s a test

BIG = 30_000  # an XLSX of this many rows takes ~3 s to write: long enough to catch it running
LEASE = 2  # seconds; CALLREPORT_JOB_LEASE_SECONDS of every worker here
DB_DOWN = {"status": "error", "message": "Error in DB connect", "code": 1010}
NO_FILE = {"status": "error", "message": "File Not Exists", "code": 1009}
WENT_WRONG = {"status": "error", "message": "Something went wrong", "code": 1009}


@dataclass
class Site:
    """A database, a storage folder and an app on them, shared by this module's tests."""

    backend: str
    url: str
    engine: sa.Engine
    root: Path
    storage: LocalStorage
    settings: Settings
    client: TestClient
    big_tenant: Tenant | None = None

    def worker_settings(self) -> dict[str, str]:
        """The environment of a `callreport worker` on this site."""
        return {
            "CALLREPORT_DATABASE_URL": self.url,
            "CALLREPORT_STORAGE_URL": self.root.as_uri(),
            "CALLREPORT_DATA_DIR": str(self.root.parent),
            "CALLREPORT_JOB_LEASE_SECONDS": str(LEASE),
            "CALLREPORT_WORKER_POLL_SECONDS": "0.2",
        }

    def big(self) -> Tenant:
        """The site's account of BIG calls, made on first use."""
        if self.big_tenant is None:
            self.big_tenant = tenant_with_calls(self, BIG)
        return self.big_tenant

    def worker(self, storage: Any = None) -> Worker:
        """An in-process worker on this site (run_one() runs one job)."""
        return Worker(self.engine, storage or self.storage, self.settings, name="test")

    def job(self, request_id: str) -> sa.Row:
        """The job's row, read straight from the database."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(export_requests).where(export_requests.c.id == request_id)).one()


@contextlib.contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database of that backend (a PostgreSQL one is dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'faults.db'}"
        return
    with fresh_pg_database("callreport_faults") as url:
        yield url


class Sites:
    """This module's sites, made on first use and torn down together at the end of the module."""

    def __init__(self, stack: contextlib.ExitStack, folder: Callable[[str], Path]) -> None:
        self.stack, self.folder, self.made = stack, folder, {}

    def get(self, backend: str) -> Site:
        """The site of that backend, with no job waiting in its queue."""
        if backend not in self.made:
            self.made[backend] = self._make(backend)
        site = self.made[backend]
        # No job of an earlier (failed) test may be claimed by this test's workers.
        with db.writing(site.engine) as conn:
            conn.execute(
                export_requests.update()
                .where(export_requests.c.state.in_(("pending", "running")))
                .values(state="cancelled", lease_owner=None, lease_expires_at=None)
            )
        return site

    def _make(self, backend: str) -> Site:
        folder = self.folder(f"faults-{backend}")
        url = self.stack.enter_context(fresh_database(backend, folder))
        engine = db.make_engine(url)
        self.stack.callback(engine.dispose)
        db.migrate(engine)
        root = folder / "exports"
        settings = Settings(data_dir=folder, embedded_worker=False, job_lease_seconds=LEASE, worker_poll_seconds=0.2)
        storage = LocalStorage(root)
        app = create_app(settings, engine=engine, storage=storage)
        client = self.stack.enter_context(TestClient(app))
        return Site(backend, url, engine, root, storage, settings, client)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """The module's sites (at most one per backend)."""
    with contextlib.ExitStack() as stack:
        yield Sites(stack, tmp_path_factory.mktemp)


@pytest.fixture(params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, sites: Sites) -> Site:
    """The site of each backend in turn."""
    return sites.get(request.param)


@pytest.fixture
def pg_site(sites: Sites) -> Site:
    """The PostgreSQL site (for what only PostgreSQL can show)."""
    return sites.get("postgresql")


@pytest.fixture
def big(site: Site) -> Tenant:
    """An account of the site holding BIG calls (made once per site)."""
    return site.big()


def tenant_with_calls(site: Site, n: int) -> Tenant:
    """A new account with n demo calls."""
    tenant = make_tenant(site.engine)
    counts = load_records(site.engine, tenant.account_id, generate_calls(n, seed=n, tz="UTC"), n, "calls")
    assert counts["inserted"] == n
    return tenant


def export(client: TestClient, tenant: Tenant, endpoint: str = "exportExcel") -> str:
    """Ask for an export of all the tenant's calls; its requestId."""
    got = call(client, endpoint, tenant.creds)
    assert got["status"] == "success" and got["state"] == "pending", got
    return got["requestId"]


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll check() until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (got := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return got


def wait_mid_export(site: Site, request_id: str, proc: WorkerProcess) -> sa.Row:
    """Wait until the worker has written rows of the job (it has sent a heartbeat with progress)."""

    def midway() -> sa.Row | None:
        assert proc.alive(), proc.log()[-3000:]
        row = site.job(request_id)
        assert row.state in ("pending", "running"), f"the export ended {row.state} before it was caught"
        return row if row.state == "running" and row.row_count > 0 else None

    return wait_until(midway, 30, "the export to be running")


def stored(root: Path, request_id: str) -> list[Path]:
    """Every stored object of the request, and any partial upload left anywhere."""
    return sorted(p for p in root.rglob("*") if p.is_file() and (request_id in p.name or p.suffix == ".part"))


def xlsx_data_rows(data: bytes) -> int:
    """Rows of the first (Calls) sheet, header excluded, counted in the sheet's XML."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert re.search(rb'<sheet name="Calls" sheetId="1"', zf.read("xl/workbook.xml"))
        return zf.read("xl/worksheets/sheet1.xml").count(b"<row ") - 1


def csv_data_rows(data: bytes) -> int:
    """Records of a CSV file, header excluded."""
    return len(list(csv.reader(io.StringIO(data.decode("utf-8"))))) - 1


def download(client: TestClient, tenant: Tenant, request_id: str, endpoint: str = "downloadExcel") -> Any:
    """The file's bytes, or the error envelope."""
    resp = client.post(f"/api/v2/callreport/{endpoint}", json={**tenant.creds, "requestId": request_id})
    assert resp.status_code == 200
    return resp.json() if resp.headers["content-type"].startswith("application/json") else resp.content


def assert_done_once(site: Site, tenant: Tenant, request_id: str, rows: int, attempts: int) -> None:
    """The job is done, with one stored file that holds `rows` rows and matches the job's digest."""
    job = site.job(request_id)
    assert (job.state, job.error, job.attempts, job.row_count) == ("done", None, attempts, rows)
    assert stored(site.root, request_id) == [site.root / job.storage_key]
    data = (site.root / job.storage_key).read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (job.file_size, job.sha256)
    assert xlsx_data_rows(data) == rows
    assert download(site.client, tenant, request_id) == data


# --- 1, 2: a worker dies or is stopped mid-export ------------------------------------------------


def test_killed_worker_job_is_taken_up_after_the_lease_and_done_once(site, big, worker_procs):
    proc = worker_procs.start(site.worker_settings())
    request_id = export(site.client, big)
    wait_mid_export(site, request_id, proc)
    proc.signal(signal.SIGKILL)
    assert proc.wait(5) == -signal.SIGKILL
    job = site.job(request_id)
    assert (job.state, job.attempts) == ("running", 1) and job.lease_owner  # the dead worker's lease
    second = site.worker()
    # Until its lease runs out the job is not taken: its worker may only be slow.
    if time.time() < job.lease_expires_at - 0.5:
        assert second.run_one() is None
        assert site.job(request_id).lease_owner == job.lease_owner
    wait_until(lambda: time.time() > job.lease_expires_at, LEASE + 1, "the lease to run out")
    assert second.run_one() == "done"
    assert_done_once(site, big, request_id, BIG, attempts=2)


def test_sigterm_hands_the_job_back_at_once(site, big, worker_procs):
    proc = worker_procs.start(site.worker_settings())
    request_id = export(site.client, big)
    wait_mid_export(site, request_id, proc)
    asked = time.monotonic()
    proc.signal(signal.SIGTERM)
    assert proc.wait(5) == 0, proc.log()[-3000:]
    assert time.monotonic() - asked < 5
    job = site.job(request_id)
    assert (job.state, job.lease_owner, job.lease_expires_at) == ("pending", None, None)
    assert "handed back 1 job" in proc.log()
    assert not any(proc.tmp.iterdir()), "the stopped worker left its temporary files"
    # No lease to wait for: the next worker takes it at once, and a graceful stop is no failed attempt.
    assert site.worker().run_one() == "done"
    assert_done_once(site, big, request_id, BIG, attempts=1)


# --- 3: several workers on one queue -------------------------------------------------------------


def test_several_workers_never_run_one_job_twice(pg_site, worker_procs):
    site = pg_site
    tenant = tenant_with_calls(site, 500)
    workers = [worker_procs.start(site.worker_settings()) for _ in range(3)]
    ids = [export(site.client, tenant) for _ in range(10)]

    def all_done() -> bool:
        states = [site.job(i).state for i in ids]
        assert not set(states) - {"pending", "running", "done"}, states
        return states == ["done"] * len(ids)

    wait_until(all_done, 60, "every job to be done")
    for proc in workers:
        proc.signal(signal.SIGTERM)
    assert [proc.wait(10) for proc in workers] == [0, 0, 0]
    runs = {i: [p.log().count(f"runs export {i} ") for p in workers] for i in ids}
    assert all(sum(counts) == 1 for counts in runs.values()), runs
    assert sum(1 for p in range(3) if any(runs[i][p] for i in ids)) >= 2, "one worker took every job"
    for request_id in ids:
        assert_done_once(site, tenant, request_id, 500, attempts=1)


# --- 4: the database goes away -------------------------------------------------------------------


def test_database_outage_is_1010_and_work_resumes_by_itself(pg_site, worker_procs):
    site, big = pg_site, pg_site.big()
    small = tenant_with_calls(site, 50)
    proc = worker_procs.start(site.worker_settings())
    in_flight = export(site.client, big)
    wait_mid_export(site, in_flight, proc)
    with database_away(site):
        assert call(site.client, "reportCount", small.creds) == DB_DOWN
        assert call(site.client, "exportCsv", small.creds) == DB_DOWN
        assert call(site.client, "exportStatus", {**big.creds, "requestId": in_flight}) == DB_DOWN
        wait_until(lambda: "database unavailable" in proc.log(), 10, "the worker to meet the outage")
        time.sleep(0.5)  # a few more polls of the worker fail
        assert proc.alive(), proc.log()[-3000:]
    # The same app recovers without a restart: its pool pre-pings and reconnects.
    assert call(site.client, "reportCount", small.creds) == {"status": "success", "count": 50}
    queued = export(site.client, small, "exportCsv")
    wait_until(lambda: {site.job(i).state for i in (in_flight, queued)} == {"done"}, 30, "both jobs")
    assert_done_once(site, big, in_flight, BIG, attempts=2)  # its lease ran out during the outage
    assert csv_data_rows(download(site.client, small, queued, "downloadCsv")) == 50
    assert proc.alive() and "Traceback" not in proc.log(), proc.log()[-3000:]


# --- 5, 6: storage goes away, or a write to it fails halfway -------------------------------------


def test_storage_outage_fails_the_export_by_name_and_recovers(site, private_moto_server, s3_env):
    tenant = tenant_with_calls(site, 40)
    bucket, url = unique_bucket(), private_moto_server.url
    worker = site.worker(S3Storage(bucket, "exports", url))
    app = create_app(site.settings, engine=site.engine, storage=S3Storage(bucket, "exports", url))
    with TestClient(app) as client:
        first = export(client, tenant, "exportCsv")
        assert worker.run_one() == "done"
        assert csv_data_rows(download(client, tenant, first, "downloadCsv")) == 40

        private_moto_server.stop()
        second = export(client, tenant, "exportCsv")
        assert worker.run_one() == "failed"
        status = call(client, "exportStatus", {**tenant.creds, "requestId": second})["data"]
        assert status["state"] == "failed" and "storage" in status["error"], status
        assert f":{private_moto_server.port}" not in status["error"]  # the owner is not shown the address
        assert download(client, tenant, first, "downloadCsv") == WENT_WRONG
        assert download(client, tenant, second, "downloadCsv") == NO_FILE

        private_moto_server.start()  # in-memory: the bucket and the first file are gone
        third = export(client, tenant, "exportCsv")
        assert worker.run_one() == "done"
        assert csv_data_rows(download(client, tenant, third, "downloadCsv")) == 40
        assert download(client, tenant, first, "downloadCsv") == NO_FILE


def assert_failed_without_file(site: Site, tenant: Tenant, request_id: str, reason: str) -> None:
    """The job failed naming storage and the reason; nothing of it is left in storage."""
    job = site.job(request_id)
    assert job.state == "failed" and "storage" in job.error and reason in job.error, job.error
    assert job.storage_key is None
    assert stored(site.root, request_id) == []
    assert download(site.client, tenant, request_id, "downloadCsv") == NO_FILE


def test_local_write_failing_halfway_fails_the_job_and_leaves_no_file(site, monkeypatch):
    tenant = tenant_with_calls(site, 300)
    written: list[int] = []

    def copy_half_then_fail(src, dst, length=0):
        data = src.read()
        dst.write(data[: len(data) // 2])
        dst.flush()
        written.append(os.fstat(dst.fileno()).st_size)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(shutil, "copyfileobj", copy_half_then_fail)
    request_id = export(site.client, tenant, "exportCsv")
    assert site.worker().run_one() == "failed"
    assert written and written[0] > 0  # the disk filled up halfway through the copy
    assert_failed_without_file(site, tenant, request_id, os.strerror(errno.ENOSPC))


class HalfUpload:
    """A store that keeps the first half of an upload under its key, then loses the connection."""

    def __init__(self, inner: LocalStorage) -> None:
        self.inner = inner

    def put_file(self, key: str, path: Path) -> None:
        """Store half the file, then fail."""
        half = path.with_name("half")
        half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        self.inner.put_file(key, half)
        raise StorageError(f"upload of {key!r} failed: connection reset")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_upload_failing_halfway_fails_the_job_and_leaves_no_file(site):
    tenant = tenant_with_calls(site, 300)
    request_id = export(site.client, tenant, "exportCsv")
    assert site.worker(HalfUpload(site.storage)).run_one() == "failed"
    assert_failed_without_file(site, tenant, request_id, "connection reset")


# --- the lease names its holder, whatever the host's name --------------------------------------


def test_a_worker_on_a_host_with_a_long_name_takes_jobs(pg_site, monkeypatch):
    # Kubernetes pod names run to 63 characters. PostgreSQL (unlike SQLite) enforces the lease
    # column's 64 characters, so a too-long worker name made every claim fail there.
    monkeypatch.setattr(socket, "gethostname", lambda: "callreport-worker-deployment-" + "x" * 34)
    tenant = tenant_with_calls(pg_site, 20)
    request_id = export(pg_site.client, tenant, "exportCsv")
    assert pg_site.worker().run_one() == "done"
    assert csv_data_rows(download(pg_site.client, tenant, request_id, "downloadCsv")) == 20
