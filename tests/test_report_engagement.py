"""``newsletter report`` and the API's report: human and machine opens and clicks side by side, top links, the timeline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publisher.core.settings import Settings
from publisher.db.engine import Database
from publisher.db.models import Engagement, EngagementKind, EventType
from publisher.ledger.report import campaign_report
from publisher.tracking.links import JSON_LINKS, SHOWN_LINKS
from tests.support.api import Api, token
from tests.support.cli import run_cli
from tests.support.engagements import FIRST, LINKS, PEOPLE, after, engage, provider_event, seed_engagements, sent_campaign

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ENGAGEMENT_KEYS = ("opened_human", "opened_machine", "clicked_human", "clicked_machine")
PROVIDER_LINE = "provider events, unclassified (unique recipients, rates of sent)"
#: Anything a terminal would act on: C0 but the line break, DEL, C1.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def test_the_report_shows_unique_human_and_machine_figures_with_rates_of_sent(db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = seed_engagements(db, settings, tmp_path)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[1], EventType.OPENED, after(minutes=31))
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


def test_the_json_has_the_first_hundred_links_with_their_total_and_the_text_the_first_ten(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    reader = seeded.ids[PEOPLE[0]]
    with db.transaction() as session:
        for number in range(JSON_LINKS + 5):
            url = f"https://modu.example/{number:03}"
            click = Engagement(delivery_id=reader, campaign_id=seeded.campaign_id, kind=EngagementKind.CLICK, url=url, source="app")
            session.add(click)
            click.occurred_at, click.machine = after(minutes=1), False
    report = campaign_report(db, seeded.campaign_id)
    data = report.as_dict()
    assert (len(data["top_links"]), data["links_total"]) == (JSON_LINKS, JSON_LINKS + 5)
    assert data["top_links"][0]["url"] == "https://modu.example/000"
    assert len(report.engagement.top_links) == SHOWN_LINKS


def test_a_click_with_a_link_number_counts_for_the_tracked_link_however_the_provider_spelled_it(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[0]], EngagementKind.CLICK, FIRST, link_index=1, url=LINKS[1])
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[1]], EngagementKind.CLICK, FIRST, link_index=1, url="HTTPS://MODU.example/b/")
    engage(db, seeded.campaign_id, seeded.ids[PEOPLE[2]], EngagementKind.CLICK, FIRST, url="https://elsewhere.example/")
    data = campaign_report(db, seeded.campaign_id).as_dict()
    assert data["top_links"] == [
        {"url": LINKS[1], "clicked_human": 2, "clicked_machine": 0},
        {"url": "https://elsewhere.example/", "clicked_human": 1, "clicked_machine": 0},
    ]
    assert data["links_total"] == 2


def test_an_untracked_campaign_reports_human_and_machine_as_unknown_and_the_provider_events_with_rates(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[2], EventType.OPENED, after(hours=2))
    provider_event(db, settings, seeded.campaign_id, PEOPLE[2], EventType.OPENED, after(hours=3))
    provider_event(db, settings, seeded.campaign_id, PEOPLE[3], EventType.CLICKED, after(hours=2), detail=LINKS[0])
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Engagement)) == 0  # the capture side records none
    data = campaign_report(db, seeded.campaign_id).as_dict()
    assert data["tracking"] is False
    # Unknown, not zero: nothing saw who opened, human or machine.
    assert [data[key] for key in ENGAGEMENT_KEYS] == [None, None, None, None]
    assert [data["rates"][key] for key in ENGAGEMENT_KEYS] == [None, None, None, None]
    assert (data["opened"], data["opens"], data["rates"]["opened"]) == (1, 2, 0.1667)
    assert (data["clicked"], data["clicks"], data["rates"]["clicked"]) == (1, 1, 0.1667)
    assert (data["top_links"], data["links_total"], data["timeline"]) == ([], 0, [])


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
    assert f"{PROVIDER_LINE}: opened 0 (0.0%), clicked 0 (0.0%); events: opens 0, clicks 0" in lines
    data = json.loads(run_cli(env, "report", str(seeded.campaign_id), "--json").output)
    assert [data[key] for key in ENGAGEMENT_KEYS] == [3, 2, 3, 1]
    assert {"tracking", "top_links", "links_total", "timeline", "opened", "clicked", "opens", "clicks"} <= data.keys()


@SQLITE_ONLY
def test_cli_report_of_an_untracked_campaign_says_human_and_machine_are_unknown_and_gives_the_provider_rates(
    env: dict[str, str], db: Database, settings: Settings, tmp_path: Path
) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=False)
    provider_event(db, settings, seeded.campaign_id, PEOPLE[2], EventType.OPENED, FIRST)
    result = run_cli({**env, "COLUMNS": "400"}, "report", str(seeded.campaign_id))
    assert result.returncode == 0, result.output
    assert "opens and clicks: not tracked: its emails carried no open pixel and no tracked links" in result.output
    lines = result.output.splitlines()
    opened = next(line for line in lines if line.startswith("opened "))
    assert opened.split() == ["opened", "unknown", "(not", "tracked)", "-", "unknown", "(not", "tracked)", "-"]
    assert f"{PROVIDER_LINE}: opened 1 (16.7%), clicked 0 (0.0%); events: opens 1, clicks 0" in lines
    assert "top links" not in result.output and "over time" not in result.output


@SQLITE_ONLY
def test_cli_report_shows_a_hostile_reported_url_escaped(env: dict[str, str], db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded = sent_campaign(db, settings, tmp_path, tracking=True)
    hostile = "https://x.example/\x1b]0;pwned\x07[bold]b[/bold]\x9b2J" + "y" * 1900
    provider_event(db, settings, seeded.campaign_id, PEOPLE[0], EventType.CLICKED, FIRST, detail=hostile)
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
