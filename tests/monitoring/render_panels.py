"""Draw the Grafana dashboard's panels as PNG charts from a test Prometheus's data.

Grafana is on none of the package registries this project installs from, so
docs/operations.md shows the dashboard's panels drawn here with matplotlib:
the same queries, legends, units and panel types as
examples/monitoring/grafana/dashboards/newsletter.json, with the data the
live monitoring test's Prometheus recorded during its send
(tests/test_monitoring_live.py writes it, as ``query_range`` results). They
are not screenshots of Grafana.

    make monitoring-panels                                    # the live test, then docs/monitoring/*.png
    python -m tests.monitoring.render_panels DATA.json OUT_DIR
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from tests.support.monitoring import dashboard

#: Grafana's classic palette, in its order.
COLOURS = ("#37872D", "#E0B400", "#1F60C4", "#FA6400", "#C4162A", "#8F3BB8", "#2F6F8F", "#6E6E6E")
FOOTNOTE = "Drawn from the test Prometheus's data (tests/test_monitoring_live.py), not a Grafana screenshot"
WIDTH, HEIGHT, DPI = 9.0, 3.6, 110


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def legend(template: str, labels: dict[str, str]) -> str:
    """Grafana's legend format: ``{{label}}`` replaced by the series' label."""
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: labels.get(match[1], ""), template).strip()


def points(series: dict[str, Any], start: float) -> tuple[list[float], list[float]]:
    """Seconds since ``start`` and values of one ``query_range`` series; NaN stays a gap."""
    times = [float(t) - start for t, _ in series["values"]]
    values = [float(v) for _, v in series["values"]]
    return times, values


def _scale(defaults: dict[str, Any]) -> float:
    """The factor values are drawn with: seconds as milliseconds, the rest as they are."""
    return 1000.0 if defaults.get("unit") == "s" else 1.0


def _unit_axis(axes: Axes, defaults: dict[str, Any]) -> None:
    """Format the y axis for the panel's unit, and bound it by its min and max (after the lines are drawn)."""
    unit = str(defaults.get("unit", "short"))
    scale = _scale(defaults)
    if unit == "percentunit":
        axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif unit == "s":
        axes.set_ylabel("ms")
    elif unit.startswith("suffix:"):
        axes.set_ylabel(unit.split(":", 1)[1].strip())
    if defaults.get("decimals") == 0:
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    low, high = defaults.get("min"), defaults.get("max")
    bottom, top = axes.get_ylim()
    bottom = bottom if low is None else low * scale
    top = top * 1.1 if high is None else high * scale * 1.05
    axes.set_ylim(bottom, max(top, bottom + 1) if defaults.get("decimals") == 0 else top)


def _figure(panel: dict[str, Any]) -> tuple[Figure, Axes]:
    # A Figure of its own, not pyplot's: no display and no global state; savefig draws with Agg.
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    axes = figure.subplots()
    figure.suptitle(panel["title"], x=0.012, y=0.965, ha="left", fontsize=13, fontweight="bold")
    figure.text(0.99, 0.012, FOOTNOTE, ha="right", va="bottom", fontsize=7, color="#777777")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def draw_timeseries(panel: dict[str, Any], results: dict[str, list[dict[str, Any]]], start: float, end: float) -> Figure:
    figure, axes = _figure(panel)
    defaults = panel["fieldConfig"]["defaults"]
    scale = _scale(defaults)
    drawn = 0
    for number, target in enumerate(panel["targets"]):
        # A panel's second query dashed, so a line it hides under another still shows.
        style = ("-", "--", ":")[number % 3]
        for series in sorted(results.get(target["refId"], []), key=lambda s: sorted(s["metric"].items())):
            times, values = points(series, start)
            label = legend(target.get("legendFormat", ""), series["metric"]) or target["expr"]
            axes.plot(times, [v * scale for v in values], style, label=label, color=COLOURS[drawn % len(COLOURS)], linewidth=2)
            drawn += 1
    _unit_axis(axes, defaults)
    axes.set_xlim(0, end - start)
    axes.set_xlabel("seconds since the first publish")
    if drawn:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(drawn, 4), frameon=False, fontsize=9)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.86, bottom=0.33)
    return figure


def draw_stat(panel: dict[str, Any], results: dict[str, list[dict[str, Any]]], start: float, end: float) -> Figure:
    """A stat panel: the last value, coloured by the panel's thresholds, over a sparkline."""
    figure, axes = _figure(panel)
    (target,) = panel["targets"]
    (series,) = results[target["refId"]]
    times, values = points(series, start)
    last = next((v for v in reversed(values) if not math.isnan(v)), math.nan)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    colour = next(step["color"] for step in reversed(steps) if step["value"] is None or last >= step["value"])
    shade = {"green": "#37872D", "red": "#C4162A"}.get(colour, colour)
    axes.set_facecolor(shade)
    # The sparkline in the lower third, under the number, as Grafana draws it.
    axes.plot(times, values, color="white", alpha=0.6, linewidth=2, drawstyle="steps-post")
    axes.set_xlim(0, end - start)
    axes.set_ylim(0, max([v for v in values if not math.isnan(v)] + [1]) * 3)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.grid(False)
    text = "no data" if math.isnan(last) else f"{last:.0f}"
    axes.text(0.5, 0.6, text, transform=axes.transAxes, ha="center", va="center", fontsize=60, fontweight="bold", color="white")
    figure.subplots_adjust(left=0.02, right=0.98, top=0.86, bottom=0.1)
    return figure


def render(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw every panel of the dashboard from ``data`` (as tests/test_monitoring_live.py writes it) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for panel in dashboard()["panels"]:
        results = data["panels"][str(panel["id"])]
        draw = draw_stat if panel["type"] == "stat" else draw_timeseries
        figure = draw(panel, results, data["start"], data["end"])
        path = out_dir / f"{slug(panel['title'])}.png"
        figure.savefig(path)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.monitoring.render_panels DATA.json OUT_DIR", file=sys.stderr)
        return 2
    source, out_dir = Path(argv[0]), Path(argv[1])
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 2
    for path in render(data, out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
