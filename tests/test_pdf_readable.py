"""The PDF a person reads: every demo script shaped, readable type, wrapped text, few pages when empty."""

from __future__ import annotations

import io
import re
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
import uharfbuzz as hb
from fontTools.ttLib import TTFont
from pypdf.generic import ContentStream

from callreport.demo import AGENTS
from callreport.export.columns import PDF_COLUMNS, resolve_columns
from callreport.export.meta import ReportMeta
from callreport.export.pdf import write_pdf
from callreport.export.words import filters_in_words
from callreport.filters import CallFilter, Resolved

FONTS = Path(__file__).resolve().parent.parent / "callreport" / "fonts"
KOLKATA = ZoneInfo("Asia/Kolkata")
META = ReportMeta(
    title="Readable report",
    account_name="Acme Ltd",
    timezone="Asia/Kolkata",
    filters_text=["Period: All calls"],
    generated_at=datetime(2024, 3, 17, 9, 30, tzinfo=KOLKATA),
    totals={"calls": 3, "answered": 2, "missed": 1, "talk_seconds": 100},
    per_day=[("2024-03-10", 2, 1)],
)
NAMES = [agent.name for agent in AGENTS]
HINDI, ARABIC = "प्रिया पटेल", "فاطمة الزهراء"


def row(i: int, name: str | None = None, disposition: str | None = "Resolved") -> tuple:
    """A row of the PDF's default columns."""
    start = datetime(2024, 3, 10, 9, 0, tzinfo=KOLKATA) + timedelta(minutes=7 * i)
    values = {
        "callId": f"CALL-{i:08d}", "startTime": start, "direction": "inbound", "callType": "ivr",
        "status": "answered", "customerNumber": "+91 98765 43210", "agentName": name, "duration": 125,
        "talkDuration": 100, "waitTime": 12, "campaign": "Festive Offer", "disposition": disposition,
    }  # fmt: skip
    return tuple(values[c.name] for c in PDF_COLUMNS)


def write(tmp_path: Path, rows: list[tuple], columns=PDF_COLUMNS, meta: ReportMeta = META) -> pypdf.PdfReader:
    path = str(tmp_path / "r.pdf")
    assert write_pdf(columns, rows, path, meta) == len(rows)
    return pypdf.PdfReader(path)


def fonts_of(page) -> dict[str, object]:
    """A page's font resources by name, the objects resolved."""
    return {name: ref.get_object() for name, ref in page["/Resources"]["/Font"].items()}


def drawn(reader: pypdf.PdfReader, page, face: str) -> list[tuple[float, list[int]]]:
    """Per text-showing operator in a font whose name holds ``face``: the type size and the codes shown."""
    fonts = fonts_of(page)
    out, font, size = [], None, 0.0
    for operands, op in ContentStream(page.get_contents(), reader).operations:
        if op == b"Tf":
            font, size = fonts[operands[0]]["/BaseFont"], float(operands[1])
        elif op in (b"Tj", b"TJ") and font is not None and face in font:
            items = operands[0] if op == b"TJ" else [operands[0]]
            codes = [b for item in items if isinstance(item, (bytes, str)) for b in _raw(item)]
            out.append((size, codes))
    return out


def _raw(item) -> bytes:
    return bytes(item) if isinstance(item, bytes) else item.original_bytes


def glyph_shapes(font: TTFont, names: list[str]) -> list[list[tuple[int, int]]]:
    """The outlines (points, composites resolved) of glyphs: what a reader sees, whatever the glyph ids."""
    glyf = font["glyf"]
    return [list(glyf[name].getCoordinates(glyf)[0]) for name in names]


def shaped_and_unshaped(text: str, file: str) -> tuple[list, list]:
    """HarfBuzz's glyph outlines for the text, and the outlines of its characters one by one."""
    data = (FONTS / file).read_bytes()
    font = TTFont(io.BytesIO(data))
    order = font.getGlyphOrder()
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(hb.Font(hb.Face(hb.Blob(data))), buf, {})
    shaped = glyph_shapes(font, [order[g.codepoint] for g in buf.glyph_infos])
    cmap = font.getBestCmap()
    return shaped, glyph_shapes(font, [cmap[ord(ch)] for ch in text])


def embedded_shapes(reader: pypdf.PdfReader, page, face: str) -> list:
    """The outlines of the glyphs drawn in the embedded subset of a face, in the order drawn."""
    (font,) = [f for f in fonts_of(page).values() if face in f["/BaseFont"]]
    subset = TTFont(io.BytesIO(font["/FontDescriptor"]["/FontFile2"].get_data()))
    cmap = subset["cmap"].getcmap(1, 0).cmap  # ReportLab's subsets map their byte codes here
    codes = [code for _, codes in drawn(reader, page, face) for code in codes]
    return glyph_shapes(subset, [cmap[code] for code in codes])


@pytest.mark.parametrize(
    ("text", "face", "file"),
    [
        (HINDI, "NotoSansDevanagari", "NotoSansDevanagari-Regular.ttf"),
        ("अर्जुन मेहता", "NotoSansDevanagari", "NotoSansDevanagari-Regular.ttf"),
        (ARABIC, "NotoSansArabic", "NotoSansArabic-Regular.ttf"),
    ],
)
def test_complex_scripts_are_drawn_with_shaped_glyphs(tmp_path, text: str, face: str, file: str) -> None:
    reader = write(tmp_path, [(text,)], resolve_columns(["agentName"]))
    page = reader.pages[1]
    shaped, unshaped = shaped_and_unshaped(text, file)
    # Shaping changes these names (conjuncts, a vowel sign moved before its consonant, joined
    # Arabic letters in right-to-left order), so drawing characters one by one would fail here.
    assert shaped != unshaped
    assert embedded_shapes(reader, page, face) == shaped
    assert text in page.extract_text()


def test_every_demo_name_reads_back_with_no_replacement(tmp_path) -> None:
    rows = [row(i, name) for i, name in enumerate(NAMES)]
    reader = write(tmp_path, rows)
    text = reader.pages[1].extract_text()
    for name in NAMES:
        assert name in text
    assert "?" not in text and "\ufffd" not in text
    faces = {str(f["/BaseFont"]).split("+")[-1] for f in fonts_of(reader.pages[1]).values()}
    assert {"NotoSansDevanagari-Regular", "NotoSansArabic-Regular", "DejaVuSans"} <= faces


def test_default_columns_are_set_at_least_7_5_points(tmp_path) -> None:
    reader = write(tmp_path, [row(i, NAMES[i % len(NAMES)]) for i in range(80)])
    values = (b"CALL-", b"2024-03-", b"inbound", b"answered", b"+91 98765", b"Festive", b"Resolved")
    for page in reader.pages[1:]:
        cells = [size for size, codes in drawn(reader, page, "DejaVuSans") if any(v in bytes(codes) for v in values)]
        assert len(cells) >= 7 * 20 and min(cells) >= 7.5  # the rows' values, the footer (7 pt) aside
        assert min(size for size, _ in drawn(reader, page, "Noto")) >= 7.5
    header = "".join(reader.pages[1].extract_text().split())
    assert header.startswith("".join(c.name for c in PDF_COLUMNS))


def test_a_wide_column_set_shrinks_no_lower_than_7_points(tmp_path) -> None:
    names = [c.name for c in resolve_columns(None)] + [f"callAnalysis.key{i}" for i in range(10)]
    columns = resolve_columns(names)
    rows = [tuple("ok" if c.kind == "any" else None for c in columns)]
    reader = write(tmp_path, rows, columns)
    sizes = [size for size, codes in drawn(reader, reader.pages[1], "") if bytes(codes) == b"ok"]
    assert len(sizes) == 10 and min(sizes) == 7
    assert "callAnalysis.key9" in "".join(reader.pages[1].extract_text().split())


def test_long_text_is_wrapped_whole_not_cut(tmp_path) -> None:
    long = "Customer asked for a callback about the renewal of the annual maintenance contract next week"
    reader = write(tmp_path, [row(0, "प्रिया पटेल " * 4 + "Sharma", long), row(1)])
    text = reader.pages[1].extract_text()
    assert "\u2026" not in text
    assert long in " ".join(text.split())  # every word there, in order, on several lines
    lines = text.splitlines()
    assert not any(long in line for line in lines)
    assert ("प्रिया पटेल " * 4).split()[0] in text


def test_period_says_all_calls_without_dates() -> None:
    r = Resolved(CallFilter(), KOLKATA, None, None)
    assert filters_in_words({}, r)[0] == "Period: All calls"
    start = int(datetime(2024, 3, 1, tzinfo=KOLKATA).timestamp())
    assert filters_in_words({}, Resolved(CallFilter(), KOLKATA, start, None))[0] == (
        "Period: from 2024-03-01 00:00:00 (Asia/Kolkata)"
    )
    assert "-" not in filters_in_words({}, r)[0]


def test_an_empty_report_is_one_page(tmp_path) -> None:
    reader = write(tmp_path, [], meta=ReportMeta(**{**META.__dict__, "per_day": [], "totals": {}}))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "No calls match this report." in text and re.search(r"Page 1 of\s*1", text)


def test_header_and_page_n_of_n_on_every_table_page(tmp_path) -> None:
    rows = [row(i, NAMES[i % len(NAMES)], "Follow-up Needed" if i % 3 else None) for i in range(150)]
    reader = write(tmp_path, rows)
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 4
    header = "".join(c.name for c in PDF_COLUMNS)
    for n, text in enumerate(pages, start=1):
        assert re.findall(r"Page (\d+) of\s*(\d+)", text) == [(str(n), str(len(pages)))]
        if n > 1:
            assert "".join(text.split()).startswith(header)
    ids = re.findall(r"CALL-\d{8}", "\n".join(pages[1:]))
    assert ids == [f"CALL-{i:08d}" for i in range(150)]


@pytest.mark.slow  # renders large PDFs in a subprocess: ~4.5 s
def test_memory_does_not_grow_with_the_rows(tmp_path) -> None:
    """Pages are deflated as they are finished: 4,000 more rows hold their deflated pages, not
    their drawing commands (about 0.55 KB a row, 2.2 MB here, kept as text until saving)."""

    def peak(n: int) -> int:
        rows = (row(i, NAMES[i % len(NAMES)]) for i in range(n))
        tracemalloc.start()
        try:
            write_pdf(PDF_COLUMNS, rows, str(tmp_path / f"{n}.pdf"), META)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(500)  # fonts loaded and glyphs shaped once, outside the comparison
    grown = peak(7_000) - peak(3_000)  # both past filling the bounded caches of drawn lines
    assert grown < 2**20, grown
