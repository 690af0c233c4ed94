"""/api/v2/callreport: export<Format> per format, exportList, exportStatus, changeTitle, exportCancel (§7)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from callreport.actions import exports
from callreport.actions.common import RequestIdParams
from callreport.actions.exports import ExportParams, ListParams, TitleParams
from callreport.export.formats import FORMATS, Format
from callreport.http import responses as R
from callreport.http.contract import Params, ReaderDep, metered
from callreport.http.openapi import documented
from callreport.http.wire import success

router = APIRouter(prefix="/api/v2/callreport", tags=["exports"], dependencies=[Depends(metered)])


def _creator(fmt: Format) -> Callable[..., Response]:
    def export(ctx: ReaderDep, p: Params[ExportParams]) -> Response:
        return success(exports.EXPORTERS[fmt.name](ctx, p))

    export.__name__ = f"export_{fmt.name}"
    export.__doc__ = f"Start a {fmt.described} export of the matching calls; the file is made in the background."
    return export


for _fmt in FORMATS.values():  # export<suffix>, one route per registered format
    router.post(f"/{_fmt.export_endpoint}", **documented(_fmt.export_endpoint, ExportParams, R.ExportCreated))(
        _creator(_fmt)
    )


@router.post("/exportList", **documented("exportList", ListParams, R.ExportListResponse))
def export_list(ctx: ReaderDep, p: Params[ListParams]) -> Response:
    """The export requests this user may see, newest first."""
    return success(exports.export_list(ctx, p))


@router.post("/exportStatus", **documented("exportStatus", RequestIdParams, R.ExportRequestResponse))
def export_status(ctx: ReaderDep, p: Params[RequestIdParams]) -> Response:
    """One export request: its state, progress, row count and file."""
    return success(exports.export_status(ctx, p))


@router.post("/changeTitle", **documented("changeTitle", TitleParams, R.TitleChanged))
def change_title(ctx: ReaderDep, p: Params[TitleParams]) -> Response:
    """Rename an export request (the title names the downloaded file)."""
    return success(exports.change_title(ctx, p))


@router.post("/exportCancel", **documented("exportCancel", RequestIdParams, R.ExportRequestResponse))
def export_cancel(ctx: ReaderDep, p: Params[RequestIdParams]) -> Response:
    """Stop a pending or running export; a finished one is left as it is."""
    return success(exports.export_cancel(ctx, p))
