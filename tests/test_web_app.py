"""The web app itself: it starts, serves its OpenAPI document, limits bodies and never shows a stack trace."""

from __future__ import annotations

import requests

from publisher.settings import Settings


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
