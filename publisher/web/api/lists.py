"""``/v1/lists``: the lists, importing subscribers into one, and taking an address off one.

An import follows the CLI's rules (``newsletter subscribers import``): every
row is checked, the valid ones land in one transaction, a list not seen
before is created, and each rejected row comes back with its line (the CSV
line, or the position in the JSON array, from 1) and the reason. An import
may be as large as ``NEWSLETTER_MAX_IMPORT_BYTES``; the app's body limit
makes room for this route alone (``publisher.web.app``).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import Actor
from publisher.audience.lists import ListNameError, check_list_name, check_new_list_name, leave_list_by_address, list_summaries
from publisher.audience.subscriber_rows import normalise_email, rows_of_records
from publisher.audience.subscribers import ImportReport, import_csv_data, import_rows
from publisher.web.api.auth import SubscribersRead, SubscribersWrite
from publisher.web.api.problems import ApiProblem, responses
from publisher.web.api.schemas import ImportResult, ListOut, Rejected, Unsubscribed
from publisher.web.api.translate import translated
from publisher.web.deps import Context, WebContext

router = APIRouter(tags=["lists"])

#: The import route, which may take a body of NEWSLETTER_MAX_IMPORT_BYTES.
IMPORT_PATH = r"/v1/lists/[^/]+/subscribers"
#: Lists with this prefix are kept by the events they belong to; an import may not add to them.
JSON_TYPE, CSV_TYPE = "application/json", "text/csv"

ListName = Annotated[str, Path(min_length=1, max_length=100, description="The list's name.")]

IMPORT_BODY = {
    "required": True,
    "content": {
        JSON_TYPE: {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["email"],
                    "properties": {"email": {"type": "string"}, "first_name": {"type": "string"}, "last_name": {"type": "string"}},
                    "additionalProperties": {"type": "string"},
                },
            }
        },
        CSV_TYPE: {"schema": {"type": "string", "description": "CSV with a header row naming an email column."}},
    },
}


@router.get("/lists", response_model=list[ListOut], responses=responses(), summary="Lists and their subscriptions by status")
def get_lists(actor: SubscribersRead, ctx: Context) -> list[ListOut]:
    return [
        ListOut(
            name=summary.name,
            public=summary.public,
            description=summary.description,
            subscriptions={status.value: count for status, count in summary.counts.items()},
        )
        for summary in list_summaries(ctx.db)
    ]


def _importable(name: str) -> str:
    with translated():
        name = check_list_name(name)
    try:
        return check_new_list_name(name)
    except ListNameError as exc:
        raise ApiProblem(422, f"{name[:100]}: {exc}", errors=[("name", str(exc))]) from None


def _import(ctx: WebContext, list_name: str, media_type: str, data: bytes, actor: Actor) -> ImportReport:
    source = f"import:api:{actor.name}"
    with translated():
        if media_type == CSV_TYPE:
            report = import_csv_data(ctx.db, data, list_name, name="the CSV body", source=source)
        else:
            try:
                records = json.loads(data)
            except ValueError as exc:
                raise ApiProblem(422, f"the body is not JSON: {exc}", errors=[("body", "not JSON")]) from exc
            if not isinstance(records, list):
                raise ApiProblem(422, "the body must be a JSON array of subscribers", errors=[("body", "not an array")])
            rows, problems = rows_of_records(records)
            report = import_rows(ctx.db, rows, problems, list_name, source)
    detail = f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {len(report.problems)} rejected"
    audit.log(ctx.db, actor, Action.IMPORTED, target=list_name, detail=detail)
    return report


@router.post(
    "/lists/{name}/subscribers",
    response_model=ImportResult,
    responses=responses(413, 415),
    openapi_extra={"requestBody": IMPORT_BODY},
    summary="Import subscribers (JSON array or CSV)",
)
async def import_subscribers(name: ListName, request: Request, actor: SubscribersWrite, ctx: Context) -> ImportResult:
    list_name = _importable(name)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in (JSON_TYPE, CSV_TYPE):
        raise ApiProblem(415, f"send the subscribers as {JSON_TYPE} (an array of objects) or {CSV_TYPE}")
    data = await request.body()
    report = await run_in_threadpool(_import, ctx, list_name, media_type, data, actor)
    return ImportResult(
        list=list_name,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        kept_unsubscribed=report.kept_unsubscribed,
        rejected=[Rejected(line=problem.line, reason=problem.reason) for problem in report.problems],
    )


@router.delete(
    "/lists/{name}/subscribers/{email}", response_model=Unsubscribed, responses=responses(404), summary="Unsubscribe an address from a list"
)
def unsubscribe(
    name: ListName, email: Annotated[str, Path(min_length=1, max_length=320)], actor: SubscribersWrite, ctx: Context
) -> Unsubscribed:
    try:
        address = normalise_email(email)
    except ValueError as exc:
        raise ApiProblem(422, f"email: {exc}", errors=[("email", str(exc))]) from exc
    with translated(), ctx.db.transaction() as session:
        changed = leave_list_by_address(session, name, address)
        if changed:
            audit.record(session, actor, Action.UNSUBSCRIBED, target=f"{name.strip()[:100]}: {address}"[:400])
    return Unsubscribed(list=name.strip(), email=address, status="unsubscribed", changed=changed)
