"""The PDF writer: a cover with the report's facts and chart, then the rows as a paged table."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from callreport.export.columns import Column
from callreport.export.meta import Progress, ReportMeta, batches, clock
from callreport.export.pdfchart import draw_chart
from callreport.export.pdfshape import is_complex, text_ops
from callreport.export.pdftext import BOLD, FONT, TextFit, header_lines, header_width, register_fonts

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 16
BOTTOM = 28  # the footer sits below this line
# Table type: 8 pt for the PDF's default columns; a wider requested set shrinks to 7 pt at
# least (about a 2 mm x-height, the smallest type comfortably read on paper), then wraps more.
SIZE, MIN_SIZE, PAD = 8.0, 7.0, 3.0
LEADING = 1.22  # line height over type size
MOST_LINES = 12  # a cell's lines at most: past that the rest of a huge value (JSON) is cut
TOTAL_FORM = "pageTotal"
STRIPE = colors.HexColor("#f2f2f2")
# Typical values by column name, else by kind: a column's preferred width is its sample's.
_SAMPLES = {
    "time": "0000-00-00 00:00:00", "phone": "+00 00000 000000", "int": "00000", "text": "Xxxxxxxxxxxx",
    "any": "Xxxxxxxxxxxx", "json": '{"xxxxxxxx": "xxxxxxxx"}', "callId": "xxxx-00000000",
    "direction": "outbound", "callType": "click2call", "status": "answered", "agentId": "agent-0001",
    "agentName": "Firstname Lastname", "campaign": "Campaign xxxxxxx", "department": "Department",
    "disposition": "Call Back Later", "hangupBy": "customer", "recordingUrl": "https://rec.example/xxxxxxxx",
}  # fmt: skip
_FIXED_KINDS = ("time", "phone", "int")


def _cell_text(kind: str) -> Callable[[Any], str]:
    """How a value of a column kind is shown in a table cell."""

    def any_value(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return orjson.dumps(value).decode()

    by_kind: dict[str, Callable[[Any], str]] = {
        "text": str, "phone": str, "int": str, "json": lambda v: orjson.dumps(v).decode(),
        # Times show their wall clock in the effective timezone, named on the cover page.
        "time": lambda v: v.isoformat(" ")[:19],
    }  # fmt: skip
    return by_kind.get(kind, any_value)


def _wants(columns: Sequence[Column], size: float) -> list[float]:
    """Each column's preferred width at a type size: its sample value or its header, whichever is wider."""
    fit, bold = TextFit(FONT, size), TextFit(BOLD, size)
    return [
        max(fit.width(_SAMPLES.get(c.name) or _SAMPLES.get(c.kind, "Xxxxxxxxxxxx")), header_width(c.name, bold))
        + 2 * PAD
        for c in columns
    ]


def table_layout(columns: Sequence[Column], available: float) -> tuple[float, list[float]]:
    """The table's type size and column widths in points: the largest size down to MIN_SIZE at
    which every column gets its preferred width; text columns share what is left over."""
    size = SIZE
    want = _wants(columns, size)
    while sum(want) > available and size > MIN_SIZE:
        size = max(MIN_SIZE, size - 0.5)
        want = _wants(columns, size)
    fixed = [c.kind in _FIXED_KINDS for c in columns]
    fixed_w = sum(w for w, f in zip(want, fixed, strict=True) if f)
    flex_w = sum(want) - fixed_w
    # Times, numbers and counts keep their width while the text columns keep half of theirs
    # (text wraps, digits had better not); else every column shrinks alike.
    if flex_w and available - fixed_w >= flex_w / 2:
        stretch = (available - fixed_w) / flex_w
        return size, [w if f else w * stretch for w, f in zip(want, fixed, strict=True)]
    scale = available / sum(want) if want else 1
    return size, [w * scale for w in want]


def _header(name: str, bold: TextFit, width: float) -> list[str]:
    """A header name on one or two lines split at a word, else wrapped wherever it must be."""
    lines = header_lines(name, bold, width)
    if any(line.endswith(bold.ellipsis) for line in lines):
        return bold.lines(name, width)
    return lines


class _Report:
    """The canvas, its page count and the parts every page shares (the footer)."""

    def __init__(self, path: str, meta: ReportMeta) -> None:
        register_fonts()
        self.c = Canvas(path, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
        self.c.setTitle(meta.title)
        self.c.setCreator("callreport")
        self.meta, self.pages = meta, 0
        self.footer_fit = TextFit(FONT, 7)
        self.shaped: dict[tuple[str, str, float], str] = {}  # text, font, size -> its operators
        self.plain: dict[str, list[tuple[str, str]]] = {}
        self.base = pdfmetrics.getFont(FONT)

    def ops(self, text: str, fit: TextFit) -> str:
        """Operators drawing a line that needs shaping, from the current text position (cached)."""
        key = (text, fit.font, fit.size)
        ops = self.shaped.get(key)
        if ops is None:
            if len(self.shaped) >= 4096:
                self.shaped.clear()
            ops = self.shaped[key] = " ".join(text_ops(self.c, text, fit.font, fit.size, fit.clean))
        return ops

    def encoded(self, text: str) -> list[tuple[str, str]]:
        """A base-font line as (font subset resource, escaped bytes) pieces, cached: values repeat."""
        pieces = self.plain.get(text)
        if pieces is None:
            if len(self.plain) >= 8192:
                self.plain.clear()
            doc, font = self.c._doc, self.base
            pieces = self.plain[text] = [
                (font.getSubsetInternalName(subset, doc), self.c._escape(chunk))
                for subset, chunk in font.splitString(text, doc)
            ]
        return pieces

    def draw(self, x: float, y: float, text: str, fit: TextFit) -> None:
        """One line of text at (x, y) in the fit's font and size, shaped when it needs to be."""
        if not is_complex(text):
            self.c.setFont(fit.font, fit.size)
            self.c.drawString(x, y, fit.clean(text))
            return
        obj = self.c.beginText(x, y)
        obj._code.append(self.ops(text, fit))
        self.c.drawText(obj)

    def end_page(self) -> None:
        """Draw the footer and start a new page."""
        c = self.c
        self.pages += 1
        c.setFillColor(colors.black)
        self.draw(MARGIN, BOTTOM - 16, self.footer_fit.fit(self.meta.title, PAGE_W / 2), self.footer_fit)
        # N is unknown while streaming: every page shows a form whose content, the total,
        # is drawn once at the end.
        label = f"Page {self.pages} of "
        x = PAGE_W - MARGIN - 70
        c.setFont(FONT, 7)
        c.drawString(x, BOTTOM - 16, label)
        c.saveState()
        c.translate(x + pdfmetrics.stringWidth(label, FONT, 7), BOTTOM - 16)
        c.doForm(TOTAL_FORM)
        c.restoreState()
        c.showPage()
        _compress_now(c)

    def save(self) -> None:
        """Define the page-total form and write the file."""
        c = self.c
        c.beginForm(TOTAL_FORM)
        c.setFont(FONT, 7)
        c.drawString(0, 0, str(self.pages))
        c.endForm()
        c.save()


def _compress_now(c: Canvas) -> None:
    """Deflate the page just finished now instead of at save.

    ReportLab keeps every page's drawing commands as text until it saves (~0.55 KB a row:
    87 MB for 100,000 rows); deflated at once they take a tenth. The stream is the one
    ReportLab would write: its own FlateDecode of the same UTF-8 text.
    """
    page = c._doc.Pages.pages[-1]
    if page.Contents or not page.stream:
        return
    stream = pdfdoc.PDFStream(content=zlib.compress(page.stream.encode("utf8")))
    stream.dictionary["Filter"] = pdfdoc.PDFArray([pdfdoc.PDFName("FlateDecode")])
    page.Contents, page.stream = stream, None


class _Cover:
    """The first page(s): title, account, timezone, filters, time made, totals and the chart."""

    LABEL_W = 70

    def __init__(self, report: _Report) -> None:
        self.report, self.c = report, report.c
        self.y = PAGE_H - MARGIN
        self.width = PAGE_W - 2 * MARGIN

    def room(self, needed: float) -> None:
        """Start a new page unless ``needed`` points are left above the footer."""
        if self.y - needed < BOTTOM:
            self.report.end_page()
            self.y = PAGE_H - MARGIN

    def fact(self, label: str, value: str, size: float = 9) -> None:
        """A bold label and its value, wrapped."""
        fit = TextFit(FONT, size)
        for i, line in enumerate(fit.lines(value, self.width - self.LABEL_W) or [""]):
            self.room(size + 4)
            self.y -= size + 4
            if i == 0 and label:
                self.c.setFont(BOLD, size)
                self.c.drawString(MARGIN, self.y, label)
            self.report.draw(MARGIN + self.LABEL_W, self.y, line, fit)

    def figures(self, totals: dict[str, int]) -> None:
        """The four totals side by side, each a small label over a large figure."""
        self.room(40)
        self.y -= 34
        figures = (("Calls", f"{totals.get('calls', 0):,}"), ("Answered", f"{totals.get('answered', 0):,}"))
        figures += (
            ("Missed", f"{totals.get('missed', 0):,}"),
            ("Talk time", clock(totals.get("talk_seconds", 0))),
        )
        for i, (label, value) in enumerate(figures):
            x = MARGIN + i * 150
            self.c.setFont(FONT, 8)
            self.c.drawString(x, self.y + 18, label)
            self.c.setFont(BOLD, 16)
            self.c.drawString(x, self.y, value)

    def draw(self, empty: bool) -> None:
        """Draw the cover and end its last page; an empty report says so there and has no table."""
        meta, c = self.report.meta, self.c
        title = TextFit(BOLD, 16)
        for line in title.lines(meta.title, self.width):
            self.room(22)
            self.y -= 20
            self.report.draw(MARGIN, self.y, line, title)
        self.y -= 6
        self.fact("Account", meta.account_name)
        self.fact("Timezone", meta.timezone)
        self.fact("Generated", _local(meta.generated_at, meta.timezone))
        for i, line in enumerate(meta.filters_text or ["none"]):
            self.fact("Filters" if i == 0 else "", line)
        self.y -= 10
        self.figures(meta.totals)
        self.y -= 14
        self.room(230)
        draw_chart(c, MARGIN, self.y - 220, self.width, 220, meta.per_day, FONT)
        self.y -= 240
        if empty:
            self.room(14)
            c.setFont(BOLD, 10)
            c.drawString(MARGIN, self.y, "No calls match this report.")
        self.report.end_page()


def _local(moment: datetime, timezone: str) -> str:
    """A moment as a wall-clock time with offset in the named zone (as given if the name is unknown)."""
    try:
        moment = moment.astimezone(ZoneInfo(timezone))
    except (ValueError, KeyError):
        pass
    return moment.isoformat(" ", timespec="seconds")


class _Table:
    """The rows as a table, long values wrapped, its header repeated on every page."""

    def __init__(self, report: _Report, columns: Sequence[Column]) -> None:
        self.report, self.c = report, report.c
        size, widths = table_layout(columns, PAGE_W - 2 * MARGIN)
        self.fit, bold = TextFit(FONT, size), TextFit(BOLD, size)
        self.size, self.lead = size, round(size * LEADING, 2)
        xs = [MARGIN + sum(widths[:i]) for i in range(len(widths))]
        self.xs = [x + PAD for x in xs]
        self.cells = [self._cell(c.kind, w - 2 * PAD) for w, c in zip(widths, columns, strict=True)]
        self.headers = [_header(c.name, bold, w - 2 * PAD) for w, c in zip(widths, columns, strict=True)]
        self.top = PAGE_H - MARGIN
        header_h = max((len(h) for h in self.headers), default=1) * self.lead + 4
        self.first = self.top - header_h - self.lead + 1  # the first row's baseline
        self.room = int((self.first - BOTTOM) / self.lead) + 1  # lines on a page
        # The header is the same on every page: drawn once as a form that each page shows.
        self.c.beginForm("tableHeader")
        self._header(header_h)
        self.c.endForm()

    def _cell(self, kind: str, width: float) -> Callable[[Any], list[str]]:
        """A value's cell lines, wrapped to the column."""
        show, lines = _cell_text(kind), self.fit.lines
        if kind in ("time", "int") and self.fit.width(_SAMPLES[kind]) <= width:
            return lambda value: [show(value)]  # digits share one width: every such value fits
        cache: dict[str, list[str]] = {}  # columns such as status or agentName repeat a few values

        def cell(value: Any) -> list[str]:
            text = show(value)
            wrapped = cache.get(text)
            if wrapped is None:
                if len(cache) >= 4096:
                    cache.clear()
                wrapped = cache[text] = lines(text, width, MOST_LINES)
            return wrapped

        return cell

    def _header(self, height: float) -> None:
        c = self.c
        for x, lines in zip(self.xs, self.headers, strict=True):
            text = c.beginText(x, self.top - self.size)
            text.setFont(BOLD, self.size, self.lead)
            text.textLines(lines, trim=0)
            c.drawText(text)
        c.setLineWidth(0.5)
        c.line(MARGIN, self.top - height + 2, PAGE_W - MARGIN, self.top - height + 2)

    def lay_out(self, row: tuple) -> list[list[str]]:
        """A row's cells as lines."""
        return [[] if value is None else cell(value) for cell, value in zip(self.cells, row, strict=True)]

    def page(self, rows: list[list[list[str]]]) -> None:
        """One page of laid-out rows under the header."""
        c, lead = self.c, self.lead
        heights = [max(map(len, row), default=1) or 1 for row in rows]
        c.doForm("tableHeader")
        c.setFillColor(STRIPE)
        y = self.first
        for i, h in enumerate(heights):
            if i % 2:
                c.rect(MARGIN, y - (h - 1) * lead - lead * 0.3, PAGE_W - 2 * MARGIN, h * lead, stroke=0, fill=1)
            y -= h * lead
        c.setFillColor(colors.black)
        for i, x in enumerate(self.xs):
            # One text object per column, a line per text line: no cell needs its own position.
            text = c.beginText(x, self.first)
            text.setFont(FONT, self.size, lead)
            text._code.append(f"{fp_str(lead)} TL")  # ReportLab sets it with the first line drawn, not at once
            self._column(text._code, [row[i] for row in rows], heights)
            c.drawText(text)
        self.report.end_page()

    def _column(self, code: list[str], cells: list[list[str]], heights: list[int]) -> None:
        """A column's lines as text operators: each line, then T* to the next (ReportLab's textLine
        does the same, through a font lookup and a subset split on every line)."""
        report, size, current = self.report, fp_str(self.size), ""
        for lines, h in zip(cells, heights, strict=True):
            for line in lines:
                if line.isascii() or not is_complex(line):
                    for font, escaped in report.encoded(self.fit.clean(line)):
                        if font != current:
                            code.append(f"{font} {size} Tf")
                            current = font
                        code.append(f"({escaped}) Tj T*")
                else:
                    code.append(report.ops(line, self.fit) + " T*")
                    current = ""  # the shaped line set its own fonts
            if h > len(lines):
                code.append("T* " * (h - len(lines)))

    def fill(self, rows: Iterable[tuple]) -> None:
        """Lay the rows out page after page."""
        page: list[list[list[str]]] = []
        used = 0
        for row in rows:
            cells = self.lay_out(row)
            h = max(map(len, cells), default=1) or 1
            if page and used + h > self.room:
                self.page(page)
                page, used = [], 0
            page.append(cells)
            used += h
        if page:
            self.page(page)


def write_pdf(
    columns: Sequence[Column],
    rows: Iterable[tuple],
    path: str,
    meta: ReportMeta,
    progress: Progress | None = None,
) -> int:
    """Write the report as a PDF file at ``path``; the number of rows written."""
    report = _Report(path, meta)
    it = iter(rows)
    first = list(itertools.islice(it, 1))
    _Cover(report).draw(empty=not first)
    count = 0
    if first:
        table = _Table(report, columns)

        def counted() -> Iterator[tuple]:
            nonlocal count
            for batch in batches(itertools.chain(first, it)):
                yield from batch
                count += len(batch)
                if progress is not None:
                    progress(count)

        table.fill(counted())
    report.save()
    return count
