"""The publish sequence: validate everything, then write, then enqueue; and saving a recap file as a draft.

Order matters for "nothing half-written": the recap, the provider's settings
and Redis are all checked before the database is touched, and the campaign is
written in one transaction before any task is enqueued.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import CLI_ACTOR
from publisher.audience.lists import check_list_name
from publisher.content.drafting import lint_draft, read_draft
from publisher.content.lint import lint_recap
from publisher.content.recap import Recap, parse_recap, read_recap_text
from publisher.core.broker import check_reachable, redis_url
from publisher.core.errors import ContentError
from publisher.core.settings import Settings
from publisher.db.engine import Database, open_database
from publisher.ledger.campaigns import CampaignPlan, CreatedCampaign, create_campaign
from publisher.ledger.dispatch import QueuedBatch, mark_enqueued
from publisher.ledger.drafts import DraftContent, create_draft
from publisher.ledger.subject_test_figures import subject_test_progress
from publisher.ledger.subject_tests import format_wait, subject_test
from publisher.queue import deliver_webhooks_after_commit, enqueue
from workers.providers import check_provider, provider_class


@dataclass(frozen=True)
class PublishOptions:
    recap: Path
    list_name: str | None
    provider: str
    send_at: dt.datetime | None = None
    #: ``send_at`` without its offset, to send at that time in each recipient's zone (``--local-time``).
    local_time: dt.datetime | None = None
    test_to: str | None = None
    #: Publish even when lint finds errors.
    force: bool = False
    #: A subject test: the other subjects and its set-up, checked against the recap's subject once it is read.
    subject_test: TestOptions | None = None


@dataclass(frozen=True)
class TestOptions:
    """``--subject-variant`` and the options of its test, as given."""

    variants: tuple[str, ...]
    share: int
    wait: dt.timedelta
    metric: str


def check_lint(settings: Settings, recap: Recap, *, force: bool, report: Callable[[str], None]) -> None:
    """Run the lint checks; refuse on errors unless forced, report warnings either way."""
    findings = lint_recap(settings, recap)
    for finding in findings.errors + findings.warnings:
        report(f"lint {finding.severity.value}: {finding.check}: {finding.message}")
    if findings.errors and not force:
        count = len(findings.errors)
        problem = f"lint found {count} error(s); see `newsletter lint {recap.source}`, fix them or publish with --force"
        raise ContentError(recap.source, problem)


def run_publish(settings: Settings, options: PublishOptions, report: Callable[[str], None]) -> CreatedCampaign:
    if options.list_name is not None:
        check_list_name(options.list_name)
    text = read_recap_text(options.recap)
    recap = parse_recap(text, str(options.recap))
    check_lint(settings, recap, force=options.force, report=report)
    test = None
    if options.subject_test is not None:
        given = options.subject_test
        test = subject_test(recap.meta.email_subject, given.variants, share=given.share, wait=given.wait, metric=given.metric)
    provider = provider_class(options.provider)
    provider.check_configuration(settings)
    url = redis_url(settings)
    check_reachable(url, settings.redis_sentinel_master)
    db = open_database(settings.resolved_database_url, settings.secret_keys)
    deliver_webhooks_after_commit(settings, db, url)
    try:
        plan = CampaignPlan(
            recap=recap,
            list_name=options.list_name,
            provider=options.provider,
            batch_size=settings.batch_size_for(provider.max_batch_size),
            send_at=options.send_at,
            local_time=options.local_time,
            test_to=(options.test_to,) if options.test_to else (),
            # Kept with the campaign: the web app reads its next event from it (the .ics link).
            recap_text=text,
            created_by=CLI_ACTOR.label,
            subject_test=test,
        )
        created = create_campaign(settings, db, plan)
        _audit_published(db, created, options)
        kind = "test send" if created.is_test else "campaign"
        report(f"{kind} {created.id}: {created.recipients} recipient(s) in {len(created.batch_ids)} batch(es) via {options.provider}")
        if created.subject_test:
            report_subject_test(db, created.id, report)
        if options.local_time is not None:
            report_local_time(created, options.local_time, report)
        elif created.scheduled:
            assert options.send_at is not None
            report(f"scheduled for {options.send_at.isoformat()}; a running worker releases it then")
            return created
        due = created.due_batch_ids
        if due:
            enqueue(settings, url, [QueuedBatch(batch_id, created.is_test) for batch_id in due])
            mark_enqueued(db, due)
            report(f"enqueued {len(due)} batch(es); run `newsletter worker` to deliver")
        return created
    finally:
        db.dispose()


def _audit_published(db: Database, created: CreatedCampaign, options: PublishOptions) -> None:
    if created.is_test:
        audit.log(db, CLI_ACTOR, Action.TEST_SENT, campaign_id=created.id, target=options.test_to or "")
        return
    action = Action.SENT if created.sent_now else Action.SCHEDULED
    when = f", at {options.send_at.isoformat()}" if created.scheduled and options.send_at else ""
    if options.local_time is not None:
        when = f", at {options.local_time.isoformat()} local time"
    audit.log(
        db, CLI_ACTOR, action, campaign_id=created.id, target=options.list_name or "", detail=f"{created.recipients} recipient(s){when}"
    )


def report_subject_test(db: Database, campaign_id: int, report: Callable[[str], None]) -> None:
    """Say how a subject test goes out: the test's recipients per variant now, the rest when the winner is decided."""
    progress = subject_test_progress(db, campaign_id)
    if progress is None:
        return
    split = ", ".join(f"variant {variant.number}: {variant.recipients}" for variant in progress.variants)
    wait = format_wait(dt.timedelta(seconds=progress.wait_seconds))
    report(
        f"subject test: {progress.test_recipients} recipient(s) in the test ({split}); {progress.remainder_recipients} get the winner "
        f"{wait} after the test starts sending (at {progress.decide_at:%Y-%m-%d %H:%M} UTC at the earliest), "
        f"on unique human {progress.metric} (`newsletter pick-winner {campaign_id} N` decides sooner)"
    )


def report_local_time(created: CreatedCampaign, local: dt.datetime, report: Callable[[str], None]) -> None:
    """Say how a local-time send goes out: how many batches wait for a later zone."""
    held = len(created.held_batch_ids)
    when = f"scheduled at {local.isoformat()} local time"
    if held:
        report(f"{when}: {held} batch(es) wait for their time zone; a running worker releases each then")
    else:
        report(f"{when}: that time has come in every time zone, so every batch goes now")


def run_draft(settings: Settings, recap_path: Path, list_name: str, provider: str, report: Callable[[str], None]) -> int:
    """Save a recap file as a draft of ``list_name``; return its id.

    The draft is kept whenever the file can be read: lint errors and an empty
    body are stored with it and reported, and ``newsletter send`` refuses them.
    """
    check_list_name(list_name)
    text = read_recap_text(recap_path)
    recap = read_draft(text, str(recap_path))
    findings = lint_draft(settings, recap)
    for finding in findings.errors + findings.warnings:
        report(f"lint {finding.severity.value}: {finding.check}: {finding.message}")
    check_provider(settings, provider)
    db = open_database(settings.resolved_database_url, settings.secret_keys)
    try:
        campaign_id = create_draft(settings, db, DraftContent(recap, text, list_name, provider, findings), CLI_ACTOR)
    finally:
        db.dispose()
    errors = f"; {len(findings.errors)} lint error(s) to fix before it can be sent" if findings.errors else ""
    report(f"draft {campaign_id} saved for list '{list_name}' via {provider}{errors}; `newsletter send {campaign_id}` sends it")
    return campaign_id
