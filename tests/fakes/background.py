"""A fake's HTTP server serving on a daemon thread, quick to stop."""

from __future__ import annotations

import socketserver
import threading

#: How often ``serve_forever`` looks for ``shutdown()``. Its default, half a
#: second, made every stop of a fake wait a quarter of a second on average,
#: hundreds of times a run.
POLL_SECONDS = 0.02


def serve_in_background(server: socketserver.BaseServer) -> threading.Thread:
    """Serve ``server`` on a daemon thread until its ``shutdown()``; return the thread."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True)
    thread.start()
    return thread
