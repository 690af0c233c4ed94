"""The PDF's table: column widths and type size, long values wrapped, rows paged under a header."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.rl_accel import fp_str

from callreport import record
from callreport.export.cells import display
from callreport.export.columns import Column
from callreport.export.pdfshape import is_complex
from callreport.export.pdftext import BOLD, FONT, TextFit, header_lines, header_width

if TYPE_CHECKING:
    from callreport.export.pdf import Report

PAGE_W, PAGE_H = landscape(A4)
MARGIN = 16
BOTTOM = 28  # the footer sits below this line
# Table type: 8 pt for the PDF's default columns; a wider requested set shrinks to 7 pt at
# least (about a 2 mm x-height, the smallest type comfortably read on paper), then wraps more.
SIZE, MIN_SIZE, PAD = 8.0, 7.0, 3.0
LEADING = 1.22  # line height over type size
MOST_LINES = 12  # a cell's lines at most: past that the rest of a huge value (JSON) is cut
STRIPE = colors.HexColor("#f2f2f2")
# Typical values by column name, else by kind: a column's preferred width is its sample's.
# A usual widest value per column kind, and per record field where record.py gives one.
_SAMPLES = {
    "time": "0000-00-00 00:00:00", "phone": "+00 00000 000000", "int": "00000", "text": "Xxxxxxxxxxxx",
    "any": "Xxxxxxxxxxxx", "json": '{"xxxxxxxx": "xxxxxxxx"}',
    **{f.name: f.sample for f in record.FIELDS if f.sample},
}  # fmt: skip
_FIXED_KINDS = ("time", "phone", "int")


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


class Table:
    """The rows as a table, long values wrapped, its header repeated on every page."""

    def __init__(self, report: Report, columns: Sequence[Column]) -> None:
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
        show, lines = display(kind), self.fit.lines
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
