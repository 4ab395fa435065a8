"""Bar-chart geometry for the server-rendered SVG charts: this measures, the templates draw.

One shape serves every chart: groups along the x axis (e.g. months), one bar per series in each
group, all scaled to the largest value. With nothing to show, every bar has height 0."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    group: str  # e.g. "2026-11"
    series: str
    cx: float  # the centre of the bar's group, for labels


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    base: float  # y of the axis
    top: int  # the largest value (0: nothing to show)
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (x, label) under each group
    series: list[str]


def bar_chart(groups: list[tuple[str, dict[str, int]]], series: list[str], *, width: int = 640, height: int = 200,
              pad_top: int = 0, pad_bottom: int = 20, min_slots: int = 1, fill: float = 0.8,
              tick=lambda group: group) -> Chart:
    """``groups`` is [(group, {series: value})]; ``min_slots`` keeps a lone group from being one huge bar;
    ``fill`` is the share of a group's width its bars take."""
    top = max((values.get(s, 0) for _, values in groups for s in series), default=0)
    plot = height - pad_top - pad_bottom
    step = width / max(len(groups), min_slots, 1)
    bar_w = step * fill / len(series)
    bars, ticks = [], []
    for i, (group, values) in enumerate(groups):
        cx = round(i * step + step / 2, 1)
        for j, s in enumerate(series):
            value = values.get(s, 0)
            h = round(plot * value / top, 1) if top else 0
            bars.append(Bar(round(i * step + step * (1 - fill) / 2 + j * bar_w, 1), round(pad_top + plot - h, 1),
                            round(bar_w, 1), h, value, group, s, cx))
        ticks.append((cx, tick(group)))
    return Chart(width, height, pad_top + plot, top, bars, ticks, series)
