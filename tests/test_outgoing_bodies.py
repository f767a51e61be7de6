"""Stage 2 in the worker: bodies written as JSON for a provider that sends JSON, as strings for the others."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import orjson

from publisher.content.recap import load_recap
from publisher.content.rendering.layout import IssueFrame, render_issue
from publisher.core.links import signer_for
from publisher.core.message import JsonText
from publisher.core.settings import Settings
from publisher.ledger.claims import CampaignSnapshot, ClaimedDelivery
from tests.support.recaps import RECAP
from workers.delivery.batch import compose
from workers.delivery.context import WorkerContext


def composed(settings: Settings, first_name: str, *, json_bodies: bool) -> tuple[str, str, tuple[JsonText, JsonText] | None]:
    issue = render_issue(load_recap(RECAP), IssueFrame(list_name="attendees", postal_address="1 Test Street"))
    templates = {"html_template": issue.html, "text_template": issue.text, "nonce": issue.nonce}
    campaign = CampaignSnapshot(id=7, list_id=3, provider="postmark", is_test=False, subject="Recap", **templates)
    person = {"first_name": first_name, "last_name": "Brontë", "attributes": {}}
    delivery = ClaimedDelivery(id=1, email="zoe@example.com", message_id="m1@example.com", subscriber_id=9, attempts=0, **person)
    # compose reads only the settings and the signer of its context.
    ctx = cast(WorkerContext, SimpleNamespace(settings=settings, signer=signer_for(settings)))
    email = compose(ctx, campaign, issue, delivery, json_bodies=json_bodies)
    return email.html, email.text, email.json_bodies


def test_a_json_provider_gets_the_json_of_the_bodies_every_other_provider_gets(settings: Settings) -> None:
    html, text, none = composed(settings, 'Zoë "Z" \\', json_bodies=False)
    assert none is None and 'Zoë "Z" \\' in text
    empty_html, empty_text, bodies = composed(settings, 'Zoë "Z" \\', json_bodies=True)
    assert (empty_html, empty_text) == ("", "")
    assert bodies is not None
    assert (bytes(bodies[0]), bytes(bodies[1])) == (orjson.dumps(html), orjson.dumps(text))


def test_a_value_json_cannot_carry_leaves_the_email_its_string_bodies(settings: Settings) -> None:
    html, text, bodies = composed(settings, "lone \ud800", json_bodies=True)
    assert bodies is None
    assert "lone \ud800" in text and html.startswith("<!DOCTYPE html>")
