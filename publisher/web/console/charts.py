"""Bar charts as inline SVG, drawn on the server: no chart library, and a data table beside each for screen readers.

Two shapes: one series of bars (``rows``, ``columns``), and two series
stacked over time (``stacked_columns``: human opens under machine ones).
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 520
BAR = 22
GAP = 8
LABEL = 130
TOP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    """One chart: its name (also the SVG's accessible name), its bars, and the SVG's size."""

    title: str
    bars: list[Bar]
    width: int
    height: int
    #: "rows" (horizontal bars, labels on the left) or "columns" (a timeline).
    shape: str

    @property
    def description(self) -> str:
        values = ", ".join(f"{bar.label}: {bar.value}" for bar in self.bars) or "no data yet"
        return f"{self.title}. {values}"


def rows(title: str, items: list[tuple[str, int]]) -> Chart:
    """Horizontal bars, one per item, scaled to the largest."""
    top = max((value for _, value in items), default=0) or 1
    room = WIDTH - LABEL - 50
    bars = [
        Bar(label, value, LABEL, TOP + index * (BAR + GAP), max(1.0, room * value / top) if value else 0.0, BAR)
        for index, (label, value) in enumerate(items)
    ]
    return Chart(title, bars, WIDTH, TOP * 2 + len(items) * (BAR + GAP), "rows")


def columns(title: str, items: list[tuple[str, int]], height: int = 160) -> Chart:
    """Vertical bars left to right (a timeline), scaled to the largest; labels under the first and last."""
    top = max((value for _, value in items), default=0) or 1
    count = max(1, len(items))
    step = (WIDTH - 20) / count
    plot = height - 40
    bars = []
    for index, (label, value) in enumerate(items):
        tall = plot * value / top
        bars.append(Bar(label, value, 10 + index * step + 2, TOP + plot - tall, max(1.0, step - 4), tall))
    return Chart(title, bars, WIDTH, height, "columns")


#: A stacked chart's drawing width: narrower than the others, so that its text stays readable when a
#: phone scales it down to the screen.
STACKED_WIDTH = 360
#: Room on the left of a stacked chart for the value axis, and under it for the times.
AXIS = 30
UNDER = 26


@dataclass(frozen=True)
class Stack:
    """One column of a stacked chart: a time bucket, its first series at the bottom and its second on top."""

    label: str
    #: How long the bucket is ("1 h", "1 day").
    span: str
    first: int
    second: int
    x: float
    width: float
    #: Top and height of each series' rectangle.
    first_y: float
    first_height: float
    second_y: float
    second_height: float


@dataclass(frozen=True)
class StackedChart:
    """Columns of two series stacked (human under machine), with the times under them and the scale beside them."""

    title: str
    series: tuple[str, str]
    stacks: list[Stack]
    width: int
    height: int
    #: The largest column's value, written at the top of the scale.
    top: int
    #: The y of the plot's top and of its base line.
    plot_top: float
    base: float
    #: Where the columns change width (hourly to daily), to draw a line and say so; None when they do not.
    change_x: float | None
    change_label: str
    #: Whether the label goes left of the line (when the line is near the right edge).
    change_label_left: bool
    #: What the accessible name adds after the totals (the bucket rule).
    note: str
    #: What the chart says when nobody is in it.
    empty: str

    @property
    def left(self) -> int:
        """Where the plot starts: the scale's numbers are right-aligned before it."""
        return AXIS

    @property
    def totals(self) -> tuple[int, int]:
        return sum(stack.first for stack in self.stacks), sum(stack.second for stack in self.stacks)

    @property
    def filled(self) -> list[Stack]:
        """The columns with anything in them: the table under the chart lists only these."""
        return [stack for stack in self.stacks if stack.first or stack.second]

    @property
    def description(self) -> str:
        if not self.stacks:
            return f"{self.title}. {self.empty}"
        first, second = self.totals
        busiest = max(self.stacks, key=lambda stack: stack.first + stack.second)
        return (
            f"{self.title}: {first} {self.series[0]}, {second} {self.series[1]}, from {self.stacks[0].label} UTC. "
            f"Most in the {busiest.span} from {busiest.label}: {busiest.first} {self.series[0]}, {busiest.second} {self.series[1]}. "
            f"{self.note}"
        )


def stacked_columns(
    title: str,
    series: tuple[str, str],
    items: list[tuple[str, str, int, int]],
    *,
    note: str = "",
    empty: str = "No data yet.",
    height: int = 170,
) -> StackedChart:
    """Columns left to right of (label, span, first, second), scaled to the tallest; a line where the span changes.

    Columns that are all zero (opens but no clicks yet) make an empty chart that says ``empty``, not a scale of 0 to 0.
    """
    top = max((first + second for _, _, first, second in items), default=0)
    if not top:
        items = []
    scale = top or 1
    # Room above the plot for the label of the daily line, so no column ever covers it.
    plot_top, base = 22.0, float(height - UNDER)
    step = (STACKED_WIDTH - AXIS - 4) / max(1, len(items))
    stacks: list[Stack] = []
    change_x, change_label = None, ""
    for index, (label, span, first, second) in enumerate(items):
        x = AXIS + index * step
        first_height = (base - plot_top) * first / scale
        second_height = (base - plot_top) * second / scale
        stacks.append(
            Stack(
                label,
                span,
                first,
                second,
                x + step * 0.1,
                max(1.0, step * 0.8),
                base - first_height,
                first_height,
                base - first_height - second_height,
                second_height,
            )
        )
        if index and change_x is None and span != items[index - 1][1]:
            change_x, change_label = x, f"by {span} from here"
    left = change_x is not None and change_x > STACKED_WIDTH / 2
    return StackedChart(title, series, stacks, STACKED_WIDTH, height, top, plot_top, base, change_x, change_label, left, note, empty)
