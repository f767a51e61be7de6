"""Subscriber pages reached from a signed link: unsubscribe, preferences, view in browser; the archive."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
