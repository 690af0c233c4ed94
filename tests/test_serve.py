"""`callreport serve`: one migration, API processes that render nothing, supervised export worker processes."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport import db, supervisor
from callreport.app import create_app
from callreport.settings import Settings
from tests.factories import make_tenant
from tests.fixtures.procs import callreport_command, stop, wait_for_health, worker_env
from tests.fixtures.s3 import free_port

pytestmark = pytest.mark.slow  # each test starts a real server and its processes


def children(pid: int) -> list[int]:
    """The process ids whose parent is pid (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def cmdline(pid: int) -> str:
    """The command line of a process ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def export_workers(serve_pid: int) -> list[int]:
    """The export worker processes `serve` started."""
    return [pid for pid in children(serve_pid) if " worker --supervised" in cmdline(pid)]


def api_processes(serve_pid: int) -> list[int]:
    """The API processes uvicorn spawned for `serve --workers N` (N > 1), once there are two."""
    found = [pid for pid in children(serve_pid) if "multiprocessing.spawn" in cmdline(pid)]
    return found if len(found) == 2 else []


def wait_until(check, seconds: float, what: str, log: Path):
    """check()'s first true value within seconds, else fail with the server's log."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} not within {seconds} s:\n{log.read_text(errors='replace')[-3000:]}")


class Served:
    """A live `callreport serve` on a fresh SQLite file: its process, log, database and a tenant."""

    def __init__(self, proc: subprocess.Popen, port: int, log: Path, url: str) -> None:
        self.proc, self.port, self.log, self.url = proc, port, log, url
        engine = db.make_engine(url)
        self.creds = make_tenant(engine).creds
        engine.dispose()

    def text(self) -> str:
        """Everything serve and its processes have logged."""
        return self.log.read_text(errors="replace")

    def ready_worker(self) -> int:
        """The pid of serve's one export worker, once it is waiting for jobs."""
        (pid,) = wait_until(lambda: export_workers(self.proc.pid), 30, "an export worker", self.log)
        pattern = rf"worker \S+:{pid}:[0-9a-f]+ started"
        wait_until(lambda: re.search(pattern, self.text()), 30, f"worker {pid} started", self.log)
        return pid

    def post(self, endpoint: str, body: dict) -> dict:
        """The envelope of one API call."""
        url = f"http://127.0.0.1:{self.port}/api/v2/callreport/{endpoint}"
        return httpx.post(url, json={**self.creds, **body}, timeout=10).json()

    def queue_export(self) -> str:
        """A CSV export request; its id."""
        return self.post("exportCsv", {"columns": ["callId"]})["requestId"]

    def state(self, request_id: str) -> str:
        """The request's state."""
        return self.post("exportStatus", {"requestId": request_id})["data"]["state"]

    def rendered_by(self, request_id: str, seconds: float = 30) -> int:
        """Wait until the export is done; the process id of the worker that ran it (from its log line)."""
        wait_until(lambda: self.state(request_id) == "done", seconds, f"export {request_id} done", self.log)
        found = re.search(rf"worker \S+:(\d+):[0-9a-f]+ runs export {request_id}", self.text())
        assert found, self.text()[-3000:]
        return int(found.group(1))


@contextlib.contextmanager
def serve(tmp_path: Path, *args: str, **settings: str) -> Iterator[Served]:
    """`callreport serve` with these arguments and settings; stopped (and reaped) afterwards."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = worker_env({"CALLREPORT_DATABASE_URL": url, "CALLREPORT_DATA_DIR": str(tmp_path), **settings})
    env.setdefault("CALLREPORT_WORKER_POLL_SECONDS", "0.2")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*callreport_command(), "serve", "--port", str(port), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_for_health(port, proc, log, seconds=60)
        yield Served(proc, port, log, url)
    finally:
        stop(proc, 40)


def test_exports_render_in_a_worker_process_not_in_the_api_process(tmp_path: Path):
    with serve(tmp_path) as served:
        worker = served.ready_worker()
        rendered_by = served.rendered_by(served.queue_export())
        text = served.text()
    assert rendered_by == worker != served.proc.pid
    # Every worker that ever started names its process; none is the API process (an embedded thread).
    started = {int(pid) for pid in re.findall(r"worker \S+:(\d+):[0-9a-f]+ started", text)}
    assert started == {worker}


def test_a_killed_worker_is_restarted_and_a_queued_export_completes(tmp_path: Path):
    with serve(tmp_path) as served:
        first = served.ready_worker()
        os.kill(first, signal.SIGKILL)
        request_id = served.queue_export()  # queued while no worker runs
        rendered_by = served.rendered_by(request_id)
        assert export_workers(served.proc.pid) == [rendered_by]
    assert rendered_by != first
    assert f"export worker process {first} exited with -9; restarting" in served.text()


def test_sigterm_on_serve_stops_its_worker_which_hands_back_its_job(tmp_path: Path):
    with serve(tmp_path) as served:
        worker = served.ready_worker()
        served.proc.terminate()
        served.proc.wait(timeout=40)
        assert not Path(f"/proc/{worker}").exists()  # stopped and reaped by serve: no orphan, no zombie
    assert re.search(rf"worker \S+:{worker}:[0-9a-f]+ stopped", served.text())


def test_a_killed_serve_leaves_no_worker_behind(tmp_path: Path):
    with serve(tmp_path) as served:
        worker = served.ready_worker()
        served.proc.kill()  # no chance to stop its workers: the worker notices by itself
        served.proc.wait(timeout=10)

        def exited() -> bool:
            with contextlib.suppress(OSError):
                return Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
            return True

        wait_until(exited, 15, f"worker {worker} exits", served.log)
    assert re.search(rf"worker \S+:{worker}:[0-9a-f]+ stopped", served.text())


def test_embedded_worker_false_serves_the_api_only(tmp_path: Path):
    with serve(tmp_path, CALLREPORT_EMBEDDED_WORKER="false") as served:
        request_id = served.queue_export()
        time.sleep(2)  # ten polls of a worker, were there one
        assert children(served.proc.pid) == []
        assert served.state(request_id) == "pending"
    assert "no export worker" in served.text()


def test_two_api_processes_share_one_supervised_worker_and_migrate_once(tmp_path: Path):
    with serve(tmp_path, "--workers", "2") as served:
        worker = served.ready_worker()
        api = wait_until(lambda: api_processes(served.proc.pid), 30, "two API processes", served.log)
        assert served.rendered_by(served.queue_export()) == worker
        assert worker not in api and len(api) == 2
    assert served.text().count("database migrated") == 1


def test_export_workers_option_starts_that_many(tmp_path: Path):
    with serve(tmp_path, "--export-workers", "2") as served:
        pids = wait_until(lambda: len(export_workers(served.proc.pid)) == 2, 30, "two export workers", served.log)
        assert pids


def test_the_app_never_migrates_by_itself(tmp_path: Path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    settings = Settings(data_dir=tmp_path, embedded_worker=True)
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.get("/healthz").status_code in (200, 503)
    assert sa.inspect(engine).get_table_names() == []
    engine.dispose()


def test_a_worker_dying_at_once_is_restarted_with_a_growing_back_off(monkeypatch, caplog):
    monkeypatch.setattr(supervisor, "FIRST_DELAY", 0.2)
    monkeypatch.setattr(supervisor, "WATCH_SECONDS", 0.02)
    pool = supervisor.WorkerPool(1, [sys.executable, "-c", "raise SystemExit(3)"])
    with caplog.at_level(logging.INFO, logger="callreport.supervisor"):
        pool.start()
        time.sleep(2.0)  # restarts due at 0.2, 0.6, 1.4 (then 3.0) s; without back-off every 0.02 s
        pool.stop()
    starts = [r for r in caplog.records if "started" in r.getMessage()]
    delays = re.findall(r"restarting in ([\d.]+) s", caplog.text)
    assert 3 <= len(starts) <= 5, caplog.text
    assert delays[:3] == ["0.2", "0.4", "0.8"] and "exited with 3" in caplog.text


def test_stop_terminates_the_workers_and_waits_for_them():
    pool = supervisor.WorkerPool(2, [sys.executable, "-c", "import time; time.sleep(60)"])
    pool.start()
    pids = pool.pids()
    began = time.monotonic()
    pool.stop()
    assert len(pids) == 2 and pool.pids() == []
    assert time.monotonic() - began < 10
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
