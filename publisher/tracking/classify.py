"""Human or machine: the verdict on one open or click, and the reason for a machine one.

Each rule is a signal that something other than the reader fetched the pixel
or followed the link; docs/tracking.md gives the evidence behind each. The
rules only ever mark engagements machine: a reader whose every open was a
proxy's still counts once, as a machine open (``publisher.tracking.figures``).

Only the verdict and its reason are kept: the user agent is read here and
dropped, and the address a request came from is never read at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from publisher.db.models import EngagementKind

#: An open this soon after the email was sent was fetched on arrival, not read:
#: Apple's Mail Privacy Protection downloads every image as the message lands.
PREFETCH_OPEN_SECONDS = 60
#: A click this soon after sending, with no open before it, is a link scanner
#: checking the message on its way in.
SCANNER_CLICK_SECONDS = 60
#: Every link of one message clicked within this many seconds: a scanner
#: following each link in turn (a reader clicks one or two, seconds apart at the least).
CLICK_BURST_SECONDS = 10

#: The user agent Apple's privacy proxy was measured fetching images with (2021): the bare product token, nothing else.
APPLE_PROXY_USER_AGENT = "Mozilla/5.0"
#: Image proxies that fetch the pixel when the reader opens the message (Gmail, Yahoo): human.
READER_PROXIES = ("googleimageproxy", "yahoomailproxy")
#: Parts of the user agents security gateways and link scanners announce themselves with (lower case).
SCANNER_AGENTS = (
    "barracuda",
    "mimecast",
    "proofpoint",
    "urldefense",
    "safelinks",
    "microsoft-urlanalyzer",
    "bingpreview",
    "symantec",
    "messagelabs",
    "forcepoint",
    "trendmicro",
    "ironport",
    "sophos",
    "fortiguard",
)
#: Parts of the user agents of programs, not mail clients or browsers (lower case).
PROGRAM_AGENTS = ("bot", "crawler", "spider", "curl/", "wget/", "python-", "go-http-client", "java/", "okhttp", "headlesschrome")

APPLE_PROXY = "Apple Mail Privacy Protection proxy (its user agent)"
NO_USER_AGENT = "no user agent: every mail client and browser sends one"
PROVIDER_MACHINE_OPEN = "the provider marked it a machine open (SendGrid sg_machine_open)"


@dataclass(frozen=True)
class Seen:
    """One open or click as it arrived.

    ``user_agent`` is None when the source does not report one (a provider's
    webhook without it): the user agent rules are then not applied.
    """

    kind: EngagementKind
    occurred_at: dt.datetime
    user_agent: str | None
    #: The provider's own verdict that it was a machine (SendGrid's ``sg_machine_open``).
    provider_machine: bool = False


def machine_reason(seen: Seen, sent_at: dt.datetime | None, opened_before: bool) -> str | None:
    """Why this open or click was a machine's, or None for a human's.

    ``sent_at`` is when the provider accepted the email (None: not recorded
    yet, which only happens within moments of sending); ``opened_before``
    whether the delivery has a human open recorded before this one (a
    machine's open, a privacy proxy's prefetch, shows no reader saw it).
    """
    if seen.provider_machine:
        return PROVIDER_MACHINE_OPEN
    agent = _agent_reason(seen.user_agent)
    if agent is not None:
        return agent
    if seen.user_agent is not None and _reader_proxy(seen.user_agent):
        return None  # Gmail's and Yahoo's proxies fetch when the message is opened
    elapsed = (seen.occurred_at - sent_at).total_seconds() if sent_at is not None else 0.0
    if seen.kind is EngagementKind.OPEN and elapsed <= PREFETCH_OPEN_SECONDS:
        return f"opened {_seconds(elapsed)} after it was sent (a privacy proxy fetches images on arrival; within {PREFETCH_OPEN_SECONDS} s)"
    if seen.kind is EngagementKind.CLICK and not opened_before and elapsed <= SCANNER_CLICK_SECONDS:
        return f"clicked {_seconds(elapsed)} after it was sent, before any open (a link scanner; within {SCANNER_CLICK_SECONDS} s)"
    return None


def burst_reason(links: int) -> str:
    return f"all {links} links of the message clicked within {CLICK_BURST_SECONDS} s (a link scanner)"


def _agent_reason(user_agent: str | None) -> str | None:
    if user_agent is None:
        return None
    agent = user_agent.strip()
    if not agent:
        return NO_USER_AGENT
    if agent == APPLE_PROXY_USER_AGENT:
        return APPLE_PROXY
    lowered = agent.lower()
    scanner = next((name for name in SCANNER_AGENTS if name in lowered), None)
    if scanner is not None:
        return f"a security scanner's user agent ({scanner})"
    program = next((name for name in PROGRAM_AGENTS if name in lowered), None)
    if program is not None and not _reader_proxy(agent):
        return f"a program's user agent ({program.strip('/-')})"
    return None


def _reader_proxy(user_agent: str) -> bool:
    lowered = user_agent.lower()
    return any(name in lowered for name in READER_PROXIES)


def _seconds(elapsed: float) -> str:
    return f"{max(elapsed, 0.0):.0f} s"
