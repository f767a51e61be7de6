"""An interpreter with the command line's libraries already imported, forking a fresh process for each ``newsletter`` run.

Each run of the command line in the tests used to start Python anew and
import SQLAlchemy, Typer, Rich, Celery and the rest: about half a second of
CPU, hundreds of times a run. This server imports those libraries once; for
each run it forks a child that takes the run's arguments, environment,
working directory, standard input and output, then runs ``python -m
publisher`` in it as the interpreter would. Of the project's own modules
only two declarations are imported before the fork (PRELOADED): each run
loads the rest itself, as a user's command does.

A run is a connection on the server's Unix socket: the test sends the
stdin and stdout descriptors (``SCM_RIGHTS``) and a JSON request; a monitor
process forked for the connection forks the command's process, answers its
pid, waits for it and answers its exit status, as ``subprocess`` reports it
(negative: the signal that ended it). The server leaves when the test
process that started it is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import signal
import socket
import sys
import time
from typing import Any

#: Imported once here, so that no run imports them again.
PRELOADED = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "psycopg",
    "alembic.runtime.migration",
    "alembic.command",
    "typer",
    "click",
    "rich.console",
    "rich.table",
    "pydantic",
    "pydantic_settings",
    "redis",
    "celery",
    "kombu",
    "jinja2",
    "markupsafe",
    "premailer",
    "cssutils",
    "lxml.html",
    "requests",
    "orjson",
    "itsdangerous",
    "email.mime.multipart",
    # The project's two modules that take long to build and read nothing at import: the mapped
    # classes (0.14 s) and the settings' model (0.04 s). Everything else of it each run imports itself.
    "publisher.db.models",
    "publisher.core.settings",
)

#: How often the server looks whether the test process that started it is still there.
PARENT_CHECK_SECONDS = 1.0


def serve(path: str) -> dict[str, Any]:
    """Serve runs on ``path`` until the parent goes; in a run's process, return its request."""
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(PARENT_CHECK_SECONDS)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # monitors are reaped by the kernel
    print("ready", flush=True)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            return _monitor(connection)
        connection.close()
    sys.exit(0)


def _monitor(connection: socket.socket) -> dict[str, Any]:
    """Start the run's process and answer its pid, then its exit status; the run's process returns its request."""
    connection.settimeout(None)
    _, fds, _, _ = socket.recv_fds(connection, 1, 2)
    size = int.from_bytes(_exactly(connection, 8), "big")
    request: dict[str, Any] = json.loads(_exactly(connection, size))
    pid = os.fork()
    if pid == 0:
        stdin, stdout = fds
        os.dup2(stdin, 0)
        os.dup2(stdout, 1)
        os.dup2(stdout, 2)
        for fd in fds:
            os.close(fd)
        connection.close()
        return request
    for fd in fds:
        os.close(fd)
    connection.sendall(f"{pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(OSError):
        connection.sendall(f"{code}\n".encode())
    os._exit(0)


def _exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise EOFError("the test went away mid-request")
        data += chunk
    return data


def run(request: dict[str, Any]) -> None:
    """Become ``python -m publisher ARGS`` with the request's environment and working directory."""
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()  # TZ may differ from the server's
    os.chdir(request["cwd"])
    # As ``python -m`` sets them: the working directory first on the path, the module's file as argv[0].
    sys.path[0] = os.getcwd()
    sys.argv = ["-m", *request["args"]]
    runpy.run_module("publisher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    for name in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    run(serve(sys.argv[1]))
