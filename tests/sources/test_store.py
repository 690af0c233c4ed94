"""The import's loader on both databases: one call per callId per batch, the last one written (§11)."""

from __future__ import annotations

import sqlalchemy as sa

from callreport.models import calls
from callreport.sources.legs import Outcome
from callreport.sources.store import Loader


def _record(call_id: str, status: str, duration: int) -> dict:
    return {
        "callId": call_id, "startTime": "2025-03-01T10:00:00+00:00",
        "endTime": f"2025-03-01T10:00:{duration:02d}+00:00",
        "duration": duration, "talkDuration": 0, "holdDuration": 0, "waitTime": 0, "direction": "outbound",
        "callType": "manual", "status": status, "callerNumber": "2001", "customerNumber": "0612345678",
        "didNumber": None, "agentId": "2001", "agentName": None, "campaign": None, "department": None,
        "disposition": None, "queueName": None, "hangupBy": None, "recordingUrl": None, "callAnalysis": {},
        "events": [{"time": "2025-03-01T10:00:00+00:00", "type": "dial", "note": "x"}],
    }  # fmt: skip


def _load(engine, account_id: str, *records: dict) -> dict:
    with Loader(engine, account_id) as loader:
        for i, record in enumerate(records):
            loader.add(Outcome(i + 2, record=record), now=100)
        loader.flush()
    return loader.summary.as_dict()


def test_a_call_id_twice_in_one_batch_is_one_call_with_the_last_values(engine, tenant):
    first, later, other = _record("c-1", "busy", 20), _record("c-1", "answered", 30), _record("c-2", "busy", 5)
    got = _load(engine, tenant.account_id, first, other, later)
    assert (got["inserted"], got["updated"], got["skipped"]) == (2, 0, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(calls.c.call_id, calls.c.status, calls.c.end_ts, calls.c.events)
            .where(calls.c.account_id == tenant.account_id)
            .order_by(calls.c.call_id)
        ).all()
    assert [(r.call_id, r.status, r.end_ts) for r in rows] == [
        ("c-1", "answered", 1740823230),
        ("c-2", "busy", 1740823205),
    ]
    assert rows[0].events == [{"time": 1740823200, "type": "dial", "note": "x"}]  # JSON, not a string of it
    # The same again changes nothing; a changed call is updated, counted once.
    assert _load(engine, tenant.account_id, later, other)["skipped"] == 2
    again = _load(engine, tenant.account_id, later, _record("c-2", "answered", 5), other)
    assert (again["inserted"], again["updated"], again["skipped"]) == (0, 0, 2)
    changed = _load(engine, tenant.account_id, _record("c-2", "noanswer", 5))
    assert (changed["inserted"], changed["updated"], changed["skipped"]) == (0, 1, 0)
