"""Small-multiple line plots of the running difference, drawn as inline SVG by hand.

No plotting library: the report must be one self-contained file with no dependencies, and a
line, a band and two axes are a few dozen lines of geometry. Every string from the data is
escaped here; callers pass plain text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from tunewatch.monitoring.report.model import Difference, Trend, TrendPoint
from tunewatch.monitoring.report.text import short_when

WIDTH, HEIGHT = 300, 180
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 24, 40
_NICE = (0.05, 0.1, 0.2, 0.25, 0.5, 0.75, 1.0)


def shared_limit(trends: Sequence[Trend]) -> float:
    """One symmetric vertical scale for a row of plots, so their heights compare honestly.

    Sized to every estimate and to the current intervals, not to the first few pairs' intervals
    (nearly [-1, 1] at n = 1), which would flatten every line; earlier bands are clipped.
    """
    extreme = max(
        (
            max(
                [abs(p.estimate) for p in t.points]
                + [abs(t.points[-1].lower), abs(t.points[-1].upper)]
            )
            for t in trends
            if t.points
        ),
        default=0.0,
    )
    return next((v for v in _NICE if extreme * 1.1 <= v + 1e-9), 1.0)


def trend_svg(trend: Trend, limit: float, metric_title: str) -> str:
    """One plot: band = 95% interval, line = estimate, dashed zero line, optional alarm mark."""
    title = (
        f"{trend.category}: {metric_title.lower()} difference (tuned − base) over time, "
        f"{trend.source} pairs, with 95% interval"
    )
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = trend.points
    t0, t1 = (points[0].ts, points[-1].ts) if points else (0.0, 1.0)
    span = t1 - t0

    def x(ts: float, index: int) -> float:
        if span > 0:
            return LEFT + plot_w * (ts - t0) / span
        # all pairs at one instant: spread them by order instead
        return LEFT + (plot_w * index / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        clipped = max(-limit, min(limit, value))  # wide early bands stop at the frame
        return TOP + plot_h * (limit - clipped) / (2 * limit)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="trend" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">',
        f"<title>{escape(title)}</title>",
        f'<text class="plot-title" x="{LEFT}" y="14">{escape(trend.category)}</text>',
        f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for tick in (-limit, 0.0, limit):
        label = f"{100 * tick:+.0f}" if tick else "0"
        parts.append(
            f'<text class="tick" x="{LEFT - 5}" y="{y(tick) + 3.5:.1f}" '
            f'text-anchor="end">{label}</text>'
        )
    if points:
        xs = [x(p.ts, i) for i, p in enumerate(points)]
        upper = " ".join(f"{xi:.1f},{y(p.upper):.1f}" for xi, p in zip(xs, points, strict=True))
        lower = " ".join(
            f"{xi:.1f},{y(p.lower):.1f}" for xi, p in reversed(list(zip(xs, points, strict=True)))
        )
        parts.append(f'<polygon class="band" points="{upper} {lower}"/>')
    parts.append(
        f'<line class="zero" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>'
    )
    if points:
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{xi:.1f},{y(p.estimate):.1f}"
            for i, (xi, p) in enumerate(zip(xs, points, strict=True))
        )
        parts.append(f'<path class="estimate" d="{d}"/>')
        last = points[-1]
        parts.append(
            f'<circle class="estimate-dot" cx="{xs[-1]:.1f}" cy="{y(last.estimate):.1f}" r="2.5"/>'
        )
        if trend.first_alarm_ts is not None:
            ax = x(trend.first_alarm_ts, _nearest(points, trend.first_alarm_ts))
            parts.append(
                f'<line class="alarm" x1="{ax:.1f}" x2="{ax:.1f}" y1="{TOP}" '
                f'y2="{TOP + plot_h}"/>'
                f'<text class="alarm-label" x="{ax + 3:.1f}" y="{TOP + 10}">alarm</text>'
            )
        final = f"{100 * last.estimate:+.1f} pp, n={last.n}"
        parts.append(
            f'<text class="tick" x="{LEFT + plot_w}" y="14" text-anchor="end">'
            f"{escape(final)}</text>"
        )
        parts.append(
            f'<text class="tick" x="{LEFT}" y="{TOP + plot_h + 13}">{short_when(t0)}</text>'
            f'<text class="tick" x="{LEFT + plot_w}" y="{TOP + plot_h + 13}" '
            f'text-anchor="end">{short_when(t1)}</text>'
        )
    parts.append(
        f'<text class="axis" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">time (UTC)</text>'
        f'<text class="axis" transform="translate(11 {TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">tuned − base (pp)</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _nearest(points: Sequence[TrendPoint], ts: float) -> int:
    """The first sampled point at or after `ts` (used only when all pairs share one instant)."""
    return next((i for i, p in enumerate(points) if p.ts >= ts), len(points) - 1)


def sparkline(values: Sequence[float], limit: float) -> str:
    """Unicode block sparkline for Markdown, on the same symmetric scale as the SVG plots.

    Seven levels so that zero has a block of its own (▄), below it negative, above positive.
    """
    blocks = "▁▂▃▄▅▆▇"
    out = []
    for v in values:
        if math.isnan(v):
            out.append(" ")
            continue
        frac = (max(-limit, min(limit, v)) + limit) / (2 * limit)
        out.append(blocks[round(frac * (len(blocks) - 1))])
    return "".join(out)


def forest_svg(rows: Sequence[tuple[str, Difference, Difference]], metric_title: str) -> str:
    """Per category: the classifier's difference (grey) above the audit-corrected one (dark),
    each with its 95% interval, on one scale with a dashed zero line."""
    line_h = 26
    label_w = 130
    height = TOP + line_h * len(rows) + 24
    width = 420
    plot_w = width - label_w - 3 * RIGHT  # room for the last tick's label
    limit = next(
        (v for v in _NICE
         if max((max(abs(d.lower), abs(d.upper)) for _, r, c in rows for d in (r, c)),
                default=0.0) <= v + 1e-9),
        1.0,
    )  # fmt: skip

    def x(value: float) -> float:
        return label_w + plot_w * (max(-limit, min(limit, value)) + limit) / (2 * limit)

    title = (
        f"{metric_title} difference (tuned − base): classifier vs audit-corrected, 95% intervals"
    )
    out = [
        f'<svg class="forest" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{x(0):.1f}" y1="{TOP - 8}" x2="{x(0):.1f}" y2="{height - 20}" '
        'class="zero" stroke-dasharray="3,3"/>',
    ]
    for i, (label, raw, fixed) in enumerate(rows):
        top = TOP + i * line_h
        out.append(f'<text x="4" y="{top + 12}" class="tick">{escape(label)}</text>')
        for offset, diff, cls in ((4, raw, "raw"), (14, fixed, "fixed")):
            out.append(
                f'<line x1="{x(diff.lower):.1f}" y1="{top + offset}" x2="{x(diff.upper):.1f}" '
                f'y2="{top + offset}" class="ci-{cls}"/>'
                f'<circle cx="{x(diff.estimate):.1f}" cy="{top + offset}" r="3" class="pt-{cls}"/>'
            )
    for value in (-limit, 0.0, limit):
        out.append(
            f'<text x="{x(value):.1f}" y="{height - 6}" text-anchor="middle" class="tick">'
            f"{100 * value:+.0f} pp</text>"
        )
    out.append("</svg>")
    return "".join(out)
