"""Stage 2 of a subject test: each record carries its variant's subject, in a MIME message and in Postmark's JSON alike."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import orjson
import pytest
from pydantic import SecretStr

from publisher.content.recap import load_recap
from publisher.content.rendering.layout import IssueFrame, render_issue
from publisher.core.links import signer_for
from publisher.core.message import OutgoingEmail
from publisher.core.settings import Settings
from publisher.ledger.claims import CampaignSnapshot, ClaimedDelivery
from tests.support.recaps import RECAP
from workers.delivery.batch import compose
from workers.delivery.context import WorkerContext
from workers.providers.postmark import PostmarkProvider

SUBJECTS = ("Recap", "Holborn, in five lessons", "What product and tech agreed on")


def _composed(settings: Settings, variant: int | None, *, json_bodies: bool, is_test: bool = False) -> OutgoingEmail:
    issue = render_issue(load_recap(RECAP), IssueFrame(list_name="attendees", postal_address="1 Test Street"))
    campaign = CampaignSnapshot(
        id=7,
        list_id=3,
        provider="postmark",
        is_test=is_test,
        subject=SUBJECTS[0],
        html_template=issue.html,
        text_template=issue.text,
        nonce=issue.nonce,
        subject_variants=SUBJECTS[1:],
    )
    delivery = ClaimedDelivery(
        id=1,
        email="zoe@example.com",
        message_id="m1@example.com",
        subscriber_id=9,
        first_name="Zoe",
        last_name="",
        attributes={},
        attempts=0,
        variant=variant,
    )
    ctx = cast(WorkerContext, SimpleNamespace(settings=settings, signer=signer_for(settings)))
    return compose(ctx, campaign, issue, delivery, json_bodies=json_bodies)


@pytest.mark.parametrize(("variant", "subject"), [(None, SUBJECTS[0]), (1, SUBJECTS[0]), (2, SUBJECTS[1]), (3, SUBJECTS[2])])
def test_each_record_is_sent_its_variants_subject_in_mime_and_in_postmarks_json(
    settings: Settings, variant: int | None, subject: str
) -> None:
    assert str(_composed(settings, variant, json_bodies=False).to_mime()["Subject"]) == subject
    postmark = PostmarkProvider(settings.model_copy(update={"postmark_api_key": SecretStr("token")}))
    kept = postmark.keep(_composed(settings, variant, json_bodies=True))
    assert kept.encoded is not None
    assert orjson.loads(kept.encoded)["Subject"] == subject


def test_a_test_copy_of_a_variant_is_marked_as_a_test(settings: Settings) -> None:
    assert _composed(settings, 2, json_bodies=False, is_test=True).subject == f"[TEST] {SUBJECTS[1]}"
