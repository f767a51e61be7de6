"""Only publisher/ledger/states.py writes a campaign's status: any other module asks it to."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
STATES = PROJECT / "publisher" / "ledger" / "states.py"
#: A status given to a campaign: ``status=CampaignStatus.X`` (a new Campaign,
#: ``.values(...)``), ``{"status": CampaignStatus.X}``, or an assignment to a
#: campaign's ``.status``. Comparisons (``==``, ``!=``) are reading, not writing.
WRITES = [
    re.compile(r"\bstatus\s*=\s*CampaignStatus\."),
    re.compile(r"""["']status["']\s*:\s*CampaignStatus\."""),
    re.compile(r"\bcampaign\w*\.status\s*=(?!=)", re.IGNORECASE),
    re.compile(r"""setattr\(\s*\w*campaign\w*\s*,\s*["']status["']""", re.IGNORECASE),
]


def status_writes(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if any(pattern.search(line) for pattern in WRITES)]


def test_the_scan_sees_each_way_of_writing_a_status() -> None:
    written = """
        Campaign(status=CampaignStatus.SENDING)
        update(Campaign).values(status=CampaignStatus.COMPLETE)
        session.execute(update(Campaign).values(**{"status": CampaignStatus.PAUSED}))
        campaign.status = CampaignStatus.CANCELLED
        setattr(campaign, "status", done)
    """
    read = """
        select(Campaign).where(Campaign.status == CampaignStatus.SENDING)
        if campaign.status != CampaignStatus.PAUSED:
        subscription.status = SubscriptionStatus.CONFIRMED
    """
    assert len(status_writes(written)) == 5
    assert status_writes(read) == []


def test_no_module_but_states_writes_a_campaign_status() -> None:
    sources = [*(PROJECT / "publisher").rglob("*.py"), *(PROJECT / "workers").rglob("*.py")]
    assert STATES in sources
    offenders = {
        str(path.relative_to(PROJECT)): writes
        for path in sources
        if path != STATES and (writes := status_writes(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, f"campaign status written outside publisher/ledger/states.py (use its functions): {offenders}"
