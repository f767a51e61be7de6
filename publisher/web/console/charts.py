"""Bar charts as inline SVG, drawn on the server: no chart library, and a data table beside each for screen readers."""

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
