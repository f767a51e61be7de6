"""The web app itself: it starts, serves its OpenAPI document, limits bodies and never shows a stack trace."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from starlette.routing import Route

from publisher.core.settings import Settings
from publisher.web.app import create_app
from tests.support.web import free_port
from workers.providers import check_provider

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
    log_path = tmp_path / "serve.log"
    secret_token = "WzEsMiwzXQ.capability-not-for-logs"
    with newsletter_serve(env, log_path) as port:
        answer = requests.get(f"http://127.0.0.1:{port}/unsubscribe/{secret_token}", timeout=5)
        assert answer.status_code == 400
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{port}/t/o/{secret_token}.gif", timeout=5).status_code == 404
        assert requests.get(f"http://127.0.0.1:{port}/t/c/0.{secret_token}", timeout=5).status_code == 404
    logged = log_path.read_text()
    assert "GET /unsubscribe/[token] HTTP/1.1" in logged
    assert "GET /healthz HTTP/1.1" in logged
    assert secret_token not in logged
    # An open or a click is logged without the client's address: with the time, it would tie the reader to the engagement.
    tracking = [line for line in logged.splitlines() if "GET /t/" in line]
    assert len(tracking) == 2 and all('- - "GET /t/' in line and "127.0.0.1" not in line for line in tracking)
    assert any("127.0.0.1" in line and "GET /healthz" in line for line in logged.splitlines())


def _sample_path(template: str) -> str:
    """A concrete path for a route template: every parameter filled with a plausible value."""
    return re.sub(r"\{[^}]+\}", "1", template)


def test_no_redirect_reflects_a_forged_host_header(settings: Settings, serve_web) -> None:  # type: ignore[no-untyped-def]
    """Every route, asked for with its trailing slash toggled and a forged Host, redirects within this site only."""
    public_url = "https://news.modu.example"
    configured = settings.model_copy(update={"public_url": public_url})
    url = serve_web(configured)
    app = create_app(configured, check_provider)
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


@contextmanager
def newsletter_serve(env: dict[str, str], log_path: Path) -> Iterator[int]:
    """Run `newsletter serve` in its own process, as an operator does; yield its port."""
    port = free_port()
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
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def read_until_closed(sock: socket.socket, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after ``within`` seconds."""
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while chunk := sock.recv(4096):
        received += chunk
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
    return received


BODY_TIMEOUT_ENV = {"NEWSLETTER_REQUEST_BODY_TIMEOUT": "0.5"}
#: How long the test waits for the server to drop a client whose body stopped: far more than the 0.5 s
#: timeout, so that only a server that never drops it fails, however slow the machine is.
DROP_BOUND = 15.0


@pytest.mark.timing
def test_serve_drops_a_client_whose_body_never_arrives(env: dict[str, str], tmp_path: Path) -> None:
    cases = [
        ("POST /subscribe", "application/x-www-form-urlencoded", 408),
        ("POST /subscribe", "application/json", 408),
        ("POST /webhooks/postmark", "application/json", 408),
        ("GET /healthz", "text/plain", 200),  # a route that never reads the body: answered, then the connection is closed
    ]
    with newsletter_serve({**env, **BODY_TIMEOUT_ENV}, tmp_path / "serve.log") as port:
        for request_line, content_type, status in cases:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                head = f"{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: 100\r\n\r\n"
                sock.sendall(head.encode() + b"e")
                try:
                    answer = read_until_closed(sock, DROP_BOUND)
                except TimeoutError:
                    pytest.fail(
                        f"{request_line}: the connection is still open {DROP_BOUND} s after a body that stopped after 1 of 100 bytes"
                    )
            assert answer.startswith(f"HTTP/1.1 {status} ".encode()), (request_line, content_type, answer[:300])


@pytest.mark.timing
def test_a_body_that_keeps_arriving_within_the_timeout_is_read(web_url: str) -> None:
    """Default timeout (10 s): a body sent in two parts a moment apart is read and answered as usual."""
    body = b'{"email": "ada@example.com", "list": "no-such-list"}'
    port = int(web_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = f"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:10])
        time.sleep(0.3)  # a pause far inside the 10 s the body may take
        sock.sendall(body[10:])
        sock.settimeout(10)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk  # the whole head, however the server splits it
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:300]  # the body was read: the list it names does not exist
    assert b"connection: close" not in answer.lower()  # and the connection is kept for the next request
