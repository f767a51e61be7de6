"""Subject-line tests over the API: ``subject_variants`` and ``ab_test`` in, the test's figures out.

The rules are the CLI's (``publisher.ledger.subject_tests``): 2 to 4
subjects, the campaign's own first, each one line of at most 500
characters and no two alike; a share of 1 to 50 percent; a wait of 1 minute
to 7 days, in seconds or written as ``--test-wait`` takes it (``90s``,
``30m``, ``2h``); the metric ``opens`` or ``clicks``. Each problem is a 422
naming the field (``subject_variants.2``, ``ab_test.wait``). ``pick-winner``
is in ``publisher.web.api.sends``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from publisher.db.models import Campaign
from publisher.ledger.subject_test_figures import progress_of, report_of
from publisher.ledger.subject_tests import (
    MAX_WAIT,
    MIN_WAIT,
    SubjectTest,
    SubjectTestError,
    check_subject,
    format_wait,
    parse_wait,
    subject_test,
)
from publisher.web.api.problems import ApiProblem
from publisher.web.api.schemas import AbTestIn, AbTestOut, SubjectTestFields, VariantOut


def _invalid(where: str, reason: str) -> ApiProblem:
    return ApiProblem(422, f"{where}: {reason}", errors=[(where, reason)])


def requested_test(own_subject: str, fields: SubjectTestFields) -> SubjectTest | None:
    """The subject test a body asks for, checked against the campaign's own subject; None when it asks for none."""
    variants, given = fields.subject_variants, fields.ab_test
    if variants is None:
        if given is not None:
            raise _invalid("ab_test", "ab_test sets up a subject test: give its subjects in subject_variants, the campaign's own first")
        return None
    if variants[0].strip() != own_subject.strip():
        raise _invalid("subject_variants.0", f"the first variant is the campaign's own subject, {own_subject[:200]!r}: give it first")
    seen: dict[str, int] = {}
    for index, subject in enumerate(variants):
        try:
            check_subject(subject, f"subject variant {index + 1}")
        except SubjectTestError as exc:
            raise _invalid(f"subject_variants.{index}", str(exc)) from exc
        key = subject.strip().casefold()
        if key in seen:
            reason = f"subject variant {index + 1} is the same as variant {seen[key] + 1}: each variant needs its own subject"
            raise _invalid(f"subject_variants.{index}", reason)
        seen[key] = index
    setup = given or AbTestIn()
    try:
        wait = _wait(setup.wait)
    except SubjectTestError as exc:
        raise _invalid("ab_test.wait", str(exc)) from exc
    try:
        return subject_test(own_subject, variants[1:], share=setup.share, wait=wait, metric=setup.metric)
    except SubjectTestError as exc:  # the rules above are its own: kept in case they grow
        raise _invalid("subject_variants", str(exc)) from exc


def _wait(given: int | str) -> dt.timedelta:
    """A wait in seconds or written ``90s``, ``30m``, ``2h``: 1 minute to 7 days, as ``--test-wait``; SubjectTestError otherwise."""
    if isinstance(given, str):
        return parse_wait(given)
    if not MIN_WAIT.total_seconds() <= given <= MAX_WAIT.total_seconds():
        raise SubjectTestError(f"{given} seconds is out of range: the test wait is 1 minute to 7 days (60 to 604800 seconds)")
    return dt.timedelta(seconds=given)


def ab_test_out(session: Session, campaign: Campaign, kept: dt.timedelta) -> tuple[list[str] | None, AbTestOut | None]:
    """A campaign's ``subject_variants`` and ``ab_test`` as the API shows them (None, None without a test).

    ``kept`` is NEWSLETTER_TRACKING_DAYS, which bounds an overdue decision's ``decide_by``.
    """
    progress, report = progress_of(session, campaign, kept), report_of(session, campaign)
    if progress is None or report is None:
        return None, None
    variants = [
        VariantOut(
            number=moving.number,
            subject=moving.subject,
            recipients=moving.recipients,
            sent=moving.sent,
            test_sent=figures.sent,
            engaged=figures.engaged,
            rate=round(figures.rate, 4) if figures.rate is not None else None,
        )
        for moving, figures in zip(progress.variants, report.variants, strict=True)
    ]
    out = AbTestOut(
        share=progress.share,
        wait=format_wait(dt.timedelta(seconds=progress.wait_seconds)),
        wait_seconds=progress.wait_seconds,
        metric=progress.metric,
        decide_at=progress.decide_at.isoformat() if progress.decide_at else None,
        decision_overdue=progress.decision_overdue,
        decide_by=progress.decide_by.isoformat() if progress.decide_by else None,
        test_recipients=progress.test_recipients,
        remainder_recipients=progress.remainder_recipients,
        variants=variants,
        winner=report.winner,
        decision=report.decision,
        verdict=report.verdict,
        statistic_name=report.statistic_name,
        statistic=report.statistic,
        p_value=report.p_value,
        decided_by=report.decided_by,
        decided_at=report.decided_at.isoformat() if report.decided_at else None,
    )
    return [variant.subject for variant in variants], out
