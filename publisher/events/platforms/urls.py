"""Is this URL under that base URL? Answered by parsing both, never by comparing strings.

A webhook nobody signs may name any URL; the worker is to read only the
platform's own API with the platform's token. A prefix test on the text
would let ``https://www.eventbriteapi.com.evil.example/``,
``https://www.eventbriteapi.com@evil.example/v3/`` or ``…/v3/../admin``
through, so each part is compared on its own: the scheme, the host (no user
information before it), the port (the scheme's default when none is
written), and the path, which must start with the base's path, segment by
segment, with no ``.``/``..`` segment, no empty segment, no percent-escape
and no backslash anywhere.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
#: What urlsplit silently drops (tabs, line breaks) or what no API path of ours holds.
_REFUSED = re.compile(r"[\x00-\x20\x7f%\\]")


class UrlError(ValueError):
    """The URL is not under the base URL; the message says which part differs."""


def path_under(base_url: str, url: str) -> str:
    """The path of ``url`` after the base URL's path (no leading slash); UrlError unless ``url`` is under ``base_url``."""
    if len(url) > 2000:
        raise UrlError("the URL is longer than 2000 characters")
    if _REFUSED.search(url):
        raise UrlError("the URL holds a space, a control character, a percent-escape or a backslash")
    base, target = _split(base_url), _split(url)
    if target.scheme.lower() != base.scheme.lower():
        raise UrlError(f"the URL is {target.scheme or 'without a scheme'}, not {base.scheme}")
    if "@" in target.netloc:
        raise UrlError("the URL carries user information before its host")
    if (target.hostname or "") != (base.hostname or ""):
        raise UrlError(f"the URL's host is {(target.hostname or 'missing')[:80]}, not {base.hostname}")
    if _port(target) != _port(base):
        raise UrlError("the URL's port is not the base URL's")
    prefix = [segment for segment in base.path.split("/") if segment]
    segments = target.path.split("/")
    if not segments or segments[0] != "":
        raise UrlError("the URL has no absolute path")
    segments = segments[1:]
    # A trailing slash ends the path with one empty segment; any other empty segment, or . and .., is refused.
    inner = segments[:-1] if segments and segments[-1] == "" else segments
    if any(segment in ("", ".", "..") for segment in inner):
        raise UrlError("the URL's path has an empty, '.' or '..' segment")
    rest = "/".join(segments[len(prefix) :])
    if segments[: len(prefix)] != prefix or not rest:
        raise UrlError(f"the URL's path is not under {base.path or '/'}")
    return rest


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError as exc:
        raise UrlError(f"the URL cannot be read: {exc}") from None
    return parts


def _port(parts: SplitResult) -> int | None:
    return parts.port if parts.port is not None else DEFAULT_PORTS.get(parts.scheme.lower())
