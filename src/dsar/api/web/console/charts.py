"""Charts as plain geometry for the SVG templates: no script, no library, readable by a screen reader (each
chart also has a table of its figures)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

PALETTE = ("#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4d7c0f", "#6b7280")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # y, value
    labels: list[tuple[float, str]]  # x, week
    legend: list[tuple[str, str]]  # colour, series
    top: int


def stacked_weeks(weeks: list[date], series: dict[str, list[int]], fmt_week: list[str]) -> StackedChart:
    width, height, left, bottom, top_pad = 640, 240, 40, 28, 10
    totals = [sum(values[i] for values in series.values()) for i in range(len(weeks))]
    top = max(4, _nice(max(totals, default=0)))
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    slot = plot_w / max(1, len(weeks))
    bars: list[Bar] = []
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    for i in range(len(weeks)):
        base = 0
        for name, values in series.items():
            n = values[i]
            if n:
                h = plot_h * n / top
                y = top_pad + plot_h * (1 - (base + n) / top)
                bars.append(Bar(left + i * slot + slot * 0.15, y, slot * 0.7, h, colours[name], f"{name}: {n}"))
                base += n
    ticks = [(top_pad + plot_h * (1 - v / top), str(v)) for v in (0, top // 2, top)]
    labels = [(left + i * slot + slot / 2, fmt_week[i]) for i in range(len(weeks)) if i % 2 == len(weeks) % 2]
    return StackedChart(width, height, bars, ticks, labels, list((colours[n], n) for n in series), top)


def _nice(value: int) -> int:
    for step in (4, 10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000):
        if value <= step:
            return step
    return value
