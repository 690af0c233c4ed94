"""/api/v2/callreport: download<Format> for every registered format, streamed from storage (§8)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from callreport.actions import downloads
from callreport.actions.common import RequestIdParams
from callreport.export.formats import FORMATS, Format
from callreport.http.contract import FileParams, ReaderDep, bare, metered
from callreport.http.openapi import documented

# bare first: it sees every error, the address's rate included, and strips its detail (the reference's bodies).
router = APIRouter(prefix="/api/v2/callreport", tags=["exports"], dependencies=[Depends(bare), Depends(metered)])


def _downloader(fmt: Format) -> Callable[..., Response]:
    def download(ctx: ReaderDep, p: FileParams[RequestIdParams]) -> Response:
        return downloads.DOWNLOADERS[fmt.name](ctx, p)

    download.__name__ = f"download_{fmt.name}"
    download.__doc__ = f"The finished {fmt.described} of an export request."
    return download


for _fmt in FORMATS.values():  # download<suffix>, one route per registered format
    route = documented(_fmt.download_endpoint, RequestIdParams, file_type=_fmt.media_type)
    router.post(f"/{_fmt.download_endpoint}", **route)(_downloader(_fmt))
