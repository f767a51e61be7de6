"""The API's routers, gathered under ``/v1`` for ``publisher.web.app``; the order is the order of /docs."""

from __future__ import annotations

from fastapi import APIRouter

from publisher.web.api import campaigns, lists, sends
from publisher.web.api.problems import PREFIX

router = APIRouter(prefix=PREFIX)
for module in (campaigns, sends, lists):
    router.include_router(module.router)
