"""The console's server-drawn charts: the stacked chart of opens and clicks over time."""

from __future__ import annotations

import datetime as dt

import pytest

from publisher.tracking.timeline import DAY, HOUR, TimelineBucket
from publisher.web.console.charts import STACKED_WIDTH, stacked_columns
from publisher.web.console.progress import over_time

SERIES = ("human", "machine only")
START = dt.datetime(2026, 3, 2, 14, tzinfo=dt.UTC)


def test_stacks_put_the_first_series_under_the_second_scaled_to_the_tallest_column() -> None:
    chart = stacked_columns("Opens over time", SERIES, [("2 Mar 14:00", "hour", 2, 2), ("2 Mar 15:00", "hour", 1, 0)])
    tall, short = chart.stacks
    assert chart.top == 4
    assert tall.first_y + tall.first_height == pytest.approx(chart.base)
    assert tall.second_y + tall.second_height == pytest.approx(tall.first_y)
    assert tall.second_y == pytest.approx(chart.plot_top)
    assert short.first_height == pytest.approx(tall.first_height / 2) and short.second_height == 0
    assert chart.change_x is None
    assert chart.totals == (3, 2) and chart.filled == [tall, short]
    assert chart.description.startswith("Opens over time: 3 human, 2 machine only, from 2 Mar 14:00 UTC. ")
    assert "Most in the hour from 2 Mar 14:00: 2 human, 2 machine only." in chart.description


def test_a_line_marks_where_the_columns_turn_daily_labelled_on_the_side_with_room() -> None:
    hours = [(f"h{n}", "hour", 0, 0) for n in range(48)]
    late = stacked_columns("Clicks over time", SERIES, [*hours, ("4 Mar 14:00", "day", 1, 0)])
    assert late.change_x == pytest.approx(late.stacks[48].x - (late.stacks[1].x - late.stacks[0].x) * 0.1)
    assert late.change_label == "by day from here" and late.change_label_left
    early = stacked_columns("Clicks over time", SERIES, [*hours[:2], *[(f"d{n}", "day", 0, 1) for n in range(10)]])
    assert early.change_x is not None and early.change_x < STACKED_WIDTH / 2 and not early.change_label_left
    assert early.filled == early.stacks[2:]


def test_an_empty_chart_says_so() -> None:
    chart = stacked_columns("Opens over time", SERIES, [])
    assert chart.stacks == [] and chart.description == "Opens over time. No data yet."


def test_columns_that_are_all_zero_make_an_empty_chart_that_says_so() -> None:
    chart = stacked_columns(
        "Clicks over time", SERIES, [("2 Mar 14:00", "hour", 0, 0), ("2 Mar 15:00", "hour", 0, 0)], empty="No clicks yet."
    )
    assert chart.stacks == [] and chart.filled == []
    assert chart.description == "Clicks over time. No clicks yet."


def test_opens_without_clicks_draw_the_opens_and_say_no_clicks_yet() -> None:
    timeline = [TimelineBucket(START, START + HOUR, opened_human=2), TimelineBucket(START + HOUR, START + 2 * HOUR, opened_machine=1)]
    assert [stack.first + stack.second for stack in over_time("Opens over time", timeline, "opened").stacks] == [2, 1]
    clicks = over_time("Clicks over time", timeline, "clicked")
    assert clicks.stacks == [] and clicks.empty == "No clicks yet."


def test_the_times_carry_the_year_when_the_timeline_runs_into_another_year() -> None:
    late = dt.datetime(2026, 12, 31, 14, tzinfo=dt.UTC)
    timeline = [TimelineBucket(late, late + HOUR, opened_human=1), TimelineBucket(late + DAY, late + 2 * DAY, opened_human=1)]
    assert [stack.label for stack in over_time("Opens over time", timeline, "opened").stacks] == ["31 Dec 2026 14:00", "1 Jan 2027 14:00"]
    within = [TimelineBucket(START, START + HOUR, opened_human=1)]
    assert [stack.label for stack in over_time("Opens over time", within, "opened").stacks] == ["2 Mar 14:00"]
