"""schemathesis over /v1, authenticated with a token of every scope: no 5xx, and every answer is one the OpenAPI document describes.

The fuzzer runs as its command-line tool against the real app on a loopback
port, with a list of subscribers and a draft to work on. Bounded examples and
a fixed seed keep it quick and repeatable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests

from publisher.accounts.audit import entries
from publisher.core.settings import Settings
from publisher.db.engine import Database
from tests.support.api import Api, token
from tests.support.audience import people
from tests.support.recaps import RECAP
from tests.support.types import ServeWeb

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SCHEMATHESIS = Path(sys.executable).with_name("st")
#: The fuzzer's run may take minutes on a busy machine; pytest's own limit for the test stays above it.
RUN_TIMEOUT = 600
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
    assert len(operations) == 14
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
    if not SCHEMATHESIS.exists():
        pytest.skip(f"schemathesis is not installed beside {sys.executable} (install the dev extra)")
    people(db)
    url = serve_web(settings.model_copy(update={"api_requests_per_minute": 1_000_000}))
    secret = token(db)
    created = Api(url, secret).post("/campaigns", json={"list": "attendees", "recap": RECAP.read_text(encoding="utf-8")})
    assert created.status_code == 201
    report = tmp_path / "schemathesis.json"
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{url}/openapi.json",
            "--include-path-regex",
            "^/v1/",
            "--header",
            f"Authorization: Bearer {secret}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "15",
            "--seed",
            "20261204",
            "--no-shrink",
            "--request-timeout",
            "10",
            "--workers",
            "1",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["operations"]["tested"] == 14
    assert summary["failures"] == summary["errors"] == []
    # The token was accepted: the fuzzer's requests reached the handlers and changed things.
    assert Counter(entry.action for entry in entries(db, limit=10_000)) >= Counter({"created": 1, "imported": 1})
