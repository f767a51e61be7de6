"""The audit log: what the command line records, how ``newsletter audit`` shows it, and reading it back in pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from publisher.accounts import audit
from publisher.accounts.audit import Action
from publisher.accounts.roles import CLI_ACTOR, Actor
from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import AuditEntry, Delivery, DeliveryState, Role, Subscriber
from publisher.ledger import control
from tests.support.audience import CSV, ZOE
from tests.support.campaigns import publish_to_attendees
from tests.support.cli import run_cli
from tests.support.recaps import RECAP

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_entries_are_read_newest_first_by_campaign_and_in_pages(db: Database) -> None:
    token = Actor("token", "crm-sync", ip="198.51.100.4")
    audit.log(db, CLI_ACTOR, Action.IMPORTED, target="attendees", detail="3 added")
    audit.log(db, token, Action.SENT, campaign_id=7, target="attendees")
    audit.log(db, CLI_ACTOR, Action.PAUSED, campaign_id=7)
    audit.log(db, CLI_ACTOR, Action.SENT, campaign_id=8)
    assert [(e.action, e.campaign_id) for e in audit.entries(db)] == [("sent", 8), ("paused", 7), ("sent", 7), ("imported", None)]
    of_seven = audit.entries(db, campaign_id=7)
    assert [(e.actor, e.action, e.ip) for e in of_seven] == [("cli", "paused", None), ("token:crm-sync", "sent", "198.51.100.4")]
    first_page = audit.entries(db, limit=2)
    assert [e.action for e in first_page] == ["sent", "paused"]
    with db.transaction() as session:
        oldest_shown = session.scalar(select(AuditEntry.id).where(AuditEntry.action == "paused"))
    assert [e.action for e in audit.entries(db, before=oldest_shown)] == ["sent", "imported"]


@SQLITE_ONLY
def test_campaign_commands_are_recorded_and_shown_by_newsletter_audit(env: dict[str, str], db: Database) -> None:
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    published = run_cli(env, "publish", RECAP, "--list", "attendees")
    campaign = int(published.last_line.split()[1])
    for command in ("pause", "resume", "cancel"):
        assert run_cli(env, command, str(campaign)).returncode == 0
    audit.log(db, Actor("user", "eve@example.com", Role.EDITOR), Action.EDITED, campaign_id=campaign, target="\x1b[2J\x1b]0;owned\x07")

    shown = run_cli(env, "audit", "--campaign", str(campaign), "--json")
    assert shown.returncode == 0, shown.output
    entries = json.loads(shown.output)
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("user:eve@example.com", "edited"),
        ("cli", "cancelled"),
        ("cli", "resumed"),
        ("cli", "paused"),
        ("cli", "sent"),
    ]
    assert all(e["campaign"] == campaign for e in entries)
    assert entries[0]["target"] == "\x1b[2J\x1b]0;owned\x07"
    assert "\x1b" not in shown.output

    table = run_cli({**env, "COLUMNS": "220"}, "audit")
    assert table.returncode == 0
    assert "\x1b" not in table.output and "\\x1b[2J" in table.output
    assert "imported" in table.output and "attendees" in table.output
    assert "6 entr(ies)" in table.output


@SQLITE_ONLY
def test_users_tokens_and_erasure_are_recorded_without_the_erased_address(env: dict[str, str], db: Database) -> None:
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    assert run_cli(env, "users", "add", "ada@example.com", "--role", "admin").returncode == 0
    assert run_cli(env, "tokens", "create", "crm-sync", "--scope", "subscribers:write").returncode == 0
    assert run_cli(env, "tokens", "revoke", "crm-sync").returncode == 0
    assert run_cli(env, "subscribers", "erase", ZOE, "--yes").returncode == 0

    logged = [(e.actor, e.action, e.target, e.detail) for e in reversed(audit.entries(db))]
    assert [(actor, action) for actor, action, _, _ in logged] == [
        ("cli", "imported"),
        ("cli", "user-added"),
        ("cli", "token-created"),
        ("cli", "token-revoked"),
        ("cli", "erased"),
    ]
    assert logged[1][2:] == ("ada@example.com", "role admin")
    assert logged[2][2:] == ("crm-sync", "subscribers:write")
    assert not any(ZOE in value or "zoe" in value.lower() for entry in logged for value in entry)


@SQLITE_ONLY
def test_erasing_from_the_command_line_redacts_the_address_from_earlier_entries(env: dict[str, str], db: Database) -> None:
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    with db.transaction() as session:
        zoe = session.scalar(select(Subscriber.id).where(Subscriber.email == ZOE))
    # An earlier entry that names the address: a suppression added by hand.
    audit.log(db, Actor("user", "eve@example.com", Role.EDITOR), Action.SUPPRESSED, target=ZOE, detail=f"everywhere: {ZOE} asked")
    assert run_cli(env, "subscribers", "erase", ZOE, "--yes").returncode == 0

    with db.transaction() as session:
        stored = [value for entry in session.scalars(select(AuditEntry)) for value in (entry.target, entry.detail)]
    assert stored and not any(ZOE in value for value in stored)
    erased = audit.entries(db)[0]
    assert (erased.actor, erased.action, erased.target) == ("cli", "erased", f"subscriber:{zoe}")


@SQLITE_ONLY
def test_suppression_changes_from_the_command_line_are_recorded(env: dict[str, str], db: Database, tmp_path: Path) -> None:
    assert run_cli(env, "subscribers", "import", CSV, "--list", "attendees").returncode == 0
    assert run_cli(env, "suppressions", "add", "ada@example.com", "--reason", "asked by phone").returncode == 0
    assert run_cli(env, "suppressions", "add", "ada@example.com").returncode == 0  # already suppressed: nothing changed
    assert run_cli(env, "suppressions", "remove", "ada@example.com").returncode == 0
    bounced = tmp_path / "bounced.csv"
    bounced.write_text("email\ngrace@example.com\nnot-an-address\n", encoding="utf-8")
    assert run_cli(env, "suppressions", "import", bounced, "--list", "attendees").returncode == 0

    logged = [(e.actor, e.action, e.target, e.detail) for e in reversed(audit.entries(db))]
    assert logged[1:] == [
        ("cli", "suppressed", "ada@example.com", "everywhere: asked by phone"),
        ("cli", "unsuppressed", "ada@example.com", "everywhere: 1 entry(ies) removed"),
        ("cli", "imported", "suppressions", "bounced.csv (list attendees): 1 added, 0 already suppressed, 1 rejected"),
    ]


def test_a_control_change_and_its_entry_are_written_together(settings: Settings, db: Database) -> None:
    campaign = publish_to_attendees(settings, db).id
    ops = Actor("token", "ops", ip="198.51.100.4")
    control.pause(db, campaign, actor=ops)
    control.resume(db, campaign, actor=ops)
    assert control.reconcile(db, campaign, resend=False, actor=ops) == 0  # nothing changed: nothing recorded
    assert control.replay(db, campaign, actor=ops) == 0
    assert control.cancel(db, campaign, actor=ops) == 25
    with pytest.raises(control.ControlError, match="can be paused"):
        control.pause(db, campaign, actor=ops)
    with db.transaction() as session:
        first = select(func.min(Delivery.id)).where(Delivery.campaign_id == campaign).scalar_subquery()
        session.execute(update(Delivery).where(Delivery.id == first).values(state=DeliveryState.IN_DOUBT))
    with pytest.raises(control.ControlError, match="is cancelled"):  # refused after its update: rolled back, its entry with it
        control.reconcile(db, campaign, resend=True, actor=ops)
    assert control.reconcile(db, campaign, resend=False, actor=ops) == 1

    logged = [(e.actor, e.action, e.ip, e.detail) for e in reversed(audit.entries(db, campaign)) if e.actor == "token:ops"]
    assert logged == [
        ("token:ops", "paused", "198.51.100.4", ""),
        ("token:ops", "resumed", "198.51.100.4", ""),
        ("token:ops", "cancelled", "198.51.100.4", "25 record(s) not sent"),
        ("token:ops", "reconciled", "198.51.100.4", "1 in-doubt record(s) marked sent"),
    ]
