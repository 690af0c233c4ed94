"""Export jobs over time: cancelling, failing, retention and files lost from storage.
(The Excel writer's split over several sheets is tested in test_writers.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.export import run as export_run
from callreport.repo import leases
from callreport.settings import Settings
from callreport.storage import StorageError
from tests.export_data import ingest, make_records, parse_csv
from tests.export_stack import FILE_NOT_EXISTS, Calls, Stack, stored
from tests.factories import make_tenant

BIG = 4500  # rows: three of the writers' progress batches, so a cancel lands mid-file


@pytest.fixture(scope="module")
def big(client: TestClient, engine: sa.Engine):
    """An account holding BIG records, per backend."""
    owner = make_tenant(engine)
    ingest(client, owner, make_records(BIG, seed=99, prefix="BIG"))
    return owner


def test_cancel_pending(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    stack.drain()  # whatever earlier tests left waiting
    rid = stack.call("exportCsv", creds)["requestId"]
    out = stack.call("exportCancel", creds, requestId=rid)
    assert out["status"] == "success" and out["data"]["state"] == "cancelled"
    assert stack.worker().run_one() is None
    data = stack.status(creds, rid)
    assert data["state"] == "cancelled" and data["startedAt"] is None and data["fileSize"] is None
    assert stack.download("csv", creds, rid).json() == FILE_NOT_EXISTS
    assert stored(stack.storage, rid) == []


def test_cancel_running_stops_promptly(stack: Stack, big, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = big.creds
    stack.drain()
    rid = stack.call("exportCsv", creds)["requestId"]
    # The worker pauses at its first progress report, so the test cancels a job truly mid-file.
    reached, resume, beats = threading.Event(), threading.Event(), []
    real = leases.heartbeat

    def paused(*args: Any, **kwargs: Any) -> bool:
        beats.append(kwargs.get("rows", args[-1] if args else None))
        reached.set()
        assert resume.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(leases, "heartbeat", paused)
    monkeypatch.setattr(export_run, "HEARTBEAT_SECONDS", 0.0)
    outcome: list[str | None] = []
    thread = threading.Thread(target=lambda: outcome.append(stack.worker().run_one()))
    thread.start()
    try:
        assert reached.wait(30), "the job never reported progress"
        assert stack.status(creds, rid)["state"] == "running"
        assert stack.download("csv", creds, rid).json() == FILE_NOT_EXISTS
        assert stack.call("exportCancel", creds, requestId=rid)["data"]["state"] == "cancelled"
    finally:
        resume.set()
        began = time.monotonic()
        thread.join(30)
    assert not thread.is_alive() and time.monotonic() - began < 5
    assert outcome == ["cancelled"] and len(beats) == 1  # stopped at the first report after the cancel
    data = stack.status(creds, rid)
    assert data["state"] == "cancelled" and data["fileSize"] is None and data["sha256"] is None
    assert stack.download("csv", creds, rid).json() == FILE_NOT_EXISTS
    assert stored(stack.storage, rid) == []


def test_cancel_done_changes_nothing(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    rid = stack.done("csv", creds, columns=["callId"])
    before = stack.status(creds, rid)
    out = stack.call("exportCancel", creds, requestId=rid)
    assert out["status"] == "success" and out["data"] == before
    assert stack.download("csv", creds, rid).status_code == 200 and stored(stack.storage, rid)


class FailingStorage:
    """A storage whose uploads fail, as an unreachable bucket's do."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def put_file(self, key: str, path: Path) -> None:
        """Fail like an unreachable store."""
        raise StorageError("storage unreachable (test)")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_failed_job_leaves_no_file(stack: Stack, calls: Calls, engine: sa.Engine, settings: Settings) -> None:
    creds = calls.owner.creds
    stack.drain()
    rid = stack.call("exportExcel", creds)["requestId"]
    broken = Stack(stack.client, FailingStorage(stack.storage), engine, settings)
    assert broken.drain() == ["failed"]
    data = stack.status(creds, rid)
    assert data["state"] == "failed" and "storage" in data["error"] and data["fileSize"] is None
    assert stack.download("xlsx", creds, rid).json() == FILE_NOT_EXISTS
    assert stored(stack.storage, rid) == []
    assert stack.call("exportCancel", creds, requestId=rid)["data"]["state"] == "failed"


def test_retention_expires_and_sweeps(stack: Stack, calls: Calls, tmp_path: Path) -> None:
    creds = calls.owner.creds
    brief = Settings(data_dir=tmp_path, embedded_worker=False, export_retention_days=1 / 86400)
    stack.drain()
    rid = stack.call("exportCsv", creds, columns=["callId"])["requestId"]
    assert stack.drain(brief) == ["done"]
    assert stored(stack.storage, rid)
    time.sleep(1.1)  # one second of retention
    data = stack.status(creds, rid)
    assert data["state"] == "expired" and instant_le(data["expiresAt"], datetime.now(UTC))
    assert stack.download("csv", creds, rid).json() == FILE_NOT_EXISTS

    def listed(*states: str) -> list[str]:
        return [r["requestId"] for r in stack.call("exportList", creds, states=list(states))["data"]]

    assert rid in listed("expired") and rid not in listed("done")
    stack.worker(brief)._sweep()  # what an idle worker does between polls
    assert stored(stack.storage, rid) == []
    assert stack.status(creds, rid)["state"] == "expired"
    assert rid in listed("expired") and rid not in listed("done")
    assert stack.call("exportCancel", creds, requestId=rid)["data"]["state"] == "expired"


def instant_le(text: str, moment: datetime) -> bool:
    """Whether an ISO 8601 time with offset is at or before the moment."""
    return datetime.fromisoformat(text) <= moment


def test_file_deleted_behind_the_service(stack: Stack, calls: Calls) -> None:
    creds = calls.owner.creds
    rid = stack.done("csv", creds, columns=["callId"])
    for path in stored(stack.storage, rid):
        Path(path).unlink()
    assert stack.download("csv", creds, rid).json() == FILE_NOT_EXISTS
    out = stack.call("exportList", creds)
    assert out["status"] == "success" and rid in {r["requestId"] for r in out["data"]}
    again = stack.done("csv", creds, columns=["callId", "status"])
    rows = parse_csv(stack.download("csv", creds, again).content)
    assert rows[0] == ["callId", "status"] and len(rows) == len(calls.records) + 1
