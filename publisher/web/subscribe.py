"""Double opt-in: POST /subscribe and the signed confirm link."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
