"""`import asterisk-csv --follow`: a growing Master.csv read like `tail -F`, its position kept in the database.

Each poll reads the complete lines after the saved position (at most MAX_BYTES), stores their calls
and the new position in one transaction, so a restart neither skips nor repeats a row. While the file
grows, the calls seen in its last HOLD rows wait for the next poll (their other legs may still come);
once the file is quiet for one poll, everything read is stored. A replaced file (logrotate) is read to
its end before the new one is opened; a truncated or different file (another fingerprint) starts over.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Connection, Engine

from callreport import metrics
from callreport.repo import sources as sources_repo
from callreport.sources import asterisk
from callreport.sources.legs import Leg
from callreport.sources.mapping import Mapping
from callreport.sources.merge import merge
from callreport.sources.store import Loader, Summary

MAX_BYTES = 8 << 20  # read per poll: memory stays bounded however far behind the follower is
HOLD = 200  # rows at the growing end whose calls wait for one more poll
FINGERPRINT = 1024  # bytes at the start of a file that tell it from its successor


class FollowError(ValueError):
    """A followed file this importer cannot read (an unknown layout)."""


class Follower:
    """Follows one file for one account until stop is set; summary counts everything stored."""

    def __init__(
        self,
        engine: Engine,
        account_id: str,
        path: Path,
        mapping: Mapping,
        *,
        tick: Callable[[int], None] | None = None,
    ) -> None:
        self.engine, self.account_id, self.mapping, self.tick = engine, account_id, mapping, tick
        self.path = Path(path)
        self.key = str(self.path.resolve())
        self.summary = Summary()
        self.fh: BinaryIO | None = None
        self.inode = self.offset = self.line = 0
        self.layout: tuple | None = None
        self.last_size = -1

    def run(self, stop: threading.Event, poll: float = 1.0) -> Summary:
        """Poll until stop is set (a signal handler or a test sets it); returns the summary."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(poll)
        finally:
            if self.fh is not None:
                self.fh.close()
        return self.summary

    def step(self) -> None:
        """One poll: notice rotation, then store what is new."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return  # between a rotation's rename and the new file: the old handle is drained when it appears
        if self.fh is not None and st.st_ino != self.inode:
            self._consume(quiet=True)  # the old file's last rows (logrotate moved it; Asterisk reopened)
            self.fh.close()
            self.fh = None
        if self.fh is None:
            self._open(st)
        elif st.st_size < self.offset:
            self._start_over()  # truncated (copytruncate): a new file in the same inode
        quiet = st.st_size == self.last_size
        self.last_size = st.st_size
        self._consume(quiet)

    def _open(self, st: os.stat_result) -> None:
        self.fh, self.inode, self.layout = open(self.path, "rb"), st.st_ino, None
        saved = self._saved()
        if (
            saved is not None
            and st.st_size >= saved.offset
            and self._fingerprint(saved.fingerprint_size) == saved.fingerprint
        ):
            self.offset, self.line = saved.offset, saved.line
        else:
            self.offset = self.line = 0

    def _start_over(self) -> None:
        self.offset = self.line = 0
        self.layout = None

    def _fingerprint(self, size: int) -> str:
        self.fh.seek(0)
        return hashlib.sha256(self.fh.read(size)).hexdigest()

    def _read_layout(self) -> bool:
        """The file's layout from its first line; False while that line is incomplete."""
        self.fh.seek(0)
        first = self.fh.readline(1 << 16)
        if not first.endswith(b"\n"):
            return False
        layout = asterisk.detect(first)
        if layout is None:
            raise FollowError(
                f"{self.path.name}: line 1 is no layout this importer knows (cdr_csv, cdr_custom, cdr table)"
            )
        self.layout = layout
        if layout[1] and self.offset == 0:
            self.offset, self.line = len(first), 1  # a header row is no call
        return True

    def _consume(self, quiet: bool) -> None:
        """Store the calls of the complete lines after the position, and the new position, at once."""
        if self.layout is None and not self._read_layout():
            return
        self.fh.seek(self.offset)
        data = self.fh.read(MAX_BYTES)
        data = data[: data.rfind(b"\n") + 1]
        if not data:
            return
        starts = [0]  # byte offset in data of each line
        at = data.find(b"\n")
        while at != -1:
            starts.append(at + 1)
            at = data.find(b"\n", at + 1)
        items = list(asterisk.chunk_legs(data, self.line + 1, self.layout[0], self.mapping))
        cut = len(items) if quiet else _cut(items)
        if cut == 0:
            return
        taken = items[:cut]
        lines = len(starts) - 1 if cut == len(items) else items[cut].where - 1 - self.line
        offset, line = self.offset + starts[lines], self.line + lines
        loader = Loader(self.engine, self.account_id, batch=1 << 62)  # one transaction per poll, position included
        loader.summary = summary = self.summary
        stored = summary.inserted + summary.updated
        for outcome in merge(taken, self.mapping):
            loader.add(outcome)
        loader.flush(on_commit=lambda conn: self._save(conn, offset, line))
        metrics.imported("asterisk", summary.inserted + summary.updated - stored)  # committed: counted
        self.offset, self.line = offset, line
        if self.tick is not None:
            self.tick(lines)

    def _saved(self):
        with self.engine.connect() as conn:
            return sources_repo.position(conn, self.account_id, self.key)

    def _save(self, conn: Connection, offset: int, line: int) -> None:
        size = min(FINGERPRINT, offset)
        values = {
            "inode": self.inode,
            "fingerprint": self._fingerprint(size),
            "fingerprint_size": size,
            "offset": offset,
            "line": line,
            "updated_at": int(time.time()),
        }
        sources_repo.save_position(conn, self.account_id, self.key, values)


def _cut(items: list) -> int:
    """How many of the items to take now: none of a call that has a leg among the last HOLD rows."""
    held = {item.key for item in items[-HOLD:] if type(item) is Leg}
    for i, item in enumerate(items):
        if type(item) is Leg and item.key in held:
            return i
    return len(items)
