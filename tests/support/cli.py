"""The ``newsletter`` command line as a process of its own, its output as a user sees it.

Each run is a new process, forked from an interpreter that has the command
line's libraries imported already (tests/support/cli_server.py): the same
arguments, environment, working directory, input, output and exit status as
``python -m publisher``, without half a second of imports each time.
NEWSLETTER_TEST_CLI_SUBPROCESS=1 starts a new interpreter for every run
instead.
"""

from __future__ import annotations

import atexit
import json
import locale
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import PROJECT

#: The variables that shape the interpreter itself at its start: runs that differ in them need servers of their own.
INTERPRETER_VARIABLES = ("PYTHON", "LC_", "LANG")


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str

    @property
    def last_line(self) -> str:
        return last_line(self.output)


def last_line(output: str) -> str:
    """The last line of ``output`` that is not blank: where a command prints its verdict."""
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_cli(
    env: dict[str, str], *args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 120, stdin: str | None = None
) -> CliResult:
    """Run ``newsletter ARGS`` in a process of its own, stdout and stderr together as a user sees them; ``stdin`` is its input."""
    command = [sys.executable, "-m", "publisher", *map(str, args)]
    if os.environ.get("NEWSLETTER_TEST_CLI_SUBPROCESS") == "1":
        completed = subprocess.run(
            command, env=env, cwd=cwd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
        return CliResult(completed.returncode, completed.stdout)
    returncode, output = _server_for(env).run(command, env, Path(cwd or os.getcwd()), stdin, timeout)
    # As ``text=True`` decodes it: the locale's encoding, universal newlines.
    text = output.decode(_encoding(), errors="strict").replace("\r\n", "\n").replace("\r", "\n")
    return CliResult(returncode, text)


def assert_plain(output: str, most: int = 2000) -> None:
    """A refusal as a user should see it: no traceback, no escape sequence reaching the terminal, no value echoed at length."""
    assert "Traceback" not in output and "\x1b" not in output and "\x07" not in output, output[:500]
    assert len(output) < most, f"{len(output)} characters"


class _CliServer:
    """One tests/support/cli_server.py process, and the runs it forks."""

    def __init__(self, env: dict[str, str]) -> None:
        self.path = os.path.join(tempfile.mkdtemp(prefix="newsletter-cli-"), "server.sock")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.cli_server", self.path], env=env, cwd=PROJECT, stdout=subprocess.PIPE
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the command-line server did not start (exit {self.process.wait()})")
        atexit.register(self.process.kill)

    def run(self, command: list[str], env: dict[str, str], cwd: Path, stdin: str | None, timeout: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + timeout
        output_read, output_write = os.pipe()
        input_read, input_write = os.pipe() if stdin is not None else (os.open(os.devnull, os.O_RDONLY), -1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(self.path)
            socket.send_fds(connection, [b"r"], [input_read, output_write])
            os.close(input_read)
            os.close(output_write)
            request = json.dumps({"args": command[3:], "env": env, "cwd": str(cwd)}).encode()
            connection.sendall(len(request).to_bytes(8, "big") + request)
            if stdin is not None:
                threading.Thread(target=_feed, args=(input_write, stdin.encode(_encoding())), daemon=True).start()
            answers = connection.makefile("rb")
            pid = int(answers.readline())
            try:
                output = _read_all(output_read, deadline)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(command, timeout) from None
            finally:
                os.close(output_read)
            return int(answers.readline()), output


def _feed(fd: int, data: bytes) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except BrokenPipeError:  # the command did not read it all, as with subprocess.run
        pass
    finally:
        os.close(fd)


def _read_all(fd: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
            raise subprocess.TimeoutExpired("newsletter", remaining)
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


_servers: dict[tuple[tuple[str, str], ...], _CliServer] = {}
_servers_lock = threading.Lock()


def _server_for(env: dict[str, str]) -> _CliServer:
    key = tuple(sorted((name, value) for name, value in env.items() if name.startswith(INTERPRETER_VARIABLES)))
    with _servers_lock:
        if key not in _servers or _servers[key].process.poll() is not None:
            _servers[key] = _CliServer(env)
        return _servers[key]


def _encoding() -> str:
    return locale.getpreferredencoding(False)
