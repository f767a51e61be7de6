"""Limits on request bodies: their size (NEWSLETTER_MAX_REQUEST_BYTES) and how long they take
to arrive (NEWSLETTER_REQUEST_BODY_TIMEOUT).

uvicorn waits for a declared body as long as the client keeps the connection
open: a client that declares 100 bytes and sends one holds a connection, and
the handler waiting for it, for ever. :class:`BodyTimeLimit` gives the whole
body a deadline counted from the request's headers; a client that misses it
gets 408 with ``Connection: close`` and the connection is closed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.web.api.problems import MEDIA_TYPE, is_api, problem_body


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException, so FastAPI's body parsing passes it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


class BodyTimedOut(HTTPException):
    """Raised from ``receive``; an HTTPException, so FastAPI's body parsing passes it through."""

    def __init__(self, timeout: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout:g} seconds", headers={"Connection": "close"})


class BodySizeLimit:
    """ASGI middleware: 413 for a declared or streamed body over ``limit`` bytes.

    ``larger`` gives routes that take big bodies (a subscriber import) their
    own limit: (method, path regex, limit). Under ``/v1`` the refusal is a
    problem (``application/problem+json``), as every API error is.
    """

    def __init__(self, app: ASGIApp, limit: int, larger: Sequence[tuple[str, str, int]] = ()) -> None:
        self.app = app
        self.limit = limit
        self.larger = [(method, re.compile(pattern), size) for method, pattern, size in larger]

    def limit_for(self, scope: Scope) -> int:
        for method, pattern, size in self.larger:
            if scope["method"] == method and pattern.fullmatch(scope["path"]):
                return size
        return self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        await _answer(scope, send, 413, f"request body is larger than {limit} bytes")


class BodyTimeLimit:
    """ASGI middleware: the whole request body must arrive within ``timeout`` seconds of the headers.

    Past the deadline the answer is 408, or whatever the app made of the
    refusal, with ``Connection: close``, which makes uvicorn close the
    connection once it is sent. Once the body is complete, ``receive`` is not
    timed: it then only waits for the client to go away.

    An answer given before the declared body has arrived (a route that does
    not read bodies) is also sent with ``Connection: close``: otherwise
    uvicorn keeps the connection to read the rest of a body nobody wants.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.timeout
        headers = dict(scope["headers"])
        body_complete = headers.get(b"content-length", b"0") == b"0" and b"transfer-encoding" not in headers
        timed_out = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_complete, timed_out
            if body_complete:
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()) as waiting:
                message = await receive()
            if waiting.cancelled_caught:
                timed_out = True
                raise BodyTimedOut(self.timeout)
            body_complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if timed_out or not body_complete:
                    kept = [(name, value) for name, value in message["headers"] if name.lower() != b"connection"]
                    message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, timed_receive, closing_send)
        except BodyTimedOut as exc:
            if started:
                raise
            await _refuse_slow(scope, send, exc)


async def _refuse_slow(scope: Scope, send: Send, exc: BodyTimedOut) -> None:
    await _answer(scope, send, exc.status_code, exc.detail, [(b"connection", b"close")])


async def _answer(scope: Scope, send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    """A refusal written by the middleware itself: a problem under /v1, ``{"detail": …}`` elsewhere."""
    if is_api(scope["path"]):
        body, media_type = json.dumps(problem_body(status, detail)).encode(), MEDIA_TYPE.encode()
    else:
        body, media_type = json.dumps({"detail": detail}).encode(), b"application/json"
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
