"""Preview: the exact HTML one subscriber would get, with no Redis and no database."""

from __future__ import annotations

from dataclasses import dataclass

from publisher.content.recap import Recap
from publisher.content.rendering.layout import issue_frame, render_issue
from publisher.content.rendering.personalize import Recipient
from publisher.core.links import UNSUBSCRIBE, VIEW, LinkTarget, signer_for
from publisher.core.settings import Settings

SAMPLE_EMAIL = "sample.subscriber@example.com"


@dataclass(frozen=True)
class SampleSubscriber:
    email: str = SAMPLE_EMAIL
    first_name: str = "Sam"
    last_name: str = "Sample"


def preview(
    settings: Settings, recap: Recap, subscriber: SampleSubscriber, list_name: str, registered_for: str | None = None
) -> tuple[str, str]:
    """Return (html, text) exactly as the two-stage render produces them for ``subscriber``.

    ``registered_for``: the event's name when ``list_name`` is one of its audiences (the footer names it).
    """
    # No campaign yet, so no calendar of its own: the .ics link is left out (issue_frame).
    issue = render_issue(recap, issue_frame(settings, list_name, registered_for=registered_for))
    signer = signer_for(settings)
    target = LinkTarget(subscriber_id=None, list_id=None, campaign_id=None)
    recipient = Recipient(
        email=subscriber.email,
        first_name=subscriber.first_name,
        last_name=subscriber.last_name,
        unsubscribe_url=signer.url(UNSUBSCRIBE, target),
        view_url=signer.url(VIEW, target),
    )
    return issue.personalise(recipient)
