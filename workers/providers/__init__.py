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
from publisher.core.settings import Settings
from workers.providers.base import Provider


def _defined_in(module_name: str) -> type[Provider] | None:
    """The provider the module ``module_name`` of this package defines, if any."""
    module = importlib.import_module(f"{__name__}.{module_name}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, Provider) and getattr(value, "name", None) == module_name:
            return value
    return None


def _modules() -> list[str]:
    return sorted(module.name for module in pkgutil.iter_modules(__path__))


@functools.cache
def available() -> list[str]:
    """Names of every provider shipped with the service (imports each module of the package once)."""
    return [name for name in _modules() if _defined_in(name) is not None]


def provider_class(name: str) -> type[Provider]:
    """Return the provider class called ``name`` or raise ConfigurationError.

    Only the named module is imported: a worker sending through Postmark does
    not load the other providers' libraries.
    """
    found = _defined_in(name) if name in _modules() else None
    if found is None:
        raise ConfigurationError(f"unknown provider {name!r}: set NEWSLETTER_PROVIDER to one of {', '.join(available())}")
    return found


def check_provider(settings: Settings, name: str) -> int:
    """Check that provider ``name`` is known and configured (ConfigurationError if not); return its largest batch.

    The web app sends drafts through ``publisher.sending``, which takes this
    function as a parameter: the web app never imports the workers' code.
    """
    provider = provider_class(name)
    provider.check_configuration(settings)
    return provider.max_batch_size
