"""login and logout."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictStr

from callreport import auth, db, errors
from callreport.context import Ctx
from callreport.record import STRICT
from callreport.time_format import account_time


class LoginParams(BaseModel):
    """A username and password."""

    model_config = STRICT
    username: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=1000)]


class LogoutParams(BaseModel):
    """The session to end."""

    model_config = STRICT
    ssid: Annotated[StrictStr, Field(min_length=1, max_length=200)]


def login(ctx: Ctx, p: LoginParams) -> dict:
    """Open a session (ssid) with a username and password."""
    s = ctx.settings
    failure = None
    with db.writing(ctx.engine) as conn:
        try:
            out = auth.login(
                conn, p.username, p.password, s.session_ttl_seconds, s.login_max_failures, s.login_window_seconds
            )
            tz = auth.account_zone(conn, out["userId"])
        except errors.ApiError as exc:
            failure = exc  # raised after the block so the recorded failure commits
    if failure:
        raise failure
    return {**out, "expiresAt": account_time(out["expiresAt"], tz)}


def logout(ctx: Ctx, p: LogoutParams) -> dict:
    """End a session: its ssid stops working at once."""
    with db.writing(ctx.engine) as conn:
        auth.logout(conn, p.ssid)
    return {}
