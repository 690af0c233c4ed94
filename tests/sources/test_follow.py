"""`import asterisk-csv --follow`: appended rows, rotation, restarts, and a clean stop on a signal (§11)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from callreport.models import calls
from callreport.sources.follow import Follower
from callreport.sources.mapping import Mapping
from tests.factories import make_tenant
from tests.sources.helpers import outbound

POLL = 0.05
DEADLINE = 20.0


def ids(engine, account: str) -> list[str]:
    with engine.connect() as conn:
        found = conn.execute(sa.select(calls.c.call_id).where(calls.c.account_id == account))
        return sorted(found.scalars(), key=lambda c: int(c.split(".")[0]))


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL)


class Running:
    """A follower in a thread, stopped (and joined) by stop()."""

    def __init__(self, engine, account: str, path) -> None:
        self.follower = Follower(engine, account, path, Mapping())
        self.event = threading.Event()
        self.thread = threading.Thread(target=self.follower.run, args=(self.event, POLL), daemon=True)
        self.thread.start()

    def stop(self):
        self.event.set()
        self.thread.join(DEADLINE)
        assert not self.thread.is_alive()
        return self.follower.summary


def append(path, first: int, last: int) -> None:
    with open(path, "a") as fh:
        fh.write("".join(outbound(n) for n in range(first, last + 1)))


def test_appended_rows_are_read_as_they_come(engine, tmp_path):
    account, path = make_tenant(engine).account_id, tmp_path / "Master.csv"
    append(path, 1, 3)
    run = Running(engine, account, path)
    try:
        wait_for(lambda: len(ids(engine, account)) == 3, "the first 3 calls")
        append(path, 4, 5)
        with open(path, "a") as fh:
            fh.write(outbound(6)[:30])  # half a row: Asterisk is still writing it
        wait_for(lambda: len(ids(engine, account)) == 5, "the appended calls")
        time.sleep(10 * POLL)
        assert len(ids(engine, account)) == 5  # the incomplete line waits
        with open(path, "a") as fh:
            fh.write(outbound(6)[30:])
        wait_for(lambda: len(ids(engine, account)) == 6, "the completed row")
    finally:
        summary = run.stop()
    assert (summary.inserted, summary.updated, summary.skipped, summary.rejected) == (6, 0, 0, 0)


def test_a_restart_neither_skips_nor_repeats(engine, tmp_path):
    account, path = make_tenant(engine).account_id, tmp_path / "Master.csv"
    append(path, 1, 4)
    run = Running(engine, account, path)
    wait_for(lambda: len(ids(engine, account)) == 4, "the first calls")
    assert run.stop().inserted == 4
    append(path, 5, 7)  # written while no follower ran
    with open(path, "a") as fh:
        fh.write("not,a,row\n")  # line 8
    run = Running(engine, account, path)
    wait_for(lambda: len(ids(engine, account)) == 7, "the rows written while stopped")
    time.sleep(5 * POLL)
    summary = run.stop()
    # Only the new rows were read: none of the first four came again (they would count as skipped).
    assert (summary.inserted, summary.updated, summary.skipped, summary.rejected) == (3, 0, 0, 1)
    assert summary.errors[0]["line"] == 8
    assert ids(engine, account) == [f"{n}.0" for n in range(1, 8)]


def test_rotation_by_rename_reads_the_old_tail_then_the_new_file(engine, tmp_path):
    account, path = make_tenant(engine).account_id, tmp_path / "Master.csv"
    append(path, 1, 2)
    run = Running(engine, account, path)
    try:
        wait_for(lambda: len(ids(engine, account)) == 2, "the first calls")
        old = tmp_path / "Master.csv.1"
        os.rename(path, old)  # logrotate's move; Asterisk writes its last rows to the open file
        append(old, 3, 3)
        append(path, 10, 11)  # then reopens Master.csv
        wait_for(lambda: len(ids(engine, account)) == 5, "the old tail and the new file")
    finally:
        summary = run.stop()
    assert ids(engine, account) == ["1.0", "2.0", "3.0", "10.0", "11.0"] and summary.inserted == 5


def test_truncation_starts_over_and_a_restart_after_rotation_reads_the_new_file(engine, tmp_path):
    account, path = make_tenant(engine).account_id, tmp_path / "Master.csv"
    append(path, 1, 3)
    run = Running(engine, account, path)
    try:
        wait_for(lambda: len(ids(engine, account)) == 3, "the first calls")
        with open(path, "w") as fh:  # copytruncate
            fh.write(outbound(20))
        wait_for(lambda: len(ids(engine, account)) == 4, "the row after the truncation")
    finally:
        run.stop()
    path.write_text(outbound(30) + outbound(31))  # replaced while stopped: another file, same name
    run = Running(engine, account, path)
    wait_for(lambda: len(ids(engine, account)) == 6, "the replaced file from its start")
    assert run.stop().inserted == 2


@pytest.mark.slow  # a subprocess: ~2.3 s
def test_the_command_stops_cleanly_on_sigterm(engine, database_url, tmp_path):
    account, path = make_tenant(engine).account_id, tmp_path / "Master.csv"
    append(path, 1, 2)
    env = {**os.environ, "CALLREPORT_DATABASE_URL": database_url, "CALLREPORT_DATA_DIR": str(tmp_path / "data")}
    args = ["import", "asterisk-csv", str(path), "--account", account, "--follow", "--poll-seconds", "0.05", "--json"]
    code = "from callreport.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: len(ids(engine, account)) == 2, "the follower process")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.decode().strip() == '{"inserted":2,"updated":0,"skipped":0,"rejected":0,"errors":[]}'
