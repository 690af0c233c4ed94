"""download<Format> for every registered format: the finished file, streamed from storage."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from callreport import errors, jobs
from callreport.actions.common import RequestIdParams
from callreport.context import Ctx
from callreport.export.formats import FORMATS, Format
from callreport.repo import exports as exports_repo
from callreport.storage import StorageError, StorageMissing

ASCII_SAFE = re.compile(r"[^A-Za-z0-9 ._-]")


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


def _download(ctx: Ctx, request_id: str, fmt: Format) -> Response:
    with ctx.engine.connect() as conn:
        row = exports_repo.get(conn, ctx.principal, request_id)
    if row is None or row.format != fmt.name or jobs.shown_state(row) != "done" or not row.storage_key:
        raise errors.NotExists("File")
    try:
        size = ctx.storage.size(row.storage_key)
        chunks = ctx.storage.iter_bytes(row.storage_key)
    except StorageMissing:
        raise errors.NotExists("File") from None
    except StorageError:
        raise errors.SomethingWentWrong() from None
    headers = {
        "content-disposition": disposition(row.title if row.title_set else None, fmt.extension),
        "content-length": str(size),
        "etag": f'"{row.sha256}"',
        "cache-control": "private, no-store",
    }
    return StreamingResponse(chunks, media_type=fmt.media_type, headers=headers)


def _downloader(fmt: Format) -> Callable[[Ctx, RequestIdParams], Response]:
    def download(ctx: Ctx, p: RequestIdParams) -> Response:
        return _download(ctx, p.requestId, fmt)

    download.__name__ = f"download_{fmt.name}"
    download.__doc__ = f"The finished {fmt.described} of an export request."
    return download


# format -> its download handler (download<suffix> on the API).
DOWNLOADERS = {name: _downloader(fmt) for name, fmt in FORMATS.items()}
