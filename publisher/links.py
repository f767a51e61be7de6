"""Signed public links: unsubscribe and view-in-browser.

A link carries subscriber, list and campaign inside a token signed with
NEWSLETTER_SECRET_KEY, so no id in a public URL can be guessed or changed.
Each purpose has its own salt: a view token cannot be replayed as an
unsubscribe token.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

UNSUBSCRIBE = "unsubscribe"
VIEW = "view"


@dataclass(frozen=True)
class LinkTarget:
    subscriber_id: int | None
    list_id: int | None
    campaign_id: int | None


class LinkSigner:
    """Build and check the signed links of one deployment."""

    def __init__(self, secret: str, public_url: str) -> None:
        self._public_url = public_url.rstrip("/")
        self._serializers = {purpose: URLSafeSerializer(secret, salt=f"newsletter.{purpose}") for purpose in (UNSUBSCRIBE, VIEW)}

    def url(self, purpose: str, target: LinkTarget) -> str:
        token = self._serializers[purpose].dumps([target.subscriber_id, target.list_id, target.campaign_id])
        return f"{self._public_url}/{purpose}/{token}"

    def verify(self, purpose: str, token: str) -> LinkTarget:
        """Return what a token points at; raise ``BadSignature`` for a forged or altered one."""
        payload = self._serializers[purpose].loads(token)
        if not (isinstance(payload, list) and len(payload) == 3):
            raise BadSignature("unexpected token payload")
        subscriber_id, list_id, campaign_id = payload
        return LinkTarget(subscriber_id, list_id, campaign_id)
