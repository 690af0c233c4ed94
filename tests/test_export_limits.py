"""A PDF export over CALLREPORT_PDF_MAX_ROWS fails with a reason and leaves no file."""

from __future__ import annotations

from callreport.demo import generate_calls
from callreport.worker import Worker
from tests.factories import call


def test_pdf_over_the_row_cap_fails_with_reason(client, engine, settings, local_storage, tenant) -> None:
    records = list(generate_calls(30, seed=5, days=3))
    assert call(client, "ingest", {**tenant.creds, "calls": records})["inserted"] == 30
    small = settings.model_copy(update={"pdf_max_rows": 10})
    rid = call(client, "exportPdf", {**tenant.creds})["requestId"]
    assert Worker(engine, local_storage, small).run_one() == "failed"
    status = call(client, "exportStatus", {**tenant.creds, "requestId": rid})["data"]
    assert status["state"] == "failed"
    assert "30 calls match" in status["error"] and "at most 10" in status["error"]
    assert call(client, "downloadPdf", {**tenant.creds, "requestId": rid}) == {
        "status": "error",
        "message": "File Not Exists",
        "code": 1009,
    }
    ok = call(client, "exportPdf", {**tenant.creds, "statuses": ["answered"], "maxDuration": 10**6})["requestId"]
    assert Worker(engine, local_storage, settings.model_copy(update={"pdf_max_rows": 30})).run_one() == "done"
    assert call(client, "exportStatus", {**tenant.creds, "requestId": ok})["data"]["state"] == "done"
