"""Shared helpers of the sources tests: the real corpus, and records reduced to what a test checks."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import project_root

CORPUS = project_root().parent / "shared" / "cdr-corpus" / "sources"

# The fields a hand-written expectation states; events are checked separately.
CHECKED = (
    "callId", "startTime", "endTime", "duration", "talkDuration", "waitTime", "direction", "callType",
    "status", "callerNumber", "customerNumber", "didNumber", "agentId", "queueName",
)  # fmt: skip


def corpus(name: str) -> Path:
    """A file of the real-CDR corpus (never copied into the repository)."""
    return CORPUS / name


def by_id(outcomes) -> dict[str, dict]:
    """Records by callId."""
    return {o.record["callId"]: o.record for o in outcomes if o.record is not None}


def brief(record: dict) -> dict:
    """The checked fields of a record."""
    return {k: record[k] for k in CHECKED}


def errors(outcomes) -> list[tuple]:
    """(where, reason) of every rejected row."""
    return [(o.where, o.error) for o in outcomes if o.error is not None]
