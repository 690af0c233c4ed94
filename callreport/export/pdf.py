"""The PDF writer: a cover with the report's facts and chart, then the rows as a paged table."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from callreport.export.columns import Column
from callreport.export.meta import Progress, ReportMeta, batches, clock
from callreport.export.pdfchart import draw_chart
from callreport.export.pdftext import BOLD, FONT, TextFit, header_lines, header_width, register_fonts

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 16
BOTTOM = 28  # the footer sits below this line
SIZE, ROW_H, PAD = 5.5, 7.8, 2  # table font size, row height and cell padding, in points
HEADER_H = 17  # two lines of bold header text
TOTAL_FORM = "pageTotal"
STRIPE = colors.HexColor("#f2f2f2")
HSCALE = 0.85  # table text condensed to 85 % width so the default 21 columns fit
# Typical values by column name, else by kind: a column's preferred width is its sample's.
_SAMPLES = {
    "time": "0000-00-00 00:00:00", "phone": "+00 00000-000000", "int": "000000", "text": "Xxxxxxxxxxxx",
    "any": "Xxxxxxxxxxxx", "json": '{"xxxxxxxx":"xxxxxxxx"}', "callId": "call-0000000001",
    "direction": "outbound", "callType": "click2call", "status": "answered", "agentId": "agent-0001",
    "agentName": "Firstname Lastn", "campaign": "Campaign xxxx", "department": "Department",
    "disposition": "Disposition", "hangupBy": "customer", "recordingUrl": "https://rec.example/x",
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


def column_widths(columns: Sequence[Column], available: float, fit: TextFit, bold: TextFit) -> list[float]:
    """Column widths in points: times, phones and numbers as wide as they need, the rest fitted."""
    want = [
        max(
            fit.width(_SAMPLES.get(c.name) or _SAMPLES.get(c.kind, "Xxxxxxxxxxxx")),
            header_width(c.name, bold),
        )
        + 2 * PAD
        for c in columns
    ]
    fixed = [c.kind in _FIXED_KINDS for c in columns]
    fixed_w = sum(w for w, f in zip(want, fixed, strict=True) if f)
    flex_w = sum(want) - fixed_w
    # Stretch or squeeze the text columns alone while they keep half their width; else scale all.
    if flex_w and fixed_w + flex_w / 2 <= available:
        stretch = (available - fixed_w) / flex_w
        return [w if f else w * stretch for w, f in zip(want, fixed, strict=True)]
    scale = available / sum(want) if want else 1
    return [w * scale for w in want]


class _Report:
    """The canvas, its page count and the parts every page shares (the footer)."""

    def __init__(self, path: str, meta: ReportMeta) -> None:
        register_fonts()
        self.c = Canvas(path, pagesize=(PAGE_W, PAGE_H), pageCompression=1)
        self.c.setTitle(meta.title)
        self.c.setCreator("callreport")
        self.meta, self.pages = meta, 0
        self.footer_fit = TextFit(FONT, 7)

    def end_page(self) -> None:
        """Draw the footer and start a new page."""
        c = self.c
        self.pages += 1
        c.setFillColor(colors.black)
        c.setFont(FONT, 7)
        c.drawString(MARGIN, BOTTOM - 16, self.footer_fit.fit(self.meta.title, PAGE_W / 2))
        # N is unknown while streaming: every page shows a form whose content, the total,
        # is drawn once at the end.
        label = f"Page {self.pages} of "
        x = PAGE_W - MARGIN - 70
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
            self.c.setFont(FONT, size)
            self.c.drawString(MARGIN + self.LABEL_W, self.y, line)

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

    def draw(self) -> None:
        """Draw the cover and end its last page."""
        meta, c = self.report.meta, self.c
        for line in TextFit(BOLD, 16).lines(meta.title, self.width):
            self.room(22)
            self.y -= 20
            c.setFont(BOLD, 16)
            c.drawString(MARGIN, self.y, line)
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
        self.report.end_page()


def _local(moment: datetime, timezone: str) -> str:
    """A moment as a wall-clock time with offset in the named zone (as given if the name is unknown)."""
    try:
        moment = moment.astimezone(ZoneInfo(timezone))
    except (ValueError, KeyError):
        pass
    return moment.isoformat(" ", timespec="seconds")


class _Table:
    """The rows as a table, its header repeated on every page."""

    def __init__(self, report: _Report, columns: Sequence[Column]) -> None:
        self.report, self.c = report, report.c
        self.fit, bold = TextFit(FONT, SIZE, HSCALE), TextFit(BOLD, SIZE, HSCALE)
        widths = column_widths(columns, PAGE_W - 2 * MARGIN, self.fit, bold)
        xs = [MARGIN + sum(widths[:i]) for i in range(len(widths))]
        self.cols = [(x + PAD, self._cell(c.kind, w - 2 * PAD)) for x, w, c in zip(xs, widths, columns, strict=True)]
        self.headers = [header_lines(c.name, bold, w - 2 * PAD) for w, c in zip(widths, columns, strict=True)]
        self.top = PAGE_H - MARGIN
        self.first = self.top - HEADER_H - ROW_H + 2  # the first row's baseline
        self.per_page = int((self.first - BOTTOM) // ROW_H) + 1
        # Header and stripes are the same on every page: drawn once as forms, each page
        # refers to them, which saves time and file size.
        self.c.beginForm("tableHeader")
        self._header()
        self.c.endForm()
        self.c.beginForm("tableStripes")
        self._stripes(self.per_page)
        self.c.endForm()

    def _cell(self, kind: str, width: float) -> Callable[[Any], str]:
        """A value's cell text, cut to the column."""
        show, fit = _cell_text(kind), self.fit.fit
        if kind == "time" and self.fit.width(_SAMPLES["time"]) <= width:
            return show  # digits share one width in DejaVu Sans: every time is as wide as the sample
        cache: dict[str, str] = {}  # columns such as status or agentName repeat a few values

        def cell(value: Any) -> str:
            text = show(value)
            fitted = cache.get(text)
            if fitted is None:
                if len(cache) >= 4096:
                    cache.clear()
                fitted = cache[text] = fit(text, width)
            return fitted

        return cell

    def _header(self) -> None:
        c = self.c
        for (x, _), lines in zip(self.cols, self.headers, strict=True):
            text = c.beginText(x, self.top - 6)
            text.setFont(BOLD, SIZE, 7)
            text.setHorizScale(HSCALE * 100)
            text.textLines(lines, trim=0)
            c.drawText(text)
        c.setLineWidth(0.5)
        c.line(MARGIN, self.top - HEADER_H + 2, PAGE_W - MARGIN, self.top - HEADER_H + 2)

    def _stripes(self, rows: int) -> None:
        self.c.setFillColor(STRIPE)
        for i in range(1, rows, 2):
            self.c.rect(MARGIN, self.first - i * ROW_H - 2.4, PAGE_W - 2 * MARGIN, ROW_H, stroke=0, fill=1)
        self.c.setFillColor(colors.black)

    def page(self, rows: list[tuple]) -> None:
        """One page of rows under the header."""
        c = self.c
        c.saveState()  # text state (the condensing Tz) outlives a text object: keep it off the footer
        c.doForm("tableHeader")
        if len(rows) == self.per_page:
            c.doForm("tableStripes")
        else:
            self._stripes(len(rows))
        if not rows:
            c.setFont(FONT, 8)
            c.drawString(MARGIN, self.first - 4, "No calls match this report.")
        for i, (x, cell) in enumerate(self.cols):
            # One text object per column: a line per row, so no cell needs its own position.
            text = c.beginText(x, self.first)
            text.setFont(FONT, SIZE, ROW_H)
            text.setHorizScale(HSCALE * 100)
            for row in rows:
                value = row[i]
                text.textLine("" if value is None else cell(value))
            c.drawText(text)
        c.restoreState()
        self.report.end_page()


def write_pdf(
    columns: Sequence[Column],
    rows: Iterable[tuple],
    path: str,
    meta: ReportMeta,
    progress: Progress | None = None,
) -> int:
    """Write the report as a PDF file at ``path``; the number of rows written."""
    report = _Report(path, meta)
    _Cover(report).draw()
    table = _Table(report, columns)
    count, pending, size = 0, [], table.per_page
    for batch in batches(rows):
        pending.extend(batch)
        while len(pending) >= size:
            table.page(pending[:size])
            del pending[:size]
        count += len(batch)
        if progress is not None:
            progress(count)
    if pending or count == 0:
        table.page(pending)
    report.save()
    return count
