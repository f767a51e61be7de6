"""schemathesis over /v1, authenticated with a token of every scope: no 5xx, and every answer is one the OpenAPI document describes.

The fuzzer runs as its command-line tool against the real app on a loopback
port, with a list of subscribers and a draft to work on. Bounded examples and
a fixed seed keep it quick and repeatable.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from tests.support.api import Api, token
from tests.support.audience import people
from tests.support.fuzzing import RUN_TIMEOUT, fuzz
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_the_api_document_names_its_bearer_scheme_and_problem_answers(web_url: str) -> None:
    document = requests.get(f"{web_url}/openapi.json", timeout=10).json()
    assert document["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`nlt_…`) from `newsletter tokens create`.",
    }
    operations = [
        (path, method, spec) for path, methods in document["paths"].items() if path.startswith("/v1/") for method, spec in methods.items()
    ]
    assert len(operations) == 17
    for path, method, spec in operations:
        assert spec["security"] == [{"HTTPBearer": []}], (path, method)
        for status in ("401", "403", "422", "429"):
            assert spec["responses"][status]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {"title", "status", "detail"}


@pytest.mark.timeout(RUN_TIMEOUT + 120)
def test_no_generated_api_request_gets_a_server_error_or_an_undocumented_answer(
    settings: Settings, db: Database, serve_web: ServeWeb, tmp_path: Path
) -> None:
    people(db)
    url = serve_web(settings.model_copy(update={"api_requests_per_minute": 1_000_000}))
    secret = token(db)
    created = Api(url, secret).post("/campaigns", json={"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")})
    assert created.status_code == 201
    summary = fuzz(
        url,
        tmp_path / "schemathesis.json",
        *("--include-path-regex", "^/v1/", "--header", f"Authorization: Bearer {secret}", "--checks", CHECKS),
        *("--phases", "examples,coverage,fuzzing", "--max-examples", "15", "--seed", "20261204"),
    )
    assert summary["operations"]["tested"] == 17
    assert summary["failures"] == summary["errors"] == []
    # The token was accepted: the fuzzer's requests reached the handlers and changed things.
    assert Counter(entry.action for entry in entries(db, limit=10_000)) >= Counter({"created": 1, "imported": 1})
