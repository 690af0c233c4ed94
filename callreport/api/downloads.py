"""downloadPdf, downloadCsv, downloadExcel: the finished file, streamed from storage."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from callreport import errors, jobs
from callreport.api.exports import MEDIA, TAGS, RequestIdParams
from callreport.context import Ctx
from callreport.repo import exports as exports_repo
from callreport.storage import StorageError, StorageMissing
from callreport.transport import Api

api = Api("/api/v2/callreport")
ASCII_SAFE = re.compile(r"[^A-Za-z0-9 ._-]")
EXTENSION = {"pdf": "pdf", "csv": "csv", "xlsx": "xlsx"}


def disposition(title: str | None, ext: str) -> str:
    """Content-Disposition: call_report.<ext>, or the user's title made safe (filename* when not ASCII)."""
    if not title:
        return f'attachment; filename="call_report.{ext}"'
    ascii_name = ASCII_SAFE.sub("_", title)[:100]
    header = f'attachment; filename="{ascii_name}.{ext}"'
    if not title.isascii():
        uni = "".join(c if c.isalnum() or c in " ._-" else "_" for c in title)[:100]
        header += f"; filename*=UTF-8''{quote(uni + '.' + ext, safe='')}"
    return header


def _download(ctx: Ctx, request_id: str, fmt: str) -> Response:
    with ctx.engine.connect() as conn:
        row = exports_repo.get(conn, ctx.principal, request_id)
    if row is None or row.format != fmt or jobs.shown_state(row) != "done" or not row.storage_key:
        raise errors.NotExists("File")
    try:
        size = ctx.storage.size(row.storage_key)
        chunks = ctx.storage.iter_bytes(row.storage_key)
    except StorageMissing:
        raise errors.NotExists("File") from None
    except StorageError:
        raise errors.SomethingWentWrong() from None
    headers = {
        "content-disposition": disposition(row.title if row.title_set else None, EXTENSION[fmt]),
        "content-length": str(size),
        "etag": f'"{row.sha256}"',
        "cache-control": "private, no-store",
    }
    return StreamingResponse(chunks, media_type=MEDIA[fmt], headers=headers)


@api.endpoint("downloadPdf", RequestIdParams, download=True, media_type=MEDIA["pdf"], tags=TAGS)
def download_pdf(ctx: Ctx, p: RequestIdParams) -> Response:
    """The finished PDF of an export request."""
    return _download(ctx, p.requestId, "pdf")


@api.endpoint("downloadCsv", RequestIdParams, download=True, media_type=MEDIA["csv"], tags=TAGS)
def download_csv(ctx: Ctx, p: RequestIdParams) -> Response:
    """The finished CSV of an export request."""
    return _download(ctx, p.requestId, "csv")


@api.endpoint("downloadExcel", RequestIdParams, download=True, media_type=MEDIA["xlsx"], tags=TAGS)
def download_excel(ctx: Ctx, p: RequestIdParams) -> Response:
    """The finished Excel workbook of an export request."""
    return _download(ctx, p.requestId, "xlsx")
