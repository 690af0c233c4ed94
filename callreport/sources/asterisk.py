"""Asterisk CDRs as legs: cdr_csv's Master.csv, cdr_custom's stock layout, and exports of the cdr table."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from callreport.sources.clock import FIRST_YEAR, clock
from callreport.sources.legs import Channels, Leg, Outcome, Rejected
from callreport.sources.mapping import Mapping
from callreport.sources.merge import merge

# cdr_csv (cdr_csv.c): 16 fields; 18 with loguniqueid/loguserfield; 21 with Asterisk 12+ newcdrcolumns.
MASTER = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
    "peeraccount", "linkedid", "sequence",
)  # fmt: skip
MASTER_SIZES = (16, 18, 21)
# cdr_custom.conf.sample's stock mapping (every value quoted, no header).
CUSTOM = (
    "clid", "src", "dst", "dcontext", "channel", "dstchannel", "lastapp", "lastdata", "start", "answer",
    "end", "duration", "billsec", "disposition", "amaflags", "accountcode", "uniqueid", "userfield", "sequence",
)  # fmt: skip
# FreePBX's cdr table in column order, for a headerless export (a spreadsheet re-save).
FREEPBX = (
    "calldate",
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "userfield",
    "did",
    "recordingfile",
    "cnum",
    "cnam",
    "outbound_cnum",
    "outbound_cnam",
    "dst_cnam",
)  # fmt: skip  (a re-save adds unlabelled columns after dst_cnam: they are not read)
DATE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d|\d{1,2}/\d{1,2}/\d{4} ")
OUTCOMES = {"ANSWERED": "answered", "BUSY": "busy", "NO ANSWER": "noanswer"}  # FAILED, CONGESTION: failed
EMPTY = ("", "NULL")

RowReader = Callable[[list[str], int], "Leg | str"]


def read(source: Path | IO[bytes], mapping: Mapping) -> Iterator[Outcome]:
    """The calls of one Asterisk CSV file, as outcomes in file order."""
    return merge(legs(source, mapping), mapping)


def legs(source: Path | IO[bytes], mapping: Mapping) -> Iterator[Leg | Rejected]:
    """Each row of the file as a leg, or rejected with its line and reason; the layout comes from line 1."""
    if isinstance(source, Path):
        with open(source, "rb") as stream:
            yield from legs(stream, mapping)
        return
    # cdr_csv writes bytes as the channel gave them: non-UTF-8 names (0xA5) become U+FFFD, not an error.
    text = io.TextIOWrapper(source, encoding="utf-8", errors="replace", newline="")
    rows = csv.reader(text)
    first = next(rows, None)
    while first == []:
        first = next(rows, None)
    if first is None:
        return
    readers: dict[int, RowReader] = {}
    layout = _detect(first)
    if layout is None:
        yield Rejected(rows.line_num, "is not a layout this importer knows (cdr_csv, cdr_custom or a cdr table export)")
        return
    names, header = layout
    if not header:
        yield _leg(first, rows.line_num, names, readers, mapping)
    # _leg inlined: rows of one file nearly always have one size, so its reader is kept at hand
    size, reader = -1, None
    for row in rows:
        if not row:
            continue
        if len(row) != size:
            size = len(row)
            reader = readers.get(size) or readers.setdefault(size, _reader_for(names, size, mapping))
        result = reader(row, rows.line_num)
        yield Rejected(rows.line_num, result) if type(result) is str else result


def detect(first_line: bytes) -> tuple[tuple[str, ...] | None, bool] | None:
    """(column names or None for cdr_csv, has a header) from a file's first line, or None when unknown."""
    row = next(csv.reader([first_line.decode("utf-8", errors="replace").rstrip("\r\n")]), [])
    return _detect(row) if row else None


def chunk_legs(data: bytes, line: int, names: tuple[str, ...] | None, mapping: Mapping) -> Iterator[Leg | Rejected]:
    """The legs of complete lines from the middle of a file (a follower's new rows); the first is line `line`."""
    rows = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    readers: dict[int, RowReader] = {}
    for row in rows:
        if row:
            yield _leg(row, line - 1 + rows.line_num, names, readers, mapping)


def _leg(row: list[str], line: int, names, readers: dict[int, RowReader], mapping: Mapping) -> Leg | Rejected:
    size = len(row)
    reader = readers.get(size)
    if reader is None:
        reader = readers[size] = _reader_for(names, size, mapping)
    result = reader(row, line)
    return Rejected(line, result) if type(result) is str else result


def _detect(first: list[str]) -> tuple[tuple[str, ...] | None, bool] | None:
    """(column names or None for cdr_csv, has a header) from the first row."""
    lowered = [c.strip().lower() for c in first]
    if "calldate" in lowered or {"src", "dst", "disposition"} <= set(lowered):
        return tuple(lowered), True
    if DATE.match(first[0]):
        return FREEPBX, False
    if len(first) > 8 and DATE.match(first[8]):
        return CUSTOM, False  # cdr_custom: start is the 9th field (cdr_csv's 9th is lastdata)
    if len(first) > 9 and DATE.match(first[9]):
        return None, False  # cdr_csv: start is the 10th field
    return None


def _reader_for(names: tuple[str, ...] | None, size: int, mapping: Mapping) -> RowReader:
    """A row parser for rows of this many fields (cdr_csv's layout depends on it)."""
    if names is None:
        if size not in MASTER_SIZES:
            return _fails(f"has {size} fields; cdr_csv writes 16, 18 or 21")
        names = MASTER[:size]
    elif size < len(names) and "uniqueid" in names[size:]:
        return _fails(f"has {size} fields, the layout has {len(names)}")
    columns = {name: i for i, name in enumerate(names) if i < size}
    return _row_parser(columns, mapping)


def _fails(reason: str) -> RowReader:
    return lambda row, line: reason


def _row_parser(columns: dict[str, int], mapping: Mapping) -> RowReader:
    """The per-row path: indices bound once, no lookups by name per row; a row's times are checked here."""
    get = columns.get
    i_start, i_dur, i_bill, i_disp = get("start", get("calldate")), get("duration"), get("billsec"), get("disposition")
    if None in (i_start, i_dur, i_bill, i_disp, get("channel"), get("src"), get("dst")):
        return _fails("lacks one of the columns calldate/start, duration, billsec, disposition, channel, src, dst")
    moment = clock(mapping)
    make_leg = _leg_maker(columns, mapping)
    # A column the layout lacks reads as the empty string at index -1 (parse appends it to each row).
    has_answer, has_end = "answer" in columns, "end" in columns
    i_answer, i_end = get("answer", -1), get("end", -1)

    def parse(row: list[str], line: int) -> Leg | str:
        text = row[i_start]
        try:
            start = moment(text)
        except ValueError:
            return f"start {text[:40]!r} is not a time (or a placeholder date before {FIRST_YEAR})"
        try:
            duration, billsec = int(row[i_dur]), int(row[i_bill])
        except ValueError:
            return f"duration {row[i_dur][:20]!r} or billsec {row[i_bill][:20]!r} is not a number"
        row.append("")  # the -1 of missing columns; Leg.field reads only indices of `columns`
        disposition = row[i_disp]
        try:
            text = row[i_answer]
            answer = moment(text) if text else None
            end = moment(row[i_end]) if has_end else start + duration
        except ValueError:
            return "answer or end is not a time"
        if not has_answer and disposition == "ANSWERED":
            answer = start + duration - billsec  # a cdr table keeps no answer time: it is calldate + ring time
        if end < start or billsec < 0 or duration < 0:
            return "ends before it starts"
        return make_leg(row, line, start, answer, end, billsec, disposition)

    return parse


# The columns a leg reads besides its times; a layout may lack them (then they read as "").
OPTIONAL = ("uniqueid", "linkedid", "dstchannel", "dcontext", "lastapp", "lastdata", "accountcode", "did")


def _leg_maker(columns: dict[str, int], mapping: Mapping) -> Callable[..., Leg]:
    """The rest of a row whose times are read, as a Leg: channels, key, queue; the row ends with the "" of -1."""
    i_chan, i_src, i_dst = columns["channel"], columns["src"], columns["dst"]
    i_uid, i_link, i_dchan, i_ctx, i_app, i_data, i_acct, i_did = (columns.get(name, -1) for name in OPTIONAL)
    side = Channels(mapping).asterisk

    def make_leg(
        row: list[str], line: int, start: float, answer: float | None, end: float, billsec: int, disposition: str
    ) -> Leg:
        channel, dstchannel, app, uniqueid = row[i_chan], row[i_dchan], row[i_app], row[i_uid]
        if dstchannel == "NULL":  # MySQL exports write NULL for an empty column
            dstchannel = ""
        if app == "NULL":
            app = ""
        if uniqueid == "NULL":
            uniqueid = ""
        linkedid, context, account, did = row[i_link], row[i_ctx], row[i_acct], row[i_did]
        from_ext, from_trunk = side(channel, True)
        to_ext, to_trunk = side(dstchannel, False)
        queue = None
        if app == "Queue":
            data = row[i_data]
            queue = (data.partition(",")[0] or None) if data != "NULL" else None
        return Leg(
            key=(linkedid if linkedid != "NULL" else "") or uniqueid or f"{channel}@{int(start)}",
            leg_id=uniqueid,
            where=line,
            start=start,
            answer=answer,
            end=end,
            billsec=billsec,
            src=row[i_src],
            dst=row[i_dst],
            from_ext=from_ext,
            from_trunk=from_trunk,
            to_ext=to_ext,
            to_trunk=to_trunk,
            context=context if context != "NULL" else "",
            connected=disposition == "ANSWERED" and bool(dstchannel),
            outcome=OUTCOMES.get(disposition, "failed"),
            queue=queue,
            did=(did if did != "NULL" else "") or None,
            app=app,
            note=f"{channel} > {dstchannel or app or '-'}",
            accountcode=account if account != "NULL" else "",
            raw=(row, columns),
        )

    return make_leg


def read_files(paths: Iterable[Path], mapping: Mapping) -> Iterator[tuple[Path, Outcome]]:
    """The outcomes of several files, each tagged with its file."""
    for path in paths:
        for outcome in read(path, mapping):
            yield path, outcome
