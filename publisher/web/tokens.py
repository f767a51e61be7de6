"""Checking the signed token of a subscriber link, with the answer a person can act on."""

from __future__ import annotations

from itsdangerous import BadSignature
from starlette.exceptions import HTTPException

from publisher.core.links import LinkSigner, LinkTarget

#: Shown for a forged, altered or cut-off token (the page title says "This link is not valid").
INVALID_LINK = "The link is incomplete or has been changed. Copy the whole link from the email, or use the link in a newer issue."


def verified(signer: LinkSigner, purpose: str, token: str, *also: str) -> LinkTarget:
    """Return what the token points at; a 400 page for any token this deployment did not sign for ``purpose`` (or ``also``)."""
    for accepted in (purpose, *also):
        try:
            return signer.verify(accepted, token)
        except BadSignature:
            continue
    # Deliberately not logged with the token: it is a capability.
    raise HTTPException(400, INVALID_LINK)


def mask_email(address: str) -> str:
    """Show enough of an address for its owner to recognise it: ``z***@example.com``."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else f"{address[:1]}***"
