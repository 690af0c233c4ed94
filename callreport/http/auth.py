"""/api/v2/auth: login and logout (§3)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from callreport.actions import auth
from callreport.actions.auth import LoginParams, LogoutParams
from callreport.http import responses as R
from callreport.http.contract import Params, PublicDep, metered
from callreport.http.openapi import documented
from callreport.http.wire import success

router = APIRouter(prefix="/api/v2/auth", tags=["auth"], dependencies=[Depends(metered)])


@router.post("/login", **documented("login", LoginParams, R.LoginResponse, authenticated=False))
def login(ctx: PublicDep, p: Params[LoginParams]) -> Response:
    """Open a session (ssid) with a username and password."""
    return success(auth.login(ctx, p))


@router.post("/logout", **documented("logout", LogoutParams, R.Done, authenticated=False))
def logout(ctx: PublicDep, p: Params[LogoutParams]) -> Response:
    """End a session: its ssid stops working at once."""
    return success(auth.logout(ctx, p))
