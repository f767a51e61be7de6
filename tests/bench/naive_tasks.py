"""The naive baseline of the send benchmark: one Celery task per recipient, premailer per recipient.

This is how a newsletter sender is often first written, and what the project
is measured against (``tests/bench/bench_send.py``): the publisher calls
``send_one.delay(...)`` once per recipient; each task renders the whole email
(Jinja2 and premailer, ``render_single``), signs the two links and makes one
Postmark call for that one message with requests.

Deliberately favourable to the baseline: the task carries the recipient's
fields, so it reads no database and writes no ledger, and results are not
stored. The fake provider speaks only Postmark's batch endpoint, so the
single message goes to ``/email/batch`` as a list of one (the real single
endpoint, ``/email``, takes the same message object).

Workers: ``celery -A tests.bench.naive_tasks worker -Q naive``, configured
from the same NEWSLETTER_* variables as the product (Redis, Postmark token
and base URL, secret key, From).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import requests
from celery import Celery
from publisher.content.recap import Recap, load_recap
from publisher.content.rendering.layout import IssueFrame, render_single
from publisher.content.rendering.personalize import Recipient
from publisher.core.broker import celery_broker_url
from publisher.core.links import UNSUBSCRIBE, VIEW, LinkSigner, LinkTarget
from publisher.core.message import OutgoingEmail

PROJECT = Path(__file__).resolve().parents[2]
RECAP = PROJECT / "examples" / "recaps" / "modu-product-vs-tech.md"
QUEUE = "naive"
FRAME = IssueFrame(list_name="bench", postal_address="Modu Ltd, 1 Example Street, London WC1V 7AA")
LIST_ID, CAMPAIGN_ID = 1, 1

app = Celery("naive")
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


def configure(redis_url: str) -> Celery:
    """Point the app at the broker (the bench's own process calls this before enqueuing)."""
    app.conf.broker_url = celery_broker_url(redis_url)
    return app


if os.environ.get("NEWSLETTER_REDIS_URL"):
    configure(os.environ["NEWSLETTER_REDIS_URL"])


@cache
def _recap() -> Recap:
    return load_recap(RECAP)


@cache
def _signer() -> LinkSigner:
    return LinkSigner(os.environ["NEWSLETTER_SECRET_KEY"], os.environ.get("NEWSLETTER_PUBLIC_URL", "http://localhost:8000"))


@cache
def _session() -> requests.Session:
    return requests.Session()


@app.task(name="naive.send_one")  # type: ignore[untyped-decorator]  # Celery ships no types
def send_one(subscriber_id: int, email: str, first_name: str, last_name: str) -> None:
    """Render one recipient's email from scratch and send it alone."""
    target = LinkTarget(subscriber_id, LIST_ID, CAMPAIGN_ID)
    signer = _signer()
    recipient = Recipient(
        email=email,
        first_name=first_name,
        last_name=last_name,
        unsubscribe_url=signer.url(UNSUBSCRIBE, target),
        view_url=signer.url(VIEW, target),
    )
    html, text = render_single(_recap(), FRAME, recipient)
    message = OutgoingEmail(
        delivery_id=subscriber_id,
        campaign_id=CAMPAIGN_ID,
        message_id=f"naive-{subscriber_id}@modu.example",
        sender=os.environ["NEWSLETTER_FROM"],
        to_address=email,
        to_name=recipient.full_name,
        subject=_recap().meta.email_subject,
        html=html,
        text=text,
        unsubscribe_url=recipient.unsubscribe_url,
    )
    payload = {
        "From": message.sender,
        "To": message.recipient,
        "Subject": message.subject,
        "HtmlBody": message.html,
        "TextBody": message.text,
        "MessageStream": "broadcast",
        "Headers": [{"Name": name, "Value": value} for name, value in message.headers().items()],
    }
    response = _session().post(
        os.environ["NEWSLETTER_POSTMARK_BASE_URL"].rstrip("/") + "/email/batch",
        json=[payload],
        headers={"Accept": "application/json", "X-Postmark-Server-Token": os.environ["NEWSLETTER_POSTMARK_API_KEY"]},
        timeout=10,
    )
    response.raise_for_status()
