"""Complex scripts in the PDF: Devanagari and Arabic shaped by HarfBuzz, drawn with ReportLab.

ReportLab draws a string as one glyph per character, which breaks Devanagari (conjuncts,
vowel signs placed before their consonant) and Arabic (joined letters, right to left).
Text in those scripts is cut into runs, each run shaped by HarfBuzz (uharfbuzz) in its
Noto font, and drawn glyph by glyph with the positions HarfBuzz gives. Glyphs that no
character maps to (conjuncts, joined forms) are drawn through private-use code points,
and the text-extraction map of the PDF (ToUnicode) gives each one the characters of its
cluster, so copying and searching the PDF still yield the real text.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

import uharfbuzz as hb
from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfgen.canvas import Canvas

DEVANAGARI, ARABIC = "NotoSansDevanagari", "NotoSansArabic"
_RANGES = (
    (0x0900, 0x097F, DEVANAGARI), (0xA8E0, 0xA8FF, DEVANAGARI), (0x1CD0, 0x1CFF, DEVANAGARI),
    (0x0600, 0x06FF, ARABIC), (0x0750, 0x077F, ARABIC), (0x08A0, 0x08FF, ARABIC),
    (0xFB50, 0xFDFF, ARABIC), (0xFE70, 0xFEFF, ARABIC),
)  # fmt: skip
RTL = frozenset({ARABIC})
_PUA_FIRST, _PUA_LAST = 0xE000, 0xF8FF  # the BMP private-use area: 6,400 glyph/text pairs
_pua_text: dict[int, str] = {}  # private-use code -> the text it stands for, for every font


def script_font(ch: str) -> str | None:
    """The Noto font that draws a character of a complex script, else None."""
    code = ord(ch)
    if code < 0x0600:
        return None
    for first, last, font in _RANGES:
        if first <= code <= last:
            return font
    return None


def is_complex(text: str) -> bool:
    """Whether the text holds a character that needs shaping."""
    return not text.isascii() and any(script_font(ch) for ch in text)


def _neutral(ch: str) -> bool:
    """Spaces, punctuation, joiners and marks: they go with the script around them."""
    return unicodedata.category(ch)[0] in "ZPM" or ch in "\u200c\u200d"


def runs(text: str) -> list[tuple[str | None, str]]:
    """The text as (Noto font or None for the base font, run) in visual order.

    A small part of the Unicode bidirectional algorithm, enough for names and labels: a
    paragraph whose first strong character is Arabic reads right to left, so its runs are
    reversed; HarfBuzz orders the glyphs inside each Arabic run.
    """
    fonts = [script_font(ch) for ch in text]
    for i, ch in enumerate(text):
        if fonts[i] is None and _neutral(ch):
            before = next((fonts[j] for j in range(i - 1, -1, -1) if not _neutral(text[j])), None)
            after = next((fonts[j] for j in range(i + 1, len(text)) if not _neutral(text[j])), before)
            fonts[i] = before if before == after or unicodedata.category(ch)[0] == "M" else None
    out: list[tuple[str | None, str]] = []
    for font, ch in zip(fonts, text, strict=True):
        if out and out[-1][0] == font:
            out[-1] = (font, out[-1][1] + ch)
        else:
            out.append((font, ch))
    strong = next((f for f, ch in zip(fonts, text, strict=True) if f or ch.isalpha()), None)
    return out[::-1] if strong in RTL else out


@dataclass(frozen=True)
class Glyph:
    """A shaped glyph: the character that draws it, its advance and offsets (1/1000 of the size)."""

    char: str
    advance: float
    dx: float
    dy: float
    width: float  # the advance the PDF font declares for ``char``


def _code_for(font: ttfonts.TTFont, gid: int, text: str) -> str:
    """A character that draws glyph ``gid`` and copies as ``text``: the font's own, else a private one."""
    face = font.face
    if len(text) == 1 and face.charToGlyph.get(ord(text)) == gid:
        return text
    key = (font.fontName, gid, text)
    code = _private.get(key)
    if code is None:
        code = _PUA_FIRST + len(_private)
        if code > _PUA_LAST:  # every private code in use: draw the glyph, copy it as nothing
            chars = face.glyphToChar.get(gid)
            return chr(chars[0]) if chars else text[:1]
        _private[key] = code
        _pua_text[code] = text
        face.charToGlyph[code] = gid
        hb_font, scale = _hb_font(font.fontName)
        face.charWidths[code] = hb_font.get_glyph_h_advance(gid) * scale
    return chr(code)


_private: dict[tuple[str, int, str], int] = {}


@functools.cache
def _hb_font(name: str) -> tuple[hb.Font, float]:
    """The HarfBuzz font for a registered ReportLab TrueType font and its units-to-1000 scale."""
    face = pdfmetrics.getFont(name).face
    hb_face = hb.Face(hb.Blob(face._ttf_data))
    return hb.Font(hb_face), 1000 / hb_face.upem


@functools.lru_cache(maxsize=8192)
def shape(font_name: str, run: str) -> tuple[Glyph, ...]:
    """The run's glyphs in visual order, each cluster's text given to its first glyph."""
    font = pdfmetrics.getFont(font_name)
    hb_font, scale = _hb_font(font_name)
    buf = hb.Buffer()
    buf.add_str(run)
    buf.guess_segment_properties()
    hb.shape(hb_font, buf, {"kern": True, "liga": True})
    infos, positions = buf.glyph_infos, buf.glyph_positions
    starts = sorted({info.cluster for info in infos}) + [len(run)]
    end_of = dict(zip(starts, starts[1:], strict=False))
    glyphs, seen = [], set()
    for info, pos in zip(infos, positions, strict=True):
        cluster = info.cluster
        # One glyph of each cluster carries the cluster's characters, the others none: the
        # extracted text is the logical text even when glyphs are reordered or ligated.
        text = "" if cluster in seen else run[cluster : end_of[cluster]]
        seen.add(cluster)
        char = _code_for(font, info.codepoint, text)
        width = font.face.charWidths.get(ord(char), 0)
        glyphs.append(Glyph(char, pos.x_advance * scale, pos.x_offset * scale, pos.y_offset * scale, width))
    return tuple(glyphs)


def run_width(font_name: str, run: str) -> float:
    """A shaped run's advance in 1/1000 of the font size."""
    return sum(g.advance for g in shape(font_name, run))


def _to_unicode(fontname: str, subset: list[int]) -> str:
    """ReportLab's ToUnicode CMap, with private codes mapped to the text they stand for."""
    cmap = _reportlab_to_unicode(fontname, subset)
    if not any(code in _pua_text for code in subset):
        return cmap
    lines = cmap.split("\n")
    for i, code in enumerate(subset):
        if code in _pua_text:
            old = f"<{i:02X}> <{code:04X}>"
            lines[lines.index(old)] = f"<{i:02X}> <{_pua_text[code].encode('utf-16-be').hex().upper()}>"
    return "\n".join(lines)


_reportlab_to_unicode = ttfonts.makeToUnicodeCMap
# ReportLab writes the map of every subset through this module-level function; wrapping it
# is the one hook there is (its TTFont.addObjects is 90 lines we would otherwise copy).
ttfonts.makeToUnicodeCMap = _to_unicode


def shaped_ops(c: Canvas, font_name: str, size: float, glyphs: tuple[Glyph, ...]) -> list[str]:
    """PDF text operators drawing the glyphs from the current text position, which ends after them."""
    font = pdfmetrics.getFont(font_name)
    doc, escape = c._doc, c._escape
    chars = "".join(g.char for g in glyphs)
    ops: list[str] = []
    i, carry = 0, 0.0  # carry: the shift owed before the next glyph, in TJ units (-1/1000 of size)
    for subset, chunk in font.splitString(chars, doc):
        ops.append(f"{font.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf")
        parts: list[str] = []
        for byte in chunk:
            g = glyphs[i]
            if g.dy:
                if parts:
                    ops.append(f"[{' '.join(parts)}] TJ")
                    parts = []
                ops.append(f"{fp_str(g.dy * size / 1000)} Ts")
            shift = carry - g.dx
            if abs(shift) > 0.01:
                parts.append(fp_str(shift))
            parts.append(f"({escape(bytes((byte,)))})")
            carry = g.dx + g.width - g.advance  # undo the offset and the declared width's excess
            if g.dy:
                ops.append(f"[{' '.join(parts)}] TJ 0 Ts")
                parts = []
            i += 1
        if abs(carry) > 0.01:
            parts.append(fp_str(carry))
            carry = 0.0
        if parts:
            ops.append(f"[{' '.join(parts)}] TJ")
    return ops


def text_ops(c: Canvas, text: str, base_font: str, size: float, clean) -> list[str]:
    """Operators drawing one line of text from the current text position: base-font runs as they
    are (``clean`` replaces what the base font lacks), complex-script runs shaped."""
    doc, escape = c._doc, c._escape
    ops: list[str] = []
    for font_name, run in runs(text):
        if font_name is not None:
            ops += shaped_ops(c, font_name, size, shape(font_name, run))
            continue
        font = pdfmetrics.getFont(base_font)
        for subset, chunk in font.splitString(clean(run), doc):
            ops.append(f"{font.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf ({escape(chunk)}) Tj")
    return ops
