"""JSON Lines exports (§7): gzip, one call per line, each line the `list` record of that call."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from callreport.export.columns import resolve_columns
from callreport.export.formats import ABSENT
from callreport.export.jsonl import write
from callreport.export.meta import PROGRESS_EVERY
from tests.export_data import (
    ACCOUNT_TZ,
    DEFAULT_COLUMNS,
    MASKED_FIELDS,
    TIME_FIELDS,
    VIEW_TZ,
    Dataset,
    export,
    ingest,
    local,
    make_records,
    mask,
    ordered,
    select,
)  # fmt: skip
from tests.factories import call, make_tenant

FILTERS = {"startDate": "2024-03-07", "endDate": "2024-03-11", "timezone": VIEW_TZ}


@pytest.fixture(scope="module")
def dataset(client: TestClient, engine: sa.Engine) -> Dataset:
    """150 records in a fresh account, a user who sees numbers and one who does not."""
    viewer = make_tenant(engine, timezone=ACCOUNT_TZ)
    masked = make_tenant(engine, permissions=["LIST_CALL_LOG"], account_id=viewer.account_id)
    records = make_records(150, seed=20240307, prefix="JSL")
    ingest(client, viewer, records)
    return Dataset(viewer, masked, records, "")


@pytest.fixture
def run(client: TestClient, engine: sa.Engine, local_storage: Any, settings: Any):
    """export(creds, endpoint, body) on the session's app and local storage."""
    return lambda creds, endpoint, body: export(client, engine, local_storage, settings, creds, endpoint, body)


def lines(body: bytes) -> list[dict]:
    """The file's records, after checking it is gzip and every line one JSON object."""
    assert body[:2] == b"\x1f\x8b"
    text = gzip.decompress(body).decode("utf-8")
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def listed(client: TestClient, creds: dict, body: dict) -> list[dict]:
    """Every record `list` answers for these filters, page after page by cursor."""
    out, cursor = [], None
    while True:
        page = call(client, "list", {**creds, **body, "limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert page["status"] == "success", page
        out += page["data"]
        if (cursor := page["nextCursor"]) is None:
            return out


def expected_record(rec: dict, masked: bool) -> dict:
    """The list record the contract asks for, computed from what was ingested."""
    out = {}
    for name in DEFAULT_COLUMNS:
        value = rec.get(name)
        if name in TIME_FIELDS:
            value = local(value).isoformat()
        elif name in MASKED_FIELDS and masked:
            value = mask(value)
        out[name] = value
    return out


@pytest.mark.parametrize("who", ["viewer", "masked"])
def test_lines_equal_the_list_records(client: TestClient, dataset: Dataset, run, who: str) -> None:
    tenant = getattr(dataset, who)
    body = {**FILTERS, "sortBy": "agentName", "sortOrder": "asc"}
    data, content, resp = run(tenant.creds, "exportJsonl", body)
    got = lines(content)
    assert got == listed(client, tenant.creds, body)
    # The same records, independently of the service: its order, its times, its masking.
    tz_lo, tz_hi = local("2024-03-07T00:00:00-05:00"), local("2024-03-11T23:59:59-04:00")
    want = ordered(select(dataset.records, tz_lo.isoformat(), tz_hi.isoformat()), "agentName", "asc")
    assert [line["callId"] for line in got] == [r["callId"] for r in want]
    for line, rec in zip(got, want, strict=True):
        assert {k: line[k] for k in DEFAULT_COLUMNS} == expected_record(rec, who == "masked")
    assert data["rowCount"] == len(got) and 40 < len(got) < len(dataset.records)
    assert resp.headers["content-type"] == "application/gzip"
    assert resp.headers["content-disposition"] == 'attachment; filename="call_report.jsonl.gz"'
    assert resp.headers["content-length"] == str(len(content))


def test_columns_nest_call_analysis_keys(dataset: Dataset, run) -> None:
    columns = ["callAnalysis.sentiment", "callId", "customerNumber", "callAnalysis.score", "startTime"]
    body = {"columns": columns, "sortBy": "duration", "sortOrder": "desc", "timezone": VIEW_TZ}
    data, content, _ = run(dataset.masked.creds, "exportJsonl", body)
    got = lines(content)
    assert data["columns"] == columns
    for line, rec in zip(got, ordered(dataset.records, "duration", "desc"), strict=True):
        analysis = rec["callAnalysis"]
        # A key the call lacks is left out, as list leaves it out; a null value stays null.
        nested = {k: analysis[k] for k in ("sentiment", "score") if k in analysis}
        assert line == {
            "callAnalysis": nested,
            "callId": rec["callId"],
            "customerNumber": mask(rec["customerNumber"]),
            "startTime": local(rec["startTime"]).isoformat(),
        }
        assert list(line) == ["callAnalysis", "callId", "customerNumber", "startTime"]
    assert any("sentiment" not in line["callAnalysis"] for line in got)
    assert any(line["callAnalysis"].get("sentiment", 0) is None for line in got)


def test_empty_export_is_an_empty_gzip_and_titles_name_it(dataset: Dataset, run) -> None:
    body = {"startDate": "2030-01-01", "endDate": "2030-01-02", "title": "Rapport été"}
    data, content, resp = run(dataset.viewer.creds, "exportJsonl", body)
    assert lines(content) == [] and gzip.decompress(content) == b""
    assert (data["rowCount"], data["fileSize"]) == (0, len(content))
    assert resp.headers["content-disposition"] == (
        "attachment; filename=\"Rapport _t_.jsonl.gz\"; filename*=UTF-8''Rapport%20%C3%A9t%C3%A9.jsonl.gz"
    )
    assert resp.headers["content-length"] == str(len(content))


def test_whole_call_analysis_with_a_key_column(tmp_path: Path) -> None:
    columns = resolve_columns(["callAnalysis", "callId", "callAnalysis.a"])
    rows = [({"a": 1, "b": 2}, "c1", 1), ({}, "c2", ABSENT)]
    path = tmp_path / "out.jsonl.gz"
    assert write(columns, rows, path, lambda: None) == 2
    got = lines(path.read_bytes())
    # The whole object already holds every key; it sits where callAnalysis was first asked for.
    assert got == [{"callAnalysis": {"a": 1, "b": 2}, "callId": "c1"}, {"callAnalysis": {}, "callId": "c2"}]
    assert [list(line) for line in got] == [["callAnalysis", "callId"]] * 2


def test_writer_streams_in_batches(tmp_path: Path) -> None:
    columns = resolve_columns(["callId", "callAnalysis.k"])
    pulled, seen = [0], []

    def rows() -> Any:
        for i in range(3 * PROGRESS_EVERY + 5):
            pulled[0] += 1
            yield (f"c{i}", ABSENT if i % 2 else i)

    path = tmp_path / "out.jsonl.gz"
    assert write(columns, rows(), path, lambda: None, lambda n: seen.append((n, pulled[0]))) == 3 * PROGRESS_EVERY + 5
    # Progress comes after every batch, before the next is read: rows are never all in memory.
    assert [n for n, _ in seen] == [PROGRESS_EVERY, 2 * PROGRESS_EVERY, 3 * PROGRESS_EVERY, 3 * PROGRESS_EVERY + 5]
    assert all(p - n <= 1 for n, p in seen)
    got = lines(path.read_bytes())
    assert got[0] == {"callId": "c0", "callAnalysis": {"k": 0}} and got[1] == {"callId": "c1", "callAnalysis": {}}
