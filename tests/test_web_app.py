"""The web app itself: it starts, serves its OpenAPI document, limits bodies and never shows a stack trace."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from starlette.routing import Route

from publisher.settings import Settings
from publisher.web.app import create_app
from tests.webserver import free_port

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_health_and_openapi_document_are_served(web_url: str) -> None:
    assert requests.get(f"{web_url}/healthz", timeout=5).text == "ok"
    document = requests.get(f"{web_url}/openapi.json", timeout=5).json()
    assert document["info"]["title"] == "Newsletter"
    assert "/healthz" in document["paths"]


def test_declared_body_over_the_limit_gets_413(settings: Settings, serve_web) -> None:  # type: ignore[no-untyped-def]
    url = serve_web(settings.model_copy(update={"max_request_bytes": 2048}))
    response = requests.post(f"{url}/healthz", data=b"x" * 4096, timeout=5)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]


def test_streamed_body_over_the_limit_gets_413(settings: Settings, serve_web) -> None:  # type: ignore[no-untyped-def]
    url = serve_web(settings.model_copy(update={"max_request_bytes": 2048}))

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(8):
            yield b"y" * 1024

    response = requests.post(f"{url}/webhooks/postmark", data=chunks(), timeout=5)
    assert response.status_code == 413


def test_unknown_route_is_a_json_404(web_url: str) -> None:
    response = requests.get(f"{web_url}/nothing-here", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_serve_runs_the_app_and_keeps_tokens_out_of_the_access_log(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "publisher", "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while "Uvicorn running on" not in log_path.read_text(errors="replace"):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        secret_token = "WzEsMiwzXQ.capability-not-for-logs"
        answer = requests.get(f"http://127.0.0.1:{port}/unsubscribe/{secret_token}", timeout=5)
        assert answer.status_code == 400
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    logged = log_path.read_text()
    assert "GET /unsubscribe/[token] HTTP/1.1" in logged
    assert "GET /healthz HTTP/1.1" in logged
    assert secret_token not in logged


def _sample_path(template: str) -> str:
    """A concrete path for a route template: every parameter filled with a plausible value."""
    return re.sub(r"\{[^}]+\}", "1", template)


def test_no_redirect_reflects_a_forged_host_header(settings: Settings, serve_web) -> None:  # type: ignore[no-untyped-def]
    """Every route, asked for with its trailing slash toggled and a forged Host, redirects within this site only."""
    public_url = "https://news.modu.example"
    configured = settings.model_copy(update={"public_url": public_url})
    url = serve_web(configured)
    app = create_app(configured)
    routes = {path: {method.upper() for method in operations} for path, operations in app.openapi()["paths"].items()}
    routes.update({route.path: set(route.methods or ()) for route in app.routes if isinstance(route, Route)})  # /docs and the like
    assert "/archive" in routes and "/subscribe" in routes
    redirects = 0
    for template, methods in routes.items():
        path = _sample_path(template)
        toggled = path[:-1] if path.endswith("/") else path + "/"
        for method in sorted(methods):
            for target in (toggled, f"{toggled}?page=2"):
                response = requests.request(method, f"{url}{target}", headers={"Host": "evil.example"}, allow_redirects=False, timeout=5)
                location = response.headers.get("location")
                if location is None:
                    continue
                redirects += 1
                assert "evil.example" not in location, (method, target, location)
                assert location.startswith((f"{public_url}/", "/")) and not location.startswith("//"), (method, target, location)
    assert redirects > 0  # the slash redirects are still there, just not to the caller's host


def test_archive_with_a_trailing_slash_redirects_within_the_site(web_url: str) -> None:
    response = requests.get(f"{web_url}/archive/?x=1", headers={"Host": "evil.example"}, allow_redirects=False, timeout=5)
    assert response.status_code == 307
    assert response.headers["location"] == "/archive?x=1"
