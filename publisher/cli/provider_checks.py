"""``newsletter providers check``: are a provider's settings complete and its credentials accepted?

Each check sends nothing: it reads the settings the provider needs, then makes
the provider's own authenticated, non-sending call (``Provider.check``), and
says in plain words what is wrong.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import requests

from publisher.core.errors import ConfigurationError, DeliveryError
from publisher.core.settings import Settings
from publisher.core.signals import Halt
from workers.providers import provider_class

#: Causes that mean the provider could not be reached at all.
UNREACHABLE = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError, socket.gaierror)


@dataclass(frozen=True)
class CheckResult:
    provider: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.provider}: {'ok' if self.ok else 'FAILED'} — {self.detail}"


def check_providers(settings: Settings, name: str | None) -> list[CheckResult]:
    """Check ``name``, or the configured provider and the fallback when it is None."""
    if name is not None:
        names = [name]
    else:
        names = [settings.provider]
        if settings.fallback_provider and settings.fallback_provider != settings.provider:
            names.append(settings.fallback_provider)
    return [check_provider(settings, each) for each in names]


def check_provider(settings: Settings, name: str) -> CheckResult:
    try:
        cls = provider_class(name)
        cls.check_configuration(settings)
        provider = cls(settings)
    except ConfigurationError as exc:
        return CheckResult(name, False, str(exc))
    try:
        return CheckResult(name, True, provider.check())
    except ConfigurationError as exc:
        return CheckResult(name, False, str(exc))
    except DeliveryError as exc:
        return CheckResult(name, False, _plain(exc))
    except Exception as exc:  # a diagnostic must report every provider, even one whose adapter breaks
        return CheckResult(name, False, f"the check itself failed: {type(exc).__name__}: {exc}")
    finally:
        provider.close()


def _plain(exc: DeliveryError) -> str:
    detail = str(exc)
    if exc.halt == Halt.CREDENTIALS:
        return f"the provider rejected the credentials: {detail.removeprefix('credentials rejected: ')}"
    if isinstance(exc.__cause__, UNREACHABLE):
        return f"cannot reach the provider: {detail}"
    return detail
