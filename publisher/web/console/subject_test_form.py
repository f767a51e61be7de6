"""The send form's "Subject test" section: up to three more subjects, the share, the wait and the metric.

Read with the CLI's rules (``publisher.ledger.subject_tests``); each
problem is shown next to its field. Blank subject fields are skipped, so the
variants are numbered in the order they were typed, after the draft's own
subject (variant 1). With no subject typed there is no test, whatever the
other fields say. The confirmation page carries the values on, and the
send reads them again: what was typed is checked twice, what is sent is
checked once more in the send's own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Campaign, MailingList
from publisher.ledger import subject_tests
from publisher.ledger.subject_tests import (
    DEFAULT_METRIC,
    DEFAULT_SHARE,
    DEFAULT_WAIT,
    MAX_SHARE,
    MIN_SHARE,
    SubjectTest,
    SubjectTestError,
    check_subject,
    format_wait,
    parse_wait,
    share_sizes,
)
from publisher.tracking.figures import METRICS

#: The form's subject fields: variants 2 to 4.
VARIANT_FIELDS = ("variant_2", "variant_3", "variant_4")


@dataclass(frozen=True)
class TestForm:
    """The section's fields as typed (or as the draft carries them)."""

    variants: tuple[str, ...] = ("", "", "")
    share: str = str(DEFAULT_SHARE)
    wait: str = format_wait(DEFAULT_WAIT)
    metric: str = DEFAULT_METRIC

    @property
    def given(self) -> bool:
        return any(subject.strip() for subject in self.variants)

    @property
    def subjects(self) -> list[str]:
        return [subject.strip() for subject in self.variants if subject.strip()]


def of_draft(campaign_test: SubjectTest | None) -> TestForm:
    """The section filled in with the test a draft carries (set through the API), or empty."""
    if campaign_test is None:
        return TestForm()
    typed = (*campaign_test.variants, "", "", "")[:3]
    return TestForm(typed, str(campaign_test.share), format_wait(campaign_test.wait), campaign_test.metric)


def summary(test: SubjectTest) -> str:
    """A test's set-up in a line: ``2 subjects on 20% of the list, winner on unique human opens after 2h``."""
    return (
        f"{len(test.variants) + 1} subjects on {test.share}% of the list, "
        f"winner on unique human {test.metric} after {format_wait(test.wait)}"
    )


def draft_test(db: Database, campaign_id: int) -> SubjectTest | None:
    with db.reading() as session:
        campaign = session.get(Campaign, campaign_id)
        return subject_tests.set_up(campaign) if campaign is not None else None


def read(form: TestForm, own_subject: str) -> tuple[SubjectTest | None, dict[str, str]]:
    """The test the form asks for (None: none) and the problems by field name."""
    if not form.given:
        return None, {}
    errors: dict[str, str] = {}
    seen = {own_subject.strip().casefold(): "variant 1 (the draft's subject)"}
    for field, typed in zip(VARIANT_FIELDS, form.variants, strict=True):
        if not typed.strip():
            continue
        label = f"Variant {field[-1]}"
        try:
            check_subject(typed, label)
        except SubjectTestError as exc:
            errors[field] = f"{exc}."
            continue
        key = typed.strip().casefold()
        if key in seen:
            errors[field] = f"{label} is the same as {seen[key]}: each variant needs its own subject."
        seen.setdefault(key, label.lower())
    share = _share(form.share, errors)
    try:
        wait = parse_wait(form.wait)
    except SubjectTestError as exc:
        errors["test_wait"] = f"{exc}."
        wait = DEFAULT_WAIT
    if form.metric not in METRICS:
        errors["test_metric"] = "Choose unique human opens or unique human clicks."
    if errors:
        return None, errors
    try:
        return subject_tests.subject_test(own_subject, form.subjects, share=share, wait=wait, metric=form.metric), {}
    except SubjectTestError as exc:  # every rule is checked above by field; kept for a rule added there later
        return None, {"subject_test": f"{exc}."}


def _share(typed: str, errors: dict[str, str]) -> int:
    try:
        share = int(typed.strip())
    except ValueError:
        errors["test_share"] = f"Give the test share as a whole number of percent, {MIN_SHARE} to {MAX_SHARE}."
        return DEFAULT_SHARE
    if not MIN_SHARE <= share <= MAX_SHARE:
        errors["test_share"] = f"The test share is {MIN_SHARE} to {MAX_SHARE} percent of the list, not {share}."
    return share


def sendable(settings: Settings, db: Database, list_name: str | None, test: SubjectTest, audience: int) -> dict[str, str]:
    """What stops this test on this list now: tracking off, a wait longer than opens are kept, or too few recipients for each variant."""
    with db.reading() as session:
        mailing_list = session.scalar(select(MailingList).where(MailingList.name == list_name))
        try:
            if mailing_list is not None:
                subject_tests.require_tracking(settings.tracking, mailing_list)
        except SubjectTestError as exc:
            return {"subject_test": f"{exc}."}
    try:
        subject_tests.require_kept(test.wait, settings.tracking_days)
    except SubjectTestError as exc:
        return {"test_wait": f"{exc}."}
    try:
        share_sizes(audience, test.share, len(test.variants) + 1)
    except SubjectTestError as exc:
        return {"test_share": f"{exc}."}
    return {}


@dataclass(frozen=True)
class Split:
    """How the confirmation says the test goes out."""

    sizes: list[int]
    remainder: int
    wait: str
    metric: str
    share: int


def split_of(test: SubjectTest, audience: int) -> Split:
    sizes = share_sizes(audience, test.share, len(test.variants) + 1)
    return Split(sizes, audience - sum(sizes), format_wait(test.wait), test.metric, test.share)
