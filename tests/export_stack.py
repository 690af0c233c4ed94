"""An app stack to run export requests on, and an account with records to export."""

from dataclasses import dataclass
from typing import Any

import boto3
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.storage.local import LocalStorage
from callreport.worker import Worker
from tests.export_data import (
    ACCOUNT_TZ,
    ingest,
    make_records,
)  # fmt: skip
from tests.factories import Tenant, call, make_tenant

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "jsonl": "application/gzip",
}
EXTENSION = {"csv": "csv", "xlsx": "xlsx", "pdf": "pdf", "jsonl": "jsonl.gz"}
EXPORT = {"csv": "exportCsv", "xlsx": "exportExcel", "pdf": "exportPdf", "jsonl": "exportJsonl"}
DOWNLOAD = {"csv": "downloadCsv", "xlsx": "downloadExcel", "pdf": "downloadPdf", "jsonl": "downloadJsonl"}
FILE_NOT_EXISTS = {"status": "error", "message": "File Not Exists", "code": 1009}
INVALID_PARAMETER = {"status": "error", "message": "Invalid parameter", "code": 1000}
INVALID_PARAMETERS = {"status": "error", "message": "Invalid parameters", "code": 1000}


@dataclass
class Stack:
    """An app, its storage and what a test needs to run jobs on it."""

    client: TestClient
    storage: Any
    engine: sa.Engine
    settings: Any

    def worker(self, settings: Any = None) -> Worker:
        """A worker on this stack's database and storage."""
        return Worker(self.engine, self.storage, settings or self.settings, name="test")

    def drain(self, settings: Any = None) -> list[str]:
        """Run every waiting job (this test's and any left by others); their outcomes."""
        worker, outcomes = self.worker(settings), []
        while (outcome := worker.run_one()) is not None:
            outcomes.append(outcome)
        return outcomes

    def call(self, name: str, creds: dict, **body: Any) -> dict:
        """POST an endpoint with credentials; the decoded JSON."""
        return call(self.client, name, {**creds, **body})

    def status(self, creds: dict, request_id: str) -> dict:
        """exportStatus data of a request."""
        out = self.call("exportStatus", creds, requestId=request_id)
        assert out["status"] == "success", out
        return out["data"]

    def download(self, fmt: str, creds: dict, request_id: str, **kw: Any):
        """The raw download response."""
        return self.client.post(f"/api/v2/callreport/{DOWNLOAD[fmt]}", json={**creds, "requestId": request_id}, **kw)

    def done(self, fmt: str, creds: dict, **body: Any) -> str:
        """A request run to done; its id."""
        out = self.call(EXPORT[fmt], creds, **body)
        assert out["status"] == "success", out
        self.drain()
        assert self.status(creds, out["requestId"])["state"] == "done"
        return out["requestId"]


def stored(storage: Any, request_id: str) -> list[str]:
    """The storage objects (temporary parts included) whose name holds the request id."""
    if isinstance(storage, LocalStorage):
        return [str(p) for p in storage.root.rglob(f"*{request_id}*")]
    s3 = boto3.client("s3", endpoint_url=storage.endpoint_url)
    if storage.bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        return []
    return [o["Key"] for o in s3.list_objects_v2(Bucket=storage.bucket).get("Contents", []) if request_id in o["Key"]]


@dataclass
class Calls:
    """An account with records; its first user sees everything."""

    owner: Tenant
    records: list[dict]

    def user(self, engine: sa.Engine, *permissions: str, agents: list[str] | None = None) -> Tenant:
        """Another user of the account."""
        return make_tenant(
            engine,
            permissions=permissions or ("LIST_CALL_LOG",),
            account_id=self.owner.account_id,
            agents=agents,
        )


def make_calls(client: TestClient, engine: sa.Engine) -> Calls:
    """40 records in a fresh account in Asia/Kolkata."""
    owner = make_tenant(engine, timezone=ACCOUNT_TZ)
    records = make_records(40, seed=7, prefix="API")
    ingest(client, owner, records)
    return Calls(owner, records)
