"""The console's front door: /console goes to the campaigns."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from publisher.web.console.auth import User

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)


@router.get("")
@router.get("/")
def console_home(_user: User) -> RedirectResponse:
    return RedirectResponse("/console/campaigns", status_code=303)
