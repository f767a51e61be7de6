"""The check of a platform that signs nothing, so a secret key in the URL admits its calls (Eventbrite, Luma).

The sequence is the same for each; a :class:`KeyedPlatform` row says what
differs: the settings that hold the key and the API credentials, and how
the body is read. The key is compared in constant time (401 without it, and
while the setting is unset); the body is believed for nothing but the ids
its ``read`` takes from it; a call the worker could not read yet, its API
credentials not being set, gets 503, so the platform delivers it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from publisher.core.settings import Settings
from publisher.web.deps import WebContext
from publisher.web.event_hooks.receiving import Outcome, check_key, ignored, json_object, queued, require_json, require_setting

#: What a body asks for: the type named back in the answer, and the worker's message.
Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class KeyedPlatform:
    name: str
    #: The Settings fields of the URL's secret key and of the API credentials the worker reads with.
    key_field: str
    credentials_field: str
    #: The call a verified body asks for; None for a type that changes nothing here (PayloadError when unusable).
    read: Callable[[Settings, dict[str, Any]], Call | None]
    #: The type a body names, said back when it is ignored.
    kind: Callable[[dict[str, Any]], object]


def check(platform: KeyedPlatform, key: str, headers: Mapping[str, str], raw_body: bytes, context: WebContext) -> Outcome:
    settings = context.settings
    check_key(key, _secret(settings, platform.key_field), _variable(platform.key_field), platform.name)
    require_json(headers, platform.name)
    payload = json_object(raw_body, platform.name)
    call = platform.read(settings, payload)
    if call is None:
        return ignored(platform.kind(payload), platform.name)
    require_setting(_secret(settings, platform.credentials_field), _variable(platform.credentials_field), platform.name)
    return queued(*call)


def _secret(settings: Settings, field: str) -> SecretStr | None:
    value: SecretStr | None = getattr(settings, field)
    return value


def _variable(field: str) -> str:
    # Every setting is read from NEWSLETTER_<FIELD> (publisher.core.settings).
    return f"NEWSLETTER_{field.upper()}"
