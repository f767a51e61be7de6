"""Fetch a page or a feed someone named by URL, without letting the URL reach anywhere it should not.

The guard against server-side request forgery:

- https only (plain http only with NEWSLETTER_FETCH_ALLOW_LOOPBACK, and then
  to loopback addresses only);
- every address the host name resolves to must be public
  (:mod:`publisher.core.public_addresses`), and the socket is connected to
  an address that was checked, then its peer checked again, so a DNS answer
  that changes between the check and the connection (rebinding) gains
  nothing;
- redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop
  checked as the first URL was;
- no proxy from the environment (the check would see the proxy, not the
  target), no credentials in the URL;
- a whole fetch, redirects and body included, ends after
  NEWSLETTER_FETCH_TIMEOUT seconds: the sockets are shut down then, so a
  server that trickles one byte at a time gets no longer; the body is
  streamed and dropped past NEWSLETTER_FETCH_MAX_BYTES;
- only the media types the caller accepts are read, and an error status is
  an error.

It is a building block for anything that fetches what a person named (a
recap's blog post, a feed, a platform's API), and for the outgoing webhooks,
which POST to a URL an operator named under the same rules (:func:`post`,
:func:`check_destination`); it uses ``requests``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, NewConnectionError

from publisher.core.errors import NewsletterError
from publisher.core.public_addresses import AddressRule
from publisher.core.settings import Settings

MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2000
CHUNK = 65_536
USER_AGENT = "Mozilla/5.0 (compatible; newsletter-recap-import/1.0)"
POST_USER_AGENT = "newsletter-webhooks/1.0"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchError(NewsletterError):
    """A URL could not be fetched, or not safely; the message names the URL and the reason."""


class AddressRefusedError(FetchError):
    """The host resolved to an address the service may not reach."""


@dataclass(frozen=True)
class FetchPolicy:
    timeout: float
    max_bytes: int
    allow_loopback: bool = False

    @classmethod
    def of(cls, settings: Settings) -> FetchPolicy:
        return cls(timeout=settings.fetch_timeout, max_bytes=settings.fetch_max_bytes, allow_loopback=settings.fetch_allow_loopback)


@dataclass(frozen=True)
class Fetched:
    """A body as it arrived: the URL it came from (after redirects), its media type and charset."""

    url: str
    media_type: str
    charset: str | None
    body: bytes


def fetch(url: str, policy: FetchPolicy, accept: Collection[str], accept_header: str) -> Fetched:
    """Fetch ``url`` under ``policy``; raise FetchError unless it answers 2xx with one of the media types ``accept``."""
    with _guarded_session(policy) as (session, guard):
        return _follow(session, guard, url, accept, accept_header)


@contextlib.contextmanager
def _guarded_session(policy: FetchPolicy) -> Iterator[tuple[requests.Session, _Guard]]:
    """A session whose connections go through ``policy``'s address checks, and its guard, expired at ``policy.timeout``."""
    guard = _Guard(policy)
    timer = threading.Timer(policy.timeout, guard.expire)
    timer.daemon = True
    timer.start()
    try:
        with requests.Session() as session:
            # Proxies and .netrc from the environment: a proxy would make the address check look at the proxy.
            session.trust_env = False
            adapter = _GuardedAdapter(guard)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            yield session, guard
    finally:
        timer.cancel()
        guard.expire()


@dataclass(frozen=True)
class Posted:
    """What a POST was answered: the status and its reason phrase (the body is read up to a limit, then dropped)."""

    status: int
    reason: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


#: The most of an answer's body read after a POST: the status is what counts, the rest is drained and dropped.
POST_ANSWER_BYTES = 65_536


def post(url: str, policy: FetchPolicy, body: bytes, headers: Mapping[str, str]) -> Posted:
    """POST ``body`` to ``url`` under ``policy``'s address checks and deadline; FetchError when no answer came.

    A redirect is not followed: it is an answer like any other, and the
    caller decides what a status means.
    """
    check_url(url, policy)
    with _guarded_session(policy) as (session, guard):
        try:
            response = session.post(
                url,
                data=body,
                stream=True,
                allow_redirects=False,
                timeout=guard.remaining(),
                headers={"User-Agent": POST_USER_AGENT, "Accept-Encoding": "identity", **headers},
            )
        except AddressRefusedError as exc:
            raise AddressRefusedError(f"{url} is refused: {exc}") from None
        except (requests.RequestException, HTTPError, OSError, ValueError) as exc:
            raise guard.failure(url, exc) from None
        with response:
            if guard.expired:
                raise guard.failure(url, TimeoutError())
            # The status arrived; a body cut short changes nothing.
            with contextlib.suppress(HTTPError, OSError):
                response.raw.read1(POST_ANSWER_BYTES, decode_content=False)
            return Posted(status=response.status_code, reason=(response.reason or "")[:100])


def check_destination(url: str, policy: FetchPolicy) -> str:
    """``url`` if it may be reached now: :func:`check_url`, then every address its host resolves to; FetchError if not."""
    check_url(url, policy)
    parts = urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme.lower()
    rule = _Guard(policy).rule(scheme)
    try:
        found = socket.getaddrinfo(host, parts.port or (443 if scheme == "https" else 80), 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"{url}: the host name does not resolve") from None
    for *_, address in found:
        refusal = rule.refusal(str(address[0]))
        if refusal is not None:
            raise AddressRefusedError(f"{url} is refused: {_refused(host, str(address[0]), refusal)}")
    return url


def check_url(url: str, policy: FetchPolicy) -> str:
    """``url`` if it may be fetched at all (scheme, host, length, no credentials), else FetchError saying why."""
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(f"the URL is {len(url):,} characters long; at most {MAX_URL_LENGTH:,} are fetched")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise FetchError(f"{url!r} is not a URL: it holds a space or a control character")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (reading it checks it)
    except ValueError as exc:
        raise FetchError(f"{url!r} is not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.allow_loopback):
        raise FetchError(f"{url!r} is not an https:// URL: only https pages are fetched")
    if not parts.hostname:
        raise FetchError(f"{url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise FetchError(f"{url!r} carries a user name or password: give the page's public URL")
    return url


def _follow(session: requests.Session, guard: _Guard, url: str, accept: Collection[str], accept_header: str) -> Fetched:
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        where = current if current == url else f"{url} (redirected to {current})"
        if current == url:
            check_url(url, guard.policy)
        else:
            _check_hop(url, current, guard.policy)
        if guard.remaining() <= 0:
            raise guard.failure(where, TimeoutError())
        try:
            response = session.get(
                current,
                stream=True,
                allow_redirects=False,
                timeout=guard.remaining(),
                headers={"User-Agent": USER_AGENT, "Accept": accept_header, "Accept-Encoding": "identity"},
            )
        except AddressRefusedError as exc:
            raise AddressRefusedError(f"{where} is refused: {exc}") from None
        except (requests.RequestException, HTTPError, OSError) as exc:
            raise guard.failure(where, exc) from None
        except ValueError as exc:
            # requests reads a redirect's Location even when it does not follow it.
            raise FetchError(f"{where}: its answer cannot be read ({exc})") from None
        with response:
            if guard.expired:
                # The deadline cut the headers short: what arrived is not the answer.
                raise guard.failure(where, TimeoutError())
            location = response.headers.get("Location")
            if response.status_code in _REDIRECTS and location:
                current = urljoin(current, location)
                continue
            return _read(response, guard, where, accept)
    raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times")


def _check_hop(url: str, hop: str, policy: FetchPolicy) -> None:
    try:
        check_url(hop, policy)
    except FetchError as exc:
        raise FetchError(f"{url} redirects to a URL that is refused: {exc}") from None


def _read(response: requests.Response, guard: _Guard, where: str, accept: Collection[str]) -> Fetched:
    if response.status_code >= 300:
        raise FetchError(f"{where} answered {response.status_code} {response.reason or ''}".rstrip())
    media_type, charset = _content_type(response.headers.get("Content-Type", ""))
    if not media_type:
        raise FetchError(f"{where} gave no Content-Type: expected one of {', '.join(sorted(accept))}")
    if media_type not in accept:
        raise FetchError(f"{where} is {media_type}, not one of {', '.join(sorted(accept))}")
    limit = guard.policy.max_bytes
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{where} is {int(declared):,} bytes, more than the {limit:,} fetched (NEWSLETTER_FETCH_MAX_BYTES)")
    body = bytearray()
    try:
        # read1: one read of the socket at most, so a trickling server cannot hold a read open past the deadline.
        while chunk := response.raw.read1(CHUNK, decode_content=True):
            body += chunk
            if len(body) > limit:
                raise FetchError(f"{where} is larger than the {limit:,} bytes fetched (NEWSLETTER_FETCH_MAX_BYTES)")
            if guard.remaining() <= 0:
                break
    except (HTTPError, OSError) as exc:
        raise guard.failure(where, exc) from None
    if guard.expired or guard.remaining() <= 0:
        # The deadline shut the socket down: what was read is not the whole body.
        raise guard.failure(where, TimeoutError())
    return Fetched(url=response.url, media_type=media_type, charset=charset, body=bytes(body))


def _content_type(value: str) -> tuple[str, str | None]:
    media_type, _, parameters = value.partition(";")
    charset = None
    for parameter in parameters.split(";"):
        name, _, setting = parameter.partition("=")
        if name.strip().lower() == "charset" and setting.strip():
            charset = setting.strip().strip("\"'")
    return media_type.strip().lower(), charset


@dataclass
class _Guard:
    """One fetch: its policy, its deadline and its connections, which are shut down when the deadline passes."""

    policy: FetchPolicy
    deadline: float = 0.0
    expired: bool = False
    #: The sockets opened, and the connections holding them: once TLS wraps a socket, the connection holds the wrapper.
    sockets: list[socket.socket] = field(default_factory=list)
    connections: list[HTTPConnection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.policy.timeout

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def rule(self, scheme: str) -> AddressRule:
        # Plain http is for tests on loopback only; https may reach public addresses (and loopback when allowed).
        if scheme == "http":
            return AddressRule(public=False, loopback=self.policy.allow_loopback)
        return AddressRule(public=True, loopback=self.policy.allow_loopback)

    def connect(self, host: str, port: int, scheme: str, options: list[tuple[int, int, int | bytes]] | None) -> socket.socket:
        """A socket connected to a checked address of ``host``; AddressRefusedError if any address it has is refused."""
        rule = self.rule(scheme)
        found = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        # Every address is checked before any is tried: a name with one public
        # and one private address is refused, whichever would have answered.
        for *_, address in found:
            refusal = rule.refusal(str(address[0]))
            if refusal is not None:
                raise AddressRefusedError(_refused(host, str(address[0]), refusal))
        error: OSError = OSError(f"{host} has no address")
        for family, kind, protocol, _, address in found:
            sock = socket.socket(family, kind, protocol)
            try:
                for option in options or ():
                    sock.setsockopt(*option)
                sock.settimeout(max(self.remaining(), 0.001))
                self.keep(sock)
                sock.connect(address)
                # The peer is the address checked above; said again where it counts.
                peer = str(sock.getpeername()[0])
                refusal = rule.refusal(peer)
                if refusal is not None:
                    raise AddressRefusedError(_refused(host, peer, refusal))
                return sock
            except OSError as exc:
                sock.close()
                error = exc
            except BaseException:
                sock.close()
                raise
        raise error

    def keep(self, held: socket.socket | HTTPConnection) -> None:
        """Shut ``held`` down with the rest when the deadline passes (at once if it has passed)."""
        with self.lock:
            if self.expired:
                raise TimeoutError("the fetch ran out of time")
            if isinstance(held, socket.socket):
                self.sockets.append(held)
            else:
                self.connections.append(held)

    def expire(self) -> None:
        """End the fetch: every socket it opened is shut down, which wakes any read blocked on it."""
        with self.lock:
            self.expired = True
            sockets, self.sockets = self.sockets, []
            sockets += [connection.sock for connection in self.connections if connection.sock is not None]
            self.connections = []
        for sock in sockets:
            # socket.socket's own shutdown, also for a TLS socket: the wrapper's would first drop its TLS state,
            # under the feet of a thread reading through it.
            with contextlib.suppress(OSError):  # not connected, or closed already
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def failure(self, where: str, exc: BaseException) -> FetchError:
        """The FetchError for a network error: a timeout if the deadline passed, else what went wrong, in a line."""
        timed_out = self.expired or self.remaining() <= 0 or isinstance(exc, requests.Timeout | TimeoutError | ConnectTimeoutError)
        if timed_out:
            return FetchError(f"{where} did not answer within {self.policy.timeout:g} s (NEWSLETTER_FETCH_TIMEOUT)")
        if isinstance(exc, requests.exceptions.SSLError):
            return FetchError(f"{where}: the TLS connection failed (is its certificate valid?)")
        cause = _root_cause(exc)
        if isinstance(cause, NameResolutionError | socket.gaierror):
            return FetchError(f"{where}: the host name does not resolve")
        if isinstance(cause, NewConnectionError | ConnectionRefusedError):
            return FetchError(f"{where}: cannot connect to the host")
        return FetchError(f"{where}: the connection failed ({type(cause).__name__})")


def _refused(host: str, address: str, refusal: str) -> str:
    return f"{address} is {refusal}" if host == address else f"{host} resolves to {address}, {refusal}"


def _root_cause(exc: BaseException) -> BaseException:
    seen = exc
    while True:
        inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else getattr(seen, "reason", None)
        if not isinstance(inner, BaseException) or inner is seen:
            return seen
        seen = inner


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter whose connection pools open their sockets through the guard."""

    def __init__(self, guard: _Guard) -> None:
        self._guard = guard
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._guard)


def _pool_classes(guard: _Guard) -> dict[str, type[HTTPConnectionPool]]:
    class Connection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _open(self, guard, "http")

    class TLSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _open(self, guard, "https")

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConnection

    return {"http": Pool, "https": TLSPool}


def _open(connection: HTTPConnection, guard: _Guard, scheme: str) -> socket.socket:
    # What urllib3's own _new_conn does, with the guard choosing and checking the address.
    try:
        guard.keep(connection)
        return guard.connect(connection._dns_host, connection.port, scheme, connection.socket_options)
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    except TimeoutError as exc:
        raise ConnectTimeoutError(connection, f"connecting to {connection.host} timed out") from exc
    except OSError as exc:
        raise NewConnectionError(connection, f"failed to connect: {exc}") from exc
