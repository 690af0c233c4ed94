"""The PDF writer: a cover with the report's facts and chart, then the rows as a paged table."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from callreport.export.columns import Column
from callreport.export.meta import MetaFn, Progress, ReportMeta, batches, clock
from callreport.export.pdfchart import draw_chart
from callreport.export.pdfshape import is_complex, text_ops
from callreport.export.pdftable import BOTTOM, MARGIN, PAGE_H, PAGE_W, Table
from callreport.export.pdftext import BOLD, FONT, TextFit, register_fonts

TOTAL_FORM = "pageTotal"


class Report:
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
            if len(self.plain) >= 4096:
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

    def __init__(self, report: Report) -> None:
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


def write_pdf(
    columns: Sequence[Column],
    rows: Iterable[tuple],
    path: str,
    meta: ReportMeta,
    progress: Progress | None = None,
) -> int:
    """Write the report as a PDF file at ``path``; the number of rows written."""
    report = Report(path, meta)
    it = iter(rows)
    first = list(itertools.islice(it, 1))
    _Cover(report).draw(empty=not first)
    count = 0
    if first:
        table = Table(report, columns)

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


def write(
    columns: Sequence[Column], rows: Iterable[tuple], path: Path, meta_fn: MetaFn, progress: Progress | None = None
) -> int:
    """The registry's writer: the PDF report at ``path``."""
    return write_pdf(columns, rows, str(path), meta_fn(), progress)
