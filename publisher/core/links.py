"""Signed public links: unsubscribe, preferences, view in browser, confirm.

A link carries subscriber, list and campaign inside a token signed with
NEWSLETTER_SECRET_KEY, so no id in a public URL can be guessed or changed.
Each purpose has its own salt: a view token cannot be replayed as an
unsubscribe token. Tokens signed with a retired key
(NEWSLETTER_OLD_SECRET_KEYS) still verify, so rotating the key does not
break the links in issues already sent.

Only confirm links go stale: they carry the time they were signed and are
refused after NEWSLETTER_CONFIRM_LINK_DAYS (``SignatureExpired``), so an old
or leaked confirmation email cannot subscribe someone months later. The
links that let a reader leave must always work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from publisher.core.settings import Settings

UNSUBSCRIBE = "unsubscribe"
PREFERENCES = "preferences"
VIEW = "view"
CONFIRM = "confirm"
PURPOSES = (UNSUBSCRIBE, PREFERENCES, VIEW, CONFIRM)


@dataclass(frozen=True)
class LinkTarget:
    subscriber_id: int | None
    list_id: int | None
    campaign_id: int | None


class LinkSigner:
    """Build and check the signed links of one deployment."""

    def __init__(self, secret: str, public_url: str, old_secrets: Sequence[str] = (), *, confirm_max_age: int | None = None) -> None:
        self._public_url = public_url.rstrip("/")
        # itsdangerous signs with the last key of the list and accepts any.
        keys = [*old_secrets, secret]
        self._serializers = {purpose: URLSafeSerializer(keys, salt=f"newsletter.{purpose}") for purpose in PURPOSES if purpose != CONFIRM}
        self._confirm = URLSafeTimedSerializer(keys, salt=f"newsletter.{CONFIRM}")
        # Confirm links signed before they carried their time: recognised, of unknown age.
        self._untimed_confirm = URLSafeSerializer(keys, salt=f"newsletter.{CONFIRM}")
        self._confirm_max_age = confirm_max_age

    def token(self, purpose: str, target: LinkTarget) -> str:
        payload = [target.subscriber_id, target.list_id, target.campaign_id]
        return self._confirm.dumps(payload) if purpose == CONFIRM else self._serializers[purpose].dumps(payload)

    def url(self, purpose: str, target: LinkTarget) -> str:
        return f"{self._public_url}/{purpose}/{self.token(purpose, target)}"

    def verify(self, purpose: str, token: str) -> LinkTarget:
        """Return what a token points at; raise ``BadSignature`` for a forged or altered one.

        A confirm token older than the signer's ``confirm_max_age`` (seconds)
        raises ``SignatureExpired``, a ``BadSignature`` a page can tell apart.
        """
        payload = self._timed_confirm(token) if purpose == CONFIRM else self._serializers[purpose].loads(token)
        if not (isinstance(payload, list) and len(payload) == 3 and all(part is None or _is_id(part) for part in payload)):
            raise BadSignature("unexpected token payload")
        subscriber_id, list_id, campaign_id = payload
        return LinkTarget(subscriber_id, list_id, campaign_id)

    def _timed_confirm(self, token: str) -> object:
        try:
            return self._confirm.loads(token, max_age=self._confirm_max_age)
        except SignatureExpired:
            raise
        except BadSignature:
            # Genuine but without a time (signed before confirm links expired):
            # its age is unknown, so it is treated as expired, not as forged.
            self._untimed_confirm.loads(token)
            raise SignatureExpired("this confirm link carries no time") from None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def signer_for(settings: Settings) -> LinkSigner:
    """The signer of a deployment's settings (current key plus retired ones)."""
    return LinkSigner(settings.secret, settings.public_url, settings.old_secrets, confirm_max_age=settings.confirm_link_days * 86_400)
