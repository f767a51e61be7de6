"""Errors of the HTTP API as RFC 9457 problem details (``application/problem+json``).

Every answer under ``/v1`` that is not a success is a problem: ``type``,
``title``, ``status`` and ``detail``, plus ``errors`` (each ``where`` and
``reason``) when the request was unreadable, so a client can point at the
field to fix. The rest of the app keeps its ``{"detail": ...}`` answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

PREFIX = "/v1"
MEDIA_TYPE = "application/problem+json"
#: Problems with no more to say than their status use the RFC's blank type.
BLANK = "about:blank"
LINT_ERRORS = "urn:newsletter:problem:lint-errors"
INVALID = "urn:newsletter:problem:invalid-request"


class ProblemItem(BaseModel):
    where: str = Field(description="The field or part of the request, e.g. `body.event.date` or `front matter`.")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(BLANK, description="A URI naming the kind of problem; `about:blank` when the status says it all.")
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = Field(None, description="Each thing wrong with the request (422).")
    findings: list[dict[str, str]] | None = Field(None, description="The lint errors that stopped a send (409).")


class ApiProblem(HTTPException):
    """An HTTPException that carries a problem's extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[tuple[str, str]] | None = None,
        type_: str = BLANK,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.errors = errors
        self.type = INVALID if errors and type_ == BLANK else type_
        self.extra = dict(extra or {})


def is_api(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def problem_body(status: int, detail: str, *, type_: str = BLANK, errors: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type_, "title": _title(status), "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = [{"where": where, "reason": reason} for where, reason in errors]
    return body


def problem_response(exc: HTTPException) -> JSONResponse:
    """The problem for an HTTPException raised under /v1 (an ApiProblem's extras included)."""
    if isinstance(exc, ApiProblem):
        body = problem_body(exc.status_code, str(exc.detail), type_=exc.type, errors=exc.errors) | exc.extra
    else:
        body = problem_body(exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers, media_type=MEDIA_TYPE)


def invalid_response(errors: list[tuple[str, str]]) -> JSONResponse:
    detail = "the request is not valid: " + "; ".join(f"{where}: {reason}" for where, reason in errors[:5])
    return JSONResponse(problem_body(422, detail[:2000], type_=INVALID, errors=errors), status_code=422, media_type=MEDIA_TYPE)


def unexpected_response() -> JSONResponse:
    return JSONResponse(problem_body(500, "internal error; it has been logged"), status_code=500, media_type=MEDIA_TYPE)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for these problem statuses (and those every /v1 call may answer), as ``application/problem+json``."""
    every = (400, 401, 403, 422, 429)
    return {
        status: {
            "description": _title(status),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in sorted({*every, *statuses})
    }


def document(app: FastAPI) -> None:
    """Add the Problem schema the API's error responses refer to to ``app``'s OpenAPI document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            definitions = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(definitions.pop("$defs", {}))
            components["Problem"] = definitions
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
