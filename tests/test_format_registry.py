"""The format registry drives creation, the worker and the downloads: every registered format
has both endpoints, the contract's extension and media type, and round-trips to a readable file."""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from callreport.export.formats import FORMATS
from callreport.models import export_requests
from tests.export_data import ACCOUNT_TZ, export, ingest, make_records, ordered
from tests.factories import Tenant, call, make_tenant

# §7 of the contract, written out here rather than read from the registry.
CONTRACT = {
    "csv": ("exportCsv", "downloadCsv", "text/csv; charset=utf-8", "call_report.csv"),
    "xlsx": (
        "exportExcel",
        "downloadExcel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "call_report.xlsx",
    ),
    "pdf": ("exportPdf", "downloadPdf", "application/pdf", "call_report.pdf"),
    "jsonl": ("exportJsonl", "downloadJsonl", "application/gzip", "call_report.jsonl.gz"),
}
FILE_NOT_EXISTS = {"status": "error", "message": "File Not Exists", "code": 1009}
CALL_ID = re.compile(r"REG-\d{4}")


def _csv_ids(body: bytes) -> list[str]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    assert rows[0] == ["callId", "duration"]
    return [row[0] for row in rows[1:]]


def _xlsx_ids(body: bytes) -> list[str]:
    ws = load_workbook(io.BytesIO(body))["Calls"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == ["callId", "duration"]
    return [row[0] for row in rows[1:]]


def _pdf_ids(body: bytes) -> list[str]:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages[1:])
    return CALL_ID.findall(text)


def _jsonl_ids(body: bytes) -> list[str]:
    lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    assert all(set(line) == {"callId", "duration"} for line in lines)
    return [line["callId"] for line in lines]


# A format added to the registry without a reader here fails test_every_format_has_a_reader.
READERS: dict[str, Callable[[bytes], list[str]]] = {
    "csv": _csv_ids,
    "xlsx": _xlsx_ids,
    "pdf": _pdf_ids,
    "jsonl": _jsonl_ids,
}


@pytest.fixture(scope="module")
def owner(client: TestClient, engine: sa.Engine) -> tuple[Tenant, list[dict]]:
    """A fresh account with 12 calls."""
    tenant = make_tenant(engine, timezone=ACCOUNT_TZ)
    records = make_records(12, seed=99, prefix="REG")
    ingest(client, tenant, records)
    return tenant, records


def test_every_format_has_a_reader_and_the_contract_spelling() -> None:
    assert set(READERS) == set(FORMATS) == set(CONTRACT)
    for name, fmt in FORMATS.items():
        export_name, download_name, media, file_name = CONTRACT[name]
        assert (fmt.export_endpoint, fmt.download_endpoint, fmt.media_type) == (export_name, download_name, media)
        assert f"call_report.{fmt.extension}" == file_name
        assert callable(importlib.import_module(fmt.writer).write)
        # The request's format is stored in this column: every name must fit it.
        assert len(name) <= export_requests.c.format.type.length


@pytest.mark.parametrize("name", list(FORMATS))
def test_both_endpoints_are_served(client: TestClient, owner: tuple[Tenant, list[dict]], name: str) -> None:
    tenant, _ = owner
    fmt = FORMATS[name]
    missing = client.post(f"/api/v2/callreport/{fmt.download_endpoint}", json={**tenant.creds, "requestId": "0" * 24})
    assert missing.status_code == 200 and missing.json() == FILE_NOT_EXISTS
    out = call(client, fmt.export_endpoint, {**tenant.creds, "columns": ["callId"], "title": "registry"})
    assert out["status"] == "success" and out["state"] == "pending"
    listed = call(client, "exportList", {**tenant.creds, "formats": [name]})
    assert out["requestId"] in [item["requestId"] for item in listed["data"]]
    assert {item["format"] for item in listed["data"]} == {name}
    call(client, "exportCancel", {**tenant.creds, "requestId": out["requestId"]})


@pytest.mark.parametrize("name", list(FORMATS))
def test_round_trip(
    client: TestClient,
    engine: sa.Engine,
    local_storage: Any,
    settings: Any,
    owner: tuple[Tenant, list[dict]],
    name: str,
) -> None:
    tenant, records = owner
    fmt = FORMATS[name]
    body = {"columns": ["callId", "duration"], "sortBy": "duration", "sortOrder": "asc"}
    data, content, resp = export(client, engine, local_storage, settings, tenant.creds, fmt.export_endpoint, body)
    assert READERS[name](content) == [r["callId"] for r in ordered(records, "duration", "asc")]
    _, _, media, file_name = CONTRACT[name]
    assert resp.headers["content-type"] == media
    assert resp.headers["content-disposition"] == f'attachment; filename="{file_name}"'
    assert int(resp.headers["content-length"]) == len(content) == data["fileSize"]
    assert (data["format"], data["rowCount"]) == (name, len(records))


def test_api_process_loads_no_writer() -> None:
    # The registry names writer modules; only the worker imports them (ReportLab, XlsxWriter).
    code = "import sys, callreport.app; print(sorted(m for m in ('reportlab', 'xlsxwriter') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
