"""Providers, one module each: ``workers/providers/<name>.py`` defines a ``Provider`` subclass.

Adding a provider is adding one module; the registry imports it by name.
"""

from __future__ import annotations

import importlib
import pkgutil

from publisher.errors import ConfigurationError
from workers.providers.base import Provider

#: Modules of this package that are shared plumbing, not providers.
SUPPORT_MODULES = {"base", "http", "signals"}


def available() -> list[str]:
    """Names of every provider module shipped with the service."""
    return sorted(
        module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_") and module.name not in SUPPORT_MODULES
    )


def provider_class(name: str) -> type[Provider]:
    """Return the provider class called ``name`` or raise ConfigurationError."""
    if name not in available():
        raise ConfigurationError(f"unknown provider {name!r}: set NEWSLETTER_PROVIDER to one of {', '.join(available())}")
    module = importlib.import_module(f"{__name__}.{name}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Provider) and getattr(value, "name", None) == name:
            return value
    raise ConfigurationError(f"module workers.providers.{name} defines no Provider named {name!r}")
