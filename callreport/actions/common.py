"""What the actions share: the caller's filter resolved, a connection with the query time budget, requestId."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from pydantic import BaseModel, Field, StrictStr
from sqlalchemy.engine import Connection

from callreport import db, errors, filters
from callreport.context import Ctx
from callreport.filters import CallFilter
from callreport.record import STRICT

REQUEST_ID = re.compile(r"^[0-9a-f]{24}$")


def resolved(ctx: Ctx, f: CallFilter) -> filters.Resolved:
    """The filter's times fixed in the effective timezone, or 1000 (also for a too short customerNumber)."""
    try:
        filters.check_number_filter(f, ctx.principal.sees_numbers)
        return filters.resolve(f, ctx.principal.account_tz)
    except ValueError as exc:
        raise errors.InvalidParameters(f"{exc}.") from None


@contextmanager
def budgeted(ctx: Ctx) -> Iterator[Connection]:
    """A connection whose queries may run CALLREPORT_QUERY_TIMEOUT_SECONDS (§9 Cost), then 1000."""
    with ctx.engine.connect() as conn, db.time_budget(conn, ctx.settings.query_timeout_seconds):
        yield conn


class RequestIdParams(BaseModel):
    """An export request's id."""

    model_config = STRICT
    requestId: Annotated[StrictStr, Field(pattern=REQUEST_ID.pattern)]
