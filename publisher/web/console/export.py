"""``Export CSV``: one row per recipient of a campaign, streamed, safe to open in a spreadsheet.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is prefixed with ``'``: a spreadsheet would otherwise run it as a formula
(CSV injection). Addresses
and provider errors come from outside, so any of them may.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from publisher.ledger.results import RecipientRow, recipient_rows
from publisher.web.console.auth import User
from publisher.web.console.campaign_page import existing
from publisher.web.deps import Context

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)

HEADER = ("email", "state", "provider", "attempts", "sent_at", "last_error")
#: Tab and carriage return too: some spreadsheets drop them and read the formula after them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows written per chunk of the response.
CHUNK = 500


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cells(row: RecipientRow) -> list[str]:
    sent_at = row.sent_at.isoformat() if row.sent_at else ""
    return [safe_cell(value) for value in (row.email, row.state, row.provider, str(row.attempts), sent_at, row.last_error)]


def csv_chunks(rows: Iterator[RecipientRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_cells(row))
        if count % CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get("/campaigns/{campaign_id}/export.csv")
def export_csv(ctx: Context, user: User, campaign_id: int) -> Response:
    existing(ctx, campaign_id)
    headers = {
        "Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(csv_chunks(recipient_rows(ctx.db, campaign_id)), media_type="text/csv; charset=utf-8", headers=headers)
