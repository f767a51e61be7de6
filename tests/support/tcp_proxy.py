"""A real TCP proxy on loopback that can refuse connections on demand: the database unreachable, deterministically.

Every connection is forwarded to the target, except the next ``n`` after
``refuse_next(n)``: those are closed at once, as a database that is down or
restarting closes them. A test arms it at the moment it wants the outage,
so the outage hits exactly the connections opened from then on.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from sqlalchemy import make_url

#: "Every connection from now on", for a proxy whose listener may still accept one after it is closed.
REFUSE_ALL = 2**31


class RefusingProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.refused = 0
        self._to_refuse = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Refuse every new connection and drop the open ones: the target is gone for good."""
        self.refuse_next(REFUSE_ALL)
        self.stop()

    def refuse_next(self, count: int) -> None:
        with self._lock:
            self._to_refuse = count

    def stop(self) -> None:
        self.listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                refuse = self._to_refuse > 0
                if refuse:
                    self._to_refuse -= 1
                    self.refused += 1
            if refuse:
                client.close()
                continue
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def refusing_proxy(target_host: str, target_port: int) -> Iterator[RefusingProxy]:
    proxy = RefusingProxy(target_host, target_port)
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def database_behind_proxy(url: str, password: str) -> Iterator[tuple[str, RefusingProxy]]:
    """A PostgreSQL URL that reaches the database through a proxy, with ``password`` in it (trust auth ignores it).

    ``go_down`` on the proxy then makes the database unreachable for whoever holds the URL.
    """
    target = make_url(url)
    with refusing_proxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        yield target.set(port=proxy.port, password=password).render_as_string(hide_password=False), proxy
