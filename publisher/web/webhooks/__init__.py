"""Provider webhooks at /webhooks/{provider}: verified first, then parsed and recorded."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
