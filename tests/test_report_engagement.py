"""``newsletter report`` and the API's report: human and machine opens and clicks side by side, top links, the timeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Delivery, EngagementKind, EventType
from publisher.feedback.recording import ProviderEvent, record_events
from publisher.ledger.report import campaign_report
from publisher.tracking.links import SHOWN_LINKS
from tests.support.api import Api, token
from tests.support.cli import run_cli
from tests.support.engagements import FIRST, LINKS, PEOPLE, after, engage, seed_engagements, sent_campaign

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ENGAGEMENT_KEYS = ("opened_human", "opened_machine", "clicked_human", "clicked_machine")
#: Anything a terminal would act on: C0 but the line break, DEL, C1.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def provider_open(db: Database, settings: Settings, campaign_id: int, email: str) -> None:
    """The provider's own open event for one recipient, as its webhook records it in the event log."""
    with db.reading() as session:
        message_id = session.scalar(select(Delivery.message_id).where(Delivery.campaign_id == campaign_id, Delivery.email == email))
    with db.transaction() as session:
        record_events(session, settings, [ProviderEvent("postmark", EventType.OPENED, after(minutes=31), message_id=message_id)])


def test_the_report_shows_unique_human_and_machine_figures_with_rates_of_sent(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    provider_open(db, settings, seeded.campaign_id, PEOPLE[1])
    data = campaign_report(db, seeded.campaign_id).as_dict()
    assert data["sent"] == 6 and data["tracking"] is True
    assert {key: data[key] for key in ENGAGEMENT_KEYS} == {"opened_human": 3, "opened_machine": 2, "clicked_human": 3, "clicked_machine": 1}
    assert {key: data["rates"][key] for key in ENGAGEMENT_KEYS} == {
        "opened_human": 0.5,
        "opened_machine": 0.3333,
        "clicked_human": 0.5,
        "clicked_machine": 0.1667,
    }
    # The provider's events keep their own figures: p1's open is in both, and counted once in each.
    assert (data["opened"], data["opens"]) == (1, 1)
    assert data["top_links"] == [
        {"url": LINKS[1], "clicked_human": 2, "clicked_machine": 1},
        {"url": LINKS[0], "clicked_human": 1, "clicked_machine": 1},
        {"url": LINKS[2], "clicked_human": 0, "clicked_machine": 1},
    ]
    timeline = data["timeline"]
    assert len(timeline) == 49
    assert timeline[0] == {
        "start": "2026-03-02T14:00:00+00:00",
        "end": "2026-03-02T15:00:00+00:00",
        "opened_human": 1,
        "opened_machine": 2,
        "clicked_human": 1,
        "clicked_machine": 1,
    }
    assert (timeline[48]["start"], timeline[48]["end"]) == ("2026-03-04T14:00:00+00:00", "2026-03-05T14:00:00+00:00")


def test_the_json_has_every_link_and_the_text_the_first_ten(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    reader = seeded.ids[PEOPLE[0]]
    for number in range(SHOWN_LINKS + 2):
        engage(db, seeded.campaign_id, reader, EngagementKind.CLICK, after(minutes=number), url=f"https://modu.example/{number:02}")
    report = campaign_report(db, seeded.campaign_id)
    assert len(report.as_dict()["top_links"]) == SHOWN_LINKS + 2
    assert len(report.engagement.top_links) == SHOWN_LINKS


def test_an_untracked_campaign_reports_tracking_off_and_counts_only_what_the_provider_saw(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    data = campaign_report(db, seeded.campaign_id).as_dict()
    assert data["tracking"] is False
    assert [data[key] for key in ENGAGEMENT_KEYS] == [0, 0, 0, 0]
    assert (data["top_links"], data["timeline"]) == ([], [])
    # A provider's open, recorded in the engagements ledger with the provider as its source.
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[2]], EngagementKind.OPEN, after(hours=2), source="sendgrid")
    data = campaign_report(db, seeded.campaign_id).as_dict()
    assert (data["tracking"], data["opened_human"], data["rates"]["opened_human"]) == (False, 1, 0.1667)


@SQLITE_ONLY
def test_cli_report_text_shows_human_and_machine_side_by_side_then_links_and_time(
    env: dict[str, str], db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    result = run_cli({**env, "COLUMNS": "200"}, "report", str(seeded.campaign_id))
    assert result.returncode == 0, result.output
    lines = result.output.splitlines()
    assert "opens and clicks: tracked; unique recipients, rates are shares of sent (6)" in lines
    words = {line.split()[0]: line.split()[1:] for line in lines if line.strip()}
    assert words["opened"] == ["3", "50.0%", "2", "33.3%"]
    assert words["clicked"] == ["3", "50.0%", "1", "16.7%"]
    assert "top links (unique clickers; 3 of 3)" in lines
    links = [line.split() for line in lines if "https://modu.example/" in line]
    assert links == [["2", "1", LINKS[1]], ["1", "1", LINKS[0]], ["0", "1", LINKS[2]]]
    # Only the buckets with someone in them, hourly then daily.
    buckets = [line.split() for line in lines if line.startswith("2026-")]
    assert buckets == [
        ["2026-03-02", "14:00", "1", "h", "1", "2", "1", "1"],
        ["2026-03-02", "17:00", "1", "h", "1", "0", "1", "0"],
        ["2026-03-04", "14:00", "1", "day", "1", "0", "1", "0"],
    ]
    assert "provider events: opens 0 (0 unique), clicks 0 (0 unique)" in lines
    data = json.loads(run_cli(env, "report", str(seeded.campaign_id), "--json").output)
    assert [data[key] for key in ENGAGEMENT_KEYS] == [3, 2, 3, 1]
    assert {"tracking", "top_links", "timeline", "opened", "clicked", "opens", "clicks"} <= data.keys()


@SQLITE_ONLY
def test_cli_report_of_an_untracked_campaign_says_opens_and_clicks_are_unknown(
    env: dict[str, str], db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    result = run_cli({**env, "COLUMNS": "400"}, "report", str(seeded.campaign_id))
    assert result.returncode == 0, result.output
    assert "opens and clicks: not tracked: its emails carried no open pixel and no tracked links" in result.output
    assert "otherwise they are unknown" in result.output
    assert "top links" not in result.output
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[2]], EngagementKind.OPEN, FIRST, source="sendgrid")
    result = run_cli({**env, "COLUMNS": "400"}, "report", str(seeded.campaign_id))
    assert "opens and clicks: not tracked, from the provider's own tracking events only" in result.output
    assert "top links: no clicks yet" in result.output


@SQLITE_ONLY
def test_cli_report_shows_a_hostile_reported_url_escaped(env: dict[str, str], db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    hostile = "https://x.example/\x1b]0;pwned\x07[bold]b[/bold]\x9b2J" + "y" * 1900
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.CLICK, FIRST, source="mailgun", url=hostile)
    output = run_cli({**env, "COLUMNS": "4000"}, "report", str(seeded.campaign_id)).output
    assert not RAW.search(output), repr(RAW.search(output))
    assert "https://x.example/\\x1b]0;pwned\\x07[bold]b[/bold]\\x9b2J" + "y" * 1900 in output
    data = json.loads(run_cli(env, "report", str(seeded.campaign_id), "--json").output)
    assert data["top_links"][0]["url"] == hostile


@SQLITE_ONLY
def test_the_api_report_has_the_same_engagement_keys(web_url: str, db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    answer = Api(web_url, token(db)).get(f"/campaigns/{seeded.campaign_id}/report")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [data[key] for key in ENGAGEMENT_KEYS] == [3, 2, 3, 1]
    assert data["rates"]["clicked_human"] == 0.5 and data["tracking"] is True
    assert data["top_links"][0] == {"url": LINKS[1], "clicked_human": 2, "clicked_machine": 1}
    assert len(data["timeline"]) == 49
