"""The export formats, declared once: name, file extension, media type, endpoints and writer.

Export creation, the worker and the downloads read this table, and the export and
download endpoints are registered from it, so a new format is one entry plus its writer
module. A writer module exposes ``write(columns, rows, path, meta_fn, progress) -> int``
(the rows written); it is imported only when a file is made, so an API process never
loads ReportLab or XlsxWriter.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callreport.export.columns import Column
from callreport.export.meta import MetaFn, Progress

ABSENT = object()  # a callAnalysis.<key> the call lacks, for writers that tell it from null


@dataclass(frozen=True)
class Format:
    """One export format."""

    name: str  # the request's `format`, exportList's `formats` (at most 8 characters: models.py)
    suffix: str  # the endpoints: export<suffix>, download<suffix>
    extension: str  # of the stored and downloaded file, without the dot
    media_type: str  # the download's Content-Type
    writer: str  # the module whose write() makes the file
    described: str  # what the file is, in the endpoints' summaries
    iso_times: bool = False  # times reach the writer as ISO 8601 text, not datetimes
    marks_absent: bool = False  # a missing callAnalysis.<key> reaches the writer as ABSENT, not None
    max_rows_setting: str | None = None  # the Settings field capping the rows of one file

    @property
    def export_endpoint(self) -> str:
        """The endpoint that starts an export in this format."""
        return f"export{self.suffix}"

    @property
    def download_endpoint(self) -> str:
        """The endpoint that downloads a finished file of this format."""
        return f"download{self.suffix}"

    def write(
        self, columns: Sequence[Column], rows: Iterable[tuple], path: Path, meta_fn: MetaFn, progress: Progress | None
    ) -> int:
        """Write the file at ``path`` with this format's writer; the number of rows written."""
        return importlib.import_module(self.writer).write(columns, rows, path, meta_fn, progress)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("csv", "Csv", "csv", "text/csv; charset=utf-8", "callreport.export.csv", "CSV", iso_times=True),
        Format(
            "xlsx",
            "Excel",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "callreport.export.xlsx",
            "Excel workbook (.xlsx)",
        ),
        Format(
            "pdf",
            "Pdf",
            "pdf",
            "application/pdf",
            "callreport.export.pdf",
            "PDF report",
            max_rows_setting="pdf_max_rows",
        ),  # fmt: skip
        Format(
            "jsonl",
            "Jsonl",
            "jsonl.gz",
            "application/gzip",
            "callreport.export.jsonl",
            "gzip-compressed JSON Lines file",
            iso_times=True,
            marks_absent=True,
        ),  # fmt: skip
    )
}
NAMES: tuple[str, ...] = tuple(FORMATS)
