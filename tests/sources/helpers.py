"""Shared helpers of the sources tests: the real corpus, and records reduced to what a test checks."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from callreport import db
from callreport.cli import app as cli_app
from callreport.sources import credentials
from tests.factories import make_tenant, project_root


def _corpus_dir() -> Path:
    """The real-CDR corpus: $CALLREPORT_CDR_CORPUS, else `shared/` beside this checkout (as CI lays
    it), else beside the repository this one was cloned from (`git clone . /tmp/x`)."""
    if os.environ.get("CALLREPORT_CDR_CORPUS"):
        return Path(os.environ["CALLREPORT_CDR_CORPUS"])
    tail = Path("shared", "cdr-corpus", "sources")
    beside = project_root().parent / tail
    if beside.is_dir():
        return beside
    origin = subprocess.run(
        ["git", "-C", str(project_root()), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / tail).is_dir():
        return Path(origin).resolve().parent / tail
    return beside  # missing: the tests that read it fail naming this path


CORPUS = _corpus_dir()

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


def master(uid, src, dst, ctx, chan, dchan, app, data, start, answer, end, dur, bill, disp, account=""):
    """One cdr_csv row (18 fields) as Asterisk writes it: strings quoted, numbers bare."""
    fields = [account, src, dst, ctx, f'"{src}" <{src}>', chan, dchan, app, data]
    head = ",".join('"' + f.replace('"', '""') + '"' for f in fields)
    answered = f'"{answer}"' if answer else ""
    return f'{head},"{start}",{answered},"{end}",{dur},{bill},"{disp}","DOCUMENTATION","{uid}",""\n'


# Three outbound calls from extension 2001 and, on line 3, a row whose duration is not a number.
OUTBOUND = [
    master("1.1", "2001", "0612345678", "from-internal", "SIP/2001-1", "SIP/carrier-2", "Dial", "SIP/carrier",
           "2025-03-01 10:00:00", "2025-03-01 10:00:05", "2025-03-01 10:01:05", 65, 60, "ANSWERED"),
    master("1.2", "2001", "0612345679", "from-internal", "SIP/2001-3", "SIP/carrier-4", "Dial", "SIP/carrier",
           "2025-03-01 10:02:00", "", "2025-03-01 10:02:20", 20, 0, "BUSY"),
    master("1.3", "2001", "0612345670", "from-internal", "SIP/2001-5", "SIP/carrier-6", "Dial", "SIP/carrier",
           "2025-03-01 10:03:00", "", "2025-03-01 10:03:30", 30, 0, "NO ANSWER"),
]  # fmt: skip


class Cli:
    """The command line on the test's database."""

    def __init__(self, database_url: str, data_dir) -> None:
        self.env = {"CALLREPORT_DATABASE_URL": database_url, "CALLREPORT_DATA_DIR": str(data_dir)}

    def run(self, *args: str, code: int = 0) -> dict:
        result = CliRunner().invoke(cli_app, [*args, "--json"], env=self.env)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, result.stdout
        return json.loads(lines[0])


def outbound(n: int) -> str:
    """Outbound call n from extension 2001: one cdr_csv row, uniqueid "n.0"."""
    start = f"2025-03-01 10:{n // 60:02d}:{n % 60:02d}"
    return master(f"{n}.0", "2001", f"06{n:08d}", "from-internal", f"SIP/2001-{n}", f"SIP/carrier-{n}", "Dial",
                  "SIP/carrier", start, start, start, 0, 0, "ANSWERED")  # fmt: skip


URL = "/api/v2/sources/freeswitch"
ONEX = [corpus(f"freeswitch-onex-abhinav-freeswitch-debian-docker-{i}.json") for i in (1, 2)]


def make_source(engine, include_internal: bool = True) -> tuple[str, dict]:
    account = make_tenant(engine).account_id
    with db.writing(engine) as conn:
        return account, credentials.create(conn, account, "freeswitch", include_internal, "http://pbx.example")


def auth(made: dict, password: str | None = None) -> dict:
    pair = f"{made['username']}:{password or made['password']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
