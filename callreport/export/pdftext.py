"""Text in the PDF report: the embedded fonts, glyph fallback, measuring, wrapping and cutting text."""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from callreport.export import pdfshape

FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"


@functools.cache
def register_fonts() -> None:
    """Make DejaVu Sans (regular, bold) and the Noto complex-script faces known to ReportLab, once."""
    # Compressed streams stay binary: ASCII85 on top makes them a quarter larger and costs
    # about 5 % of the writing time, for 7-bit channels nobody sends PDFs through any more.
    rl_config.useA85 = 0
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    # Shaping is ours (pdfshape): ReportLab's own would copy conjuncts as private-use codes.
    for name in (pdfshape.DEVANAGARI, pdfshape.ARABIC):
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / f"{name}-Regular.ttf"), shapable=False))


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
    """Measures, wraps and cuts text in one font and size; complex scripts measured shaped."""

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
        """The text with only characters the fonts can draw (complex scripts kept for shaping)."""
        if text.isascii() and text.isprintable():
            return text
        if not pdfshape.is_complex(text):
            return text.translate(self.chars)
        return "".join(ch if pdfshape.script_font(ch) else ch.translate(self.chars) for ch in text)

    def width(self, text: str) -> float:
        """The width of clean text in points."""
        if text.isascii():
            return sum(map(self.ascii.__getitem__, text.encode()))
        if not pdfshape.is_complex(text):
            return sum(map(self.widths.__getitem__, map(ord, text)))
        total = 0.0
        for font, run in pdfshape.runs(text):
            if font is None:
                total += sum(map(self.widths.__getitem__, map(ord, run)))
            else:
                total += pdfshape.run_width(font, run) * self.size * self.hscale / 1000
        return total

    def fit(self, text: str, width: float) -> str:
        """Clean text, cut with an ellipsis when wider than ``width``."""
        text = self.clean(text)
        # Most cells are short ASCII: their length alone proves they fit.
        if len(text) * self.widest <= width or self.width(text) <= width:
            return text
        for end in range(len(text) - 1, 0, -1):
            if _breakable(text, end) and self.width(text[:end]) + self.ellipsis_w <= width:
                return text[:end] + self.ellipsis
        return self.ellipsis

    def lines(self, text: str, width: float, most: int = 1000) -> list[str]:
        """Clean text wrapped at spaces to ``width``, words wider than a line broken; at most ``most`` lines."""
        text = self.clean(text)
        if len(text) * self.widest <= width or self.width(text) <= width:
            return [text]
        out: list[str] = []
        line = ""
        for word in text.split(" "):
            trial = f"{line} {word}" if line else word
            if self.width(trial) <= width:
                line = trial
                continue
            if line:
                out.append(line)
            line = word
            while self.width(line) > width and len(line) > 1:
                cut = self._cut(line, width)
                out.append(line[:cut])
                line = line[cut:]
        out.append(line)
        if len(out) > most:
            out = out[: most - 1] + [self.fit(" ".join(out[most - 1 :]), width)]
        return out

    def _cut(self, word: str, width: float) -> int:
        """The longest start of a word that fits, never splitting a character from its marks."""
        low, high = 1, len(word)
        while low < high:  # the last end that fits, by bisection: long words (URLs, JSON) are common
            mid = (low + high + 1) // 2
            if self.width(word[:mid]) <= width:
                low = mid
            else:
                high = mid - 1
        while low > 1 and not _breakable(word, low):
            low -= 1
        return low


def _breakable(text: str, i: int) -> bool:
    """Whether text may break before index i: not before a combining mark, a virama's consonant or a joiner."""
    ch, prev = text[i], text[i - 1]
    return unicodedata.category(ch)[0] != "M" and prev not in "\u094d\u200c\u200d" and ch not in "\u200c\u200d"


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
