"""The event's blog, served by a real HTTP server on loopback: the post, its feeds, and every way a fetch can go wrong.

The pages are the fixtures in tests/fixtures/web/ (the post is the shared
seed recap laid out as a real blog page: cookie banner, navigation, share
buttons, sidebar, related posts, footer). Besides them the server answers:

- ``/moved`` → 301 to the post; ``/moved-to-private`` → 302 to 10.0.0.1; ``/loop`` → 302 to itself;
  ``/moved-nowhere`` → 302 to something that is not a URL;
- ``/huge`` → an HTML body streamed without a length, ``/huge-declared`` → one that says its length;
- ``/stall`` → never answers; ``/trickle`` → headers, then a byte now and then, for ever;
  ``/trickle-headers`` → a header line that never ends, a byte now and then;
- ``/notes.txt`` → text/plain; ``/menu`` → a page that is only navigation; ``/gone`` → 404;
- ``/feed-to-private.rss`` → a feed whose newest item is on 10.0.0.1.

"For ever" is until the server stops: each test's server stops at its end,
so the verdict of a timeout test never depends on how long a wait is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.fakes.background import serve_in_background
from tests.support.paths import FIXTURES

WEB = FIXTURES / "web"
POST = "/insights/product-vs-tech-event"
OLDER_POST = "/insights/roadmap-workshop"
HOSTILE = "/insights/hostile"
BASE_TOKEN = "BLOG_BASE_URL"
#: Bytes of /huge and /huge-declared: more than the limit the tests set.
HUGE = 200_000
PAGES = {POST: "modu-blog-post.html", OLDER_POST: "older-post.html", HOSTILE: "hostile-post.html"}
FEEDS = {"/feed.rss": ("feed.rss", "application/rss+xml"), "/feed.atom": ("feed.atom", "application/atom+xml")}
REDIRECTS = {"/moved": POST, "/moved-to-private": "https://10.0.0.1/insights/secret", "/loop": "/loop", "/moved-nowhere": "https://[::1"}
MENU = b"<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a> <a href='/insights'>Insights</a></nav></body></html>"
PRIVATE_FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Elsewhere</title><link>https://10.0.0.1/</link>
<description>x</description><item><title>Inside</title><link>https://10.0.0.1/insights/secret</link>
<pubDate>Wed, 22 Jan 2025 09:30:00 +0000</pubDate></item></channel></rss>"""


@dataclass
class Blog:
    base_url: str
    #: The path of every request received, in order.
    requested: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base_url + path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    blog: Blog
    stopping: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        blog = self.server.blog
        blog.requested.append(self.path)
        path = self.path.split("?", 1)[0]
        if path in PAGES:
            self._send(200, (WEB / PAGES[path]).read_bytes(), "text/html; charset=utf-8")
        elif path in FEEDS:
            name, media_type = FEEDS[path]
            self._send(200, (WEB / name).read_text(encoding="utf-8").replace(BASE_TOKEN, blog.base_url).encode(), media_type)
        elif path == "/feed-to-private.rss":
            self._send(200, PRIVATE_FEED.encode(), "application/rss+xml")
        elif path in REDIRECTS:
            target = REDIRECTS[path]
            self._send(301 if path == "/moved" else 302, b"", "text/html", {"Location": target})
        elif path == "/huge":
            self._huge(declared=False)
        elif path == "/huge-declared":
            self._huge(declared=True)
        elif path == "/stall":
            self.server.stopping.wait()
        elif path == "/trickle":
            self._trickle()
        elif path == "/trickle-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            self._drip()
        elif path == "/notes.txt":
            self._send(200, b"Notes from the event: " + b"plain text " * 100, "text/plain; charset=utf-8")
        elif path == "/menu":
            self._send(200, MENU, "text/html")
        else:
            self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html")

    def _send(self, status: int, body: bytes, media_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _huge(self, declared: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if declared:
            self.send_header("Content-Length", str(HUGE))
        self.end_headers()
        paragraph = b"<p>" + b"A long evening of talks. " * 40 + b"</p>\n"
        sent = 0
        while sent < HUGE and not self.server.stopping.is_set():
            chunk = paragraph[: HUGE - sent]
            try:
                self.wfile.write(chunk)
            except OSError:
                return  # the client stopped reading, as it should
            sent += len(chunk)

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html><body><p>")
        self._drip()

    def _drip(self) -> None:
        while not self.server.stopping.wait(0.2):
            try:
                self.wfile.write(b"a")
                self.wfile.flush()
            except OSError:
                return


@contextmanager
def serving_blog() -> Iterator[Blog]:
    """Serve the blog on a loopback port until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.blog = Blog(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.stopping = threading.Event()
    thread = serve_in_background(server)
    try:
        yield server.blog
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
