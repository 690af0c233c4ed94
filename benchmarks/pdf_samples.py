"""Make docs/pdf-summary.png and docs/pdf-table.png: the first two pages of a PDF of demo calls.

    python benchmarks/pdf_samples.py            # needs pdftoppm (Debian: poppler-utils)

The calls are the demo's (callreport.demo, fixed seed and dates, so the pictures only change
when the PDF does), written by the export's PDF writer with its default columns.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from callreport.demo import generate_calls
from callreport.export.columns import PDF_COLUMNS
from callreport.export.meta import ReportMeta
from callreport.export.pdf import write_pdf

DOCS = Path(__file__).resolve().parent.parent / "docs"
TZ = ZoneInfo("Asia/Kolkata")


def main() -> None:
    """Write the PDF of 600 demo calls and render its cover and first table page."""
    records = list(generate_calls(600, seed=11, start=datetime(2026, 11, 1), days=14))
    rows = [
        tuple(datetime.fromisoformat(r[c.name]) if c.kind == "time" else r[c.name] for c in PDF_COLUMNS)
        for r in records
    ]
    answered = [r for r in records if r["status"] == "answered"]
    days = Counter((r["startTime"][:10], r["status"] == "answered") for r in records)
    meta = ReportMeta(
        title="Calls 2026-11-01 to 2026-11-14",
        account_name="Demo Contact Centre",
        timezone="Asia/Kolkata",
        filters_text=["Period: 2026-11-01 00:00:00 to 2026-11-14 23:59:59 (Asia/Kolkata)"],
        generated_at=datetime(2026, 11, 15, 9, 0, tzinfo=TZ),
        totals={
            "calls": len(records),
            "answered": len(answered),
            "missed": len(records) - len(answered),
            "talk_seconds": sum(r["talkDuration"] for r in records),
        },
        per_day=[(d, days[(d, True)], days[(d, False)]) for d in sorted({d for d, _ in days})],
    )
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "report.pdf"
        write_pdf(PDF_COLUMNS, rows, str(pdf), meta)
        for page, name in ((1, "pdf-summary"), (2, "pdf-table")):
            out, target = Path(tmp) / name, DOCS / f"{name}.png"
            # 100 dpi shows 8 pt type sharply. The chart keeps its colours; the table, black on
            # grey, is kept in grey levels, a third of the bytes (pdftoppm writes those as PGM only).
            pages = ["-f", str(page), "-l", str(page), "-singlefile"]
            if page == 1:
                subprocess.run(["pdftoppm", "-png", "-r", "100", *pages, pdf, out], check=True)
                target.write_bytes(out.with_suffix(".png").read_bytes())
            else:
                subprocess.run(["pdftoppm", "-gray", "-r", "100", *pages, pdf, out], check=True)
                target.write_bytes(pgm_to_png(out.with_suffix(".pgm").read_bytes()))
            print(target, target.stat().st_size // 1024, "KB")


def pgm_to_png(pgm: bytes) -> bytes:
    """A binary 8-bit PGM (P5) as a greyscale PNG, with the standard library alone."""
    magic, width, height, depth, pixels = pgm.split(maxsplit=4)
    assert magic == b"P5" and depth == b"255"
    w, h = int(width), int(height)
    raw = b"".join(b"\0" + pixels[y * w : (y + 1) * w] for y in range(h))  # filter 0 on each row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    main()
