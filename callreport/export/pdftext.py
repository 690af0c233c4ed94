"""Text in the PDF report: the embedded DejaVu fonts, glyph fallback and cutting text to a width."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"


@functools.cache
def register_fonts() -> None:
    """Make DejaVu Sans (regular and bold) known to ReportLab, once per process."""
    # Compressed streams stay binary: ASCII85 on top makes them a quarter larger and costs
    # about 5 % of the writing time, for 7-bit channels nobody sends PDFs through any more.
    rl_config.useA85 = 0
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))


class _CharMap(dict):
    """For str.translate: characters the font lacks become '?', control characters a space.

    Characters beyond the Basic Multilingual Plane (emoji) become '?' too, even where the
    font has them: ReportLab writes their text-extraction map wrongly, so PDF readers copy
    them as garbage.
    """

    def __init__(self, cmap: dict[int, int]) -> None:
        super().__init__()
        self.cmap = cmap

    def __missing__(self, code: int) -> int:
        if code < 32 or 0x7F <= code < 0xA0:
            self[code] = 32
        else:
            self[code] = code if code <= 0xFFFF and code in self.cmap else 63
        return self[code]


class _Widths(dict):
    """Character code to advance width in points, looked up in the font once per character."""

    def __init__(self, face: Any, scale: float) -> None:
        super().__init__()
        self.face, self.scale = face, scale

    def __missing__(self, code: int) -> float:
        self[code] = self.face.getCharWidth(code) * self.scale
        return self[code]


class TextFit:
    """Cuts text to a width in one font, size and horizontal scale, with the font's glyphs only."""

    def __init__(self, font: str, size: float, hscale: float = 1.0) -> None:
        face = pdfmetrics.getFont(font).face
        self.font, self.size, self.hscale = font, size, hscale
        self.chars = _CharMap(face.charToGlyph)
        self.widths = _Widths(face, size * hscale / 1000)
        self.ascii = [self.widths[code] for code in range(128)]
        self.widest = max(self.ascii[32:127])
        self.ellipsis = "\u2026" if 0x2026 in face.charToGlyph else "..."
        self.ellipsis_w = self.width(self.ellipsis)

    def clean(self, text: str) -> str:
        """The text with only characters the font can draw."""
        return text if text.isascii() and text.isprintable() else text.translate(self.chars)

    def width(self, text: str) -> float:
        """The width of clean text in points."""
        if text.isascii():
            return sum(map(self.ascii.__getitem__, text.encode()))
        return sum(map(self.widths.__getitem__, map(ord, text)))

    def fit(self, text: str, width: float) -> str:
        """Clean text, cut with an ellipsis when wider than ``width``."""
        text = self.clean(text)
        # Most cells are short ASCII: their length alone proves they fit.
        if len(text) * self.widest <= width or self.width(text) <= width:
            return text
        room, used = width - self.ellipsis_w, 0.0
        for i, code in enumerate(map(ord, text)):
            used += self.widths[code]
            if used > room:
                return text[:i] + self.ellipsis
        return text

    def lines(self, text: str, width: float) -> list[str]:
        """Clean text wrapped at spaces to ``width``, an over-long word cut."""
        lines = simpleSplit(self.clean(text), self.font, self.size, width / self.hscale)
        return [self.fit(line, width) for line in lines]


def _cuts(name: str) -> list[int]:
    """Where a header name may break: before a capital (camelCase) or after a dot, dash or space."""
    return [i for i in range(1, len(name)) if name[i].isupper() or name[i - 1] in "._- "]


def header_width(name: str, fit: TextFit) -> float:
    """The narrowest width that shows a header name whole on at most two lines."""
    name = fit.clean(name)
    return min([fit.width(name)] + [max(fit.width(name[:i]), fit.width(name[i:])) for i in _cuts(name)])


def header_lines(name: str, fit: TextFit, width: float) -> list[str]:
    """A header name on one line, or split in two at a word boundary, else cut."""
    name = fit.clean(name)
    if fit.width(name) <= width:
        return [name]
    fitting = [i for i in _cuts(name) if fit.width(name[:i]) <= width and fit.width(name[i:]) <= width]
    if fitting:
        i = min(fitting, key=lambda i: abs(len(name) / 2 - i))
        return [name[:i], name[i:]]
    first = fit.fit(name, width)
    if first.endswith(fit.ellipsis):
        first = first[: -len(fit.ellipsis)]
    return [first, fit.fit(name[len(first) :], width)]
