"""The PDF report's bar chart of calls per day, answered and missed, drawn with canvas primitives."""

from __future__ import annotations

import math
from datetime import date, timedelta

from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

MAX_BARS = 62  # about two months of days side by side; more days are grouped
# Beyond ten years of days, filling the gaps would draw mostly empty bars.
MAX_FILLED_SPAN = 3660
ANSWERED = colors.HexColor("#2e7d32")
MISSED = colors.HexColor("#c62828")
GRID = colors.HexColor("#dddddd")

Bar = tuple[str, int, int]  # (first day, answered, missed)


def day_bars(per_day: list[tuple[str, int, int]], max_bars: int = MAX_BARS) -> tuple[list[Bar], int]:
    """The bars to draw and how many days each holds: days without calls filled, then grouped."""
    counts: dict[date, list[int]] = {}
    for day, answered, missed in per_day:
        entry = counts.setdefault(date.fromisoformat(day), [0, 0])
        entry[0] += answered
        entry[1] += missed
    if not counts:
        return [], 1
    first, last = min(counts), max(counts)
    span = (last - first).days + 1
    days = [first + timedelta(n) for n in range(span)] if span <= MAX_FILLED_SPAN else sorted(counts)
    size = math.ceil(len(days) / max_bars)
    bars = []
    for start in range(0, len(days), size):
        group = days[start : start + size]
        answered = sum(counts.get(d, (0, 0))[0] for d in group)
        missed = sum(counts.get(d, (0, 0))[1] for d in group)
        bars.append((group[0].isoformat(), answered, missed))
    return bars, size


def nice_step(top: int, ticks: int = 5) -> int:
    """A round axis step (1, 2 or 5 times a power of ten) giving about ``ticks`` gridlines up to ``top``."""
    raw = max(top / ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def draw_chart(
    c: Canvas, x: float, y: float, w: float, h: float, per_day: list[tuple[str, int, int]], font: str
) -> None:
    """A stacked bar chart (answered below missed) in the box with lower-left corner (x, y)."""
    bars, size = day_bars(per_day)
    title = "Calls per day" if size == 1 else f"Calls per {size} days (each bar starts on the day shown)"
    c.setFillColor(colors.black)
    c.setFont(font, 9)
    c.drawString(x, y + h - 9, title)
    _legend(c, x + w, y + h - 9, font)
    if not bars:
        c.setFont(font, 8)
        c.drawString(x, y + h / 2, "No calls in this report.")
        return
    plot = (x + 36, y + 14, w - 40, h - 30)  # left, bottom, width, height
    axis_top = _grid(c, plot, max(a + m for _, a, m in bars), font)
    _bars(c, plot, bars, axis_top, font)


def _grid(c: Canvas, plot: tuple[float, float, float, float], top: int, font: str) -> int:
    """Horizontal gridlines with their values; the value at the top of the axis."""
    left, bottom, width, height = plot
    step = nice_step(top or 1)
    axis_top = math.ceil((top or 1) / step) * step
    c.setFont(font, 6)
    c.setLineWidth(0.4)
    c.setStrokeColor(GRID)
    for value in range(0, axis_top + 1, step):
        gy = bottom + height * value / axis_top
        c.line(left, gy, left + width, gy)
        c.drawRightString(left - 3, gy - 2, f"{value:,}")
    return axis_top


def _bars(c: Canvas, plot: tuple[float, float, float, float], bars: list[Bar], axis_top: int, font: str) -> None:
    """The stacked bars, the baseline and as many date labels as fit side by side."""
    left, bottom, width, height = plot
    slot = width / len(bars)
    bar_w = max(slot * 0.7, 0.5)
    for i, (_, answered, missed) in enumerate(bars):
        bx = left + i * slot + (slot - bar_w) / 2
        ah, mh = height * answered / axis_top, height * missed / axis_top
        c.setFillColor(ANSWERED)
        c.rect(bx, bottom, bar_w, ah, stroke=0, fill=1)
        c.setFillColor(MISSED)
        c.rect(bx, bottom + ah, bar_w, mh, stroke=0, fill=1)
    c.setFillColor(colors.black)
    c.setStrokeColor(colors.black)
    c.line(left, bottom, left + width, bottom)
    c.setFont(font, 6)
    stride = max(1, math.ceil((stringWidth("0000-00-00", font, 6) + 6) / slot))
    for i in range(0, len(bars), stride):
        c.drawCentredString(left + (i + 0.5) * slot, bottom - 8, bars[i][0])


def _legend(c: Canvas, right: float, y: float, font: str) -> None:
    """The two colour keys, right-aligned at ``right``."""
    c.setFont(font, 7)
    x = right - 120
    for label, colour in (("Answered", ANSWERED), ("Missed", MISSED)):
        c.setFillColor(colour)
        c.rect(x, y - 1, 7, 7, stroke=0, fill=1)
        c.setFillColor(colors.black)
        c.drawString(x + 10, y, label)
        x += 60
