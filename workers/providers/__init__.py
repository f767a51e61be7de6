"""Providers, one module each: ``workers/providers/<name>.py`` defines a ``Provider`` subclass named ``<name>``.

Adding a provider is adding one module. A module is a provider because it
defines one, not because it is missing from a list of exceptions: shared
plumbing (``base``, ``http``, ``factoring``) defines none, so it is never offered.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from publisher.core.errors import ConfigurationError
from workers.providers.base import Provider


@functools.cache
def _registry() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Provider) and getattr(value, "name", None) == module_info.name:
                found[module_info.name] = value
    return found


def available() -> list[str]:
    """Names of every provider shipped with the service."""
    return sorted(_registry())


def provider_class(name: str) -> type[Provider]:
    """Return the provider class called ``name`` or raise ConfigurationError."""
    try:
        return _registry()[name]
    except KeyError:
        raise ConfigurationError(f"unknown provider {name!r}: set NEWSLETTER_PROVIDER to one of {', '.join(available())}") from None
