"""The API's request and response bodies, as the OpenAPI document shows them.

Content fields are only shaped here (types, no extra keys); the recap's own
rules (a title, a valid date, an http(s) URL) are checked by
``publisher.content.drafting.read_draft``, the same code the console and the
CLI use, and its problems come back as a 422 naming each field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from publisher.ledger.subject_tests import (
    DEFAULT_SHARE,
    MAX_SHARE,
    MAX_VARIANTS,
    MIN_SHARE,
    MIN_VARIANTS,
    SUBJECT_LIMIT,
)

#: Most addresses one test send may go to.
MAX_TEST_ADDRESSES = 10
MAX_TEXT = 1_000
MAX_BODY = 1_048_576


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventFields(_Body):
    name: str = Field(max_length=MAX_TEXT)
    date: str | None = Field(None, max_length=40, description="ISO 8601 date, e.g. 2026-05-14.", examples=["2026-05-14"])
    venue: str | None = Field(None, max_length=MAX_TEXT)


class CtaFields(_Body):
    text: str = Field(max_length=MAX_TEXT)
    url: str = Field(max_length=2000, description="An http or https URL.")


class ResourceFields(_Body):
    title: str = Field(max_length=MAX_TEXT)
    url: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=MAX_TEXT)


class ContentFields(_Body):
    """A recap as fields; the API writes them as recap text (Markdown with front matter)."""

    title: str | None = Field(None, max_length=MAX_TEXT)
    subject: str | None = Field(None, max_length=MAX_TEXT)
    preheader: str | None = Field(None, max_length=MAX_TEXT)
    event: EventFields | None = None
    cta: CtaFields | None = None
    resources: list[ResourceFields] | None = Field(None, max_length=100)
    body: str | None = Field(None, max_length=MAX_BODY, description="The recap's Markdown.")
    recap: str | None = Field(
        None, max_length=MAX_BODY, description="The whole recap (front matter and Markdown) instead of the fields above."
    )


Subject = Annotated[str, Field(max_length=SUBJECT_LIMIT)]
#: A wait in whole seconds, or as the CLI's ``--test-wait`` writes it; its range is checked with the rest of the test.
Wait = StrictInt | StrictStr


class AbTestIn(_Body):
    """How a subject test runs; every key has its default."""

    share: int = Field(
        DEFAULT_SHARE, strict=True, ge=MIN_SHARE, le=MAX_SHARE, description="Percent of the audience in the test, split evenly."
    )
    wait: Wait = Field(
        "2h", description="How long the test runs before the winner is decided: seconds, or `90s`, `30m`, `2h`; 1 minute to 7 days."
    )
    metric: Literal["opens", "clicks"] = Field("opens", description="What wins: unique human opens (a click counts as one) or clicks.")


class SubjectTestFields(BaseModel):
    subject_variants: list[Subject] | None = Field(
        None,
        min_length=MIN_VARIANTS,
        max_length=MAX_VARIANTS,
        description="A subject-line test: 2 to 4 subjects, the campaign's own subject first.",
        examples=[["Your workshop notes", "Holborn, in five lessons"]],
    )
    ab_test: AbTestIn | None = Field(None, description="The test's set-up (with `subject_variants`); defaults when left out.")


class DraftCreate(ContentFields, SubjectTestFields):
    list: str = Field(max_length=200, description="The list it is for (it must exist).")
    provider: str | None = Field(None, max_length=100, description="Provider to send through; NEWSLETTER_PROVIDER when left out.")


class DraftChange(ContentFields):
    """Only the keys given change; a content field given as null is removed."""

    list: str | None = Field(None, max_length=200)
    provider: str | None = Field(None, max_length=100)


class LintOut(BaseModel):
    ok: bool
    errors: int
    warnings: int
    checks: dict[str, str]
    findings: list[dict[str, str]]


class ContentOut(BaseModel):
    title: str | None
    subject: str | None
    preheader: str | None
    event: dict[str, Any] | None
    cta: dict[str, Any] | None
    resources: list[dict[str, Any]] | None
    speakers: list[dict[str, Any]] | None = None
    photos: list[dict[str, Any]] | None = None
    links: list[dict[str, Any]] | None = None
    next_event: dict[str, Any] | None = None
    body: str
    recap: str = Field(description="The recap text as stored.")


class VariantOut(BaseModel):
    number: int = Field(description="From 1; variant 1 is the campaign's own subject.")
    subject: str
    recipients: int = Field(description="Its recipients in the test.")
    sent: int = Field(description="Records sent with this subject: its test's, and the remainder's once it won.")
    test_sent: int = Field(description="Its test records sent: the base of its rate.")
    engaged: int = Field(description="Of those, the ones with a human open (or click, per `metric`).")
    rate: float | None = Field(description="engaged / test_sent; null before any was sent.")


class AbTestOut(BaseModel):
    share: int
    wait: str = Field(description="As `--test-wait` writes it, e.g. `2h`.")
    wait_seconds: int
    metric: str
    decide_at: str | None = Field(
        description=(
            "When the test's wait ends and the sweep decides (UTC), unless a sender picks the winner first; when part of the "
            "test share is still to be sent then, the decision waits for it (`decision_overdue`, `decide_by`) and this stays "
            "the time it was due; null for a draft."
        )
    )
    decision_overdue: bool = Field(
        description=(
            "True while the test sends, undecided, past `decide_at`: the decision waits for the rest of the test share to be "
            "sent (or for the workers' next sweep). `decide_at` and the campaign's `next_release_at` are then in the past."
        )
    )
    decide_by: str | None = Field(
        description=(
            "While `decision_overdue`: the latest the sweep decides (UTC), on the test records sent by then: one more wait "
            "after `decide_at`, never more than NEWSLETTER_TRACKING_DAYS after the test started sending (`decide_at` minus its "
            "wait); the next sweep decides sooner once all of the test share is sent. Null otherwise, and while none of the "
            "test share has been sent yet (the sweep then gives the test a full wait again)."
        )
    )
    test_recipients: int
    remainder_recipients: int = Field(description="Recipients who get the winner.")
    variants: list[VariantOut]
    winner: int | None = Field(description="The winning variant; null until decided.")
    decision: str | None = Field(description="`significant`, `not_significant` (variant 1 sent) or `by_hand`.")
    verdict: str = Field(description="The decision in words.")
    statistic_name: str = Field(description="`z` (two variants) or `chi-squared`.")
    statistic: float | None
    p_value: float | None
    decided_by: str | None = Field(description="`sweep`, `cli`, `user:EMAIL` or `token:NAME`.")
    decided_at: str | None


#: Named before CampaignOut, whose ``list`` field hides the builtin in its body.
Subjects = list[str]


class CampaignOut(BaseModel):
    """A campaign as ``newsletter status --json`` shows it, with its lint report and, while it has one, its content."""

    id: int
    title: str
    list: str | None
    status: str
    test: bool
    created_at: str
    send_at: str | None
    total: int
    finished: bool
    deliveries: dict[str, int]
    provider: str
    pause_reason: str | None
    rate_per_second: float
    eta_seconds: int | None
    dead_letters: int
    auto_send_at: str | None = Field(
        None, description="A draft the workers send by themselves once approved (an event's recap under the rule auto): when."
    )
    approved_by: str | None = Field(None, description="Who approved that automatic send (null: it waits for an approval).")
    approved_at: str | None = None
    next_release_at: str | None = Field(
        None,
        description=(
            "When its next recipients go out (UTC): a local-time send's next time zone, a scheduled send's send_at, "
            "or a sending subject test's decision (its remainder then gets the winner; in the past while "
            "`ab_test.decision_overdue`)."
        ),
    )
    next_release_recipients: int | None = Field(None, description="How many recipients go out then (null: none ahead).")
    lint: LintOut | None = Field(
        None, description="The lint report of the content as last saved (null for a campaign published from a file)."
    )
    content: ContentOut | None = Field(
        None, description="The recap as fields (null in lists: GET the campaign for it; and for a file published before recaps were kept)."
    )
    subject_variants: Subjects | None = Field(None, description="Its subject-line test's subjects, variant 1 (its own) first; null: none.")
    ab_test: AbTestOut | None = Field(None, description="Its subject-line test: the set-up, each variant's figures, the decision.")


class CampaignPage(BaseModel):
    items: list[CampaignOut]
    next: int | None = Field(description="Pass as `before` for the next page; null on the last.")


class TestSend(_Body):
    to: list[str] = Field(min_length=1, max_length=MAX_TEST_ADDRESSES, description="Addresses to send test copies to.")


class TestSent(BaseModel):
    test_campaign: int
    recipients: list[str]


class SendRequest(_Body, SubjectTestFields):
    """``subject_variants`` and ``ab_test``, when given, replace the test the draft carries; left out, it is sent with its own."""

    send_at: str | None = Field(None, max_length=60, description="ISO 8601 date and time with its offset; now when left out.")
    force: bool = Field(False, description="Send even with lint errors.")


class PickWinner(_Body):
    variant: int = Field(strict=True, ge=1, le=MAX_VARIANTS, description="The winning variant, from 1 (the campaign's own subject).")


class ResendRequest(_Body):
    to: Literal["non-openers"] = Field(description="Who gets it: those sent the issue with no human open or click, still on the list.")
    subject: str | None = Field(
        None, max_length=500, description="A new subject, one line; the issue's when left out.", examples=["In case you missed it"]
    )
    send_at: str | None = Field(None, max_length=60, description="ISO 8601 date and time with its offset; now when left out.")


class ResendAccepted(BaseModel):
    id: int = Field(description="The resend: a campaign of its own, with its own report.")
    resend_of: int
    status: str
    recipients: int
    send_at: str | None


class SendAccepted(BaseModel):
    id: int
    status: str
    recipients: int
    send_at: str | None


class ControlDone(BaseModel):
    id: int
    status: str
    cancelled_records: int | None = None


class ListOut(BaseModel):
    name: str
    public: bool
    description: str
    subscriptions: dict[str, int]


class Rejected(BaseModel):
    line: int = Field(description="The CSV line, or the 1-based position in the JSON array.")
    reason: str


#: Named before ImportResult, whose ``list`` field hides the builtin in its body.
Rejections = list[Rejected]


class ImportResult(BaseModel):
    list: str
    added: int
    updated: int
    unchanged: int
    kept_unsubscribed: int
    rejected: Rejections


class Unsubscribed(BaseModel):
    list: str
    email: str
    status: str
    changed: bool = Field(description="False when the address had left the list already.")
