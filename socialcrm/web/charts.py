"""Charts drawn on the server as SVG: no script, no external library, nothing the CSP has to allow."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

PALETTE = (
    "#2456a6",
    "#d97706",
    "#059669",
    "#9333ea",
    "#dc2626",
    "#0891b2",
    "#65a30d",
    "#db2777",
    "#4b5563",
    "#ca8a04",
    "#7c3aed",
    "#0d9488",
)
SENTIMENT_COLOURS = {"negative": "#b3261e", "neutral": "#9aa3af", "positive": "#1e7b34", "unknown": "#d1d5db"}
WIDTH, HEIGHT = 820, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


def colour(index: int) -> str:
    """The chart colour for the ``index``-th series (the palette repeats)."""
    return PALETTE[index % len(PALETTE)]


def _nice_max(value: float) -> float:
    """The top of the y axis: four equal whole-number steps (1, 2, 2.5, 3, 4 or 5 times a power of ten)."""
    if value <= 0:
        return 4.0
    raw_step = value / 4
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    for factor in (1, 2, 2.5, 3, 4, 5, 10):
        step = max(1.0, factor * magnitude)
        if step >= raw_step and step == int(step):
            return 4 * step
    return 40 * magnitude


def _frame(
    y_max: float, buckets: Sequence[date], label: Callable[[date], str], fmt: Callable[[float], str]
) -> list[str]:
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6474">'
            f"{escape(fmt(value))}</text>"
        )
    n = len(buckets)
    every = max(1, math.ceil(n / 10))
    for i, bucket in enumerate(buckets):
        if i % every:
            continue
        x = _x(i, n)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-size="11" fill="#5b6474">'
            f"{escape(label(bucket))}</text>"
        )
    return parts


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    return LEFT + (plot_w * (i + 0.5) / n if n else 0)


def _svg(title: str, parts: list[str], kind: str) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="chart-svg" data-chart="{escape(kind)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def line_chart(
    title: str,
    buckets: Sequence[date],
    values: dict[str, list[int]],
    colours: dict[str, str],
    label: Callable[[date], str],
    fmt: Callable[[float], str],
) -> Markup:
    """One line per key over the buckets, each point with a tooltip."""
    n = len(buckets)
    y_max = _nice_max(max((max(v) for v in values.values() if v), default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    parts = _frame(y_max, buckets, label, fmt)
    for key, series in values.items():
        points = [(_x(i, n), TOP + plot_h - plot_h * v / y_max) for i, v in enumerate(series)]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        stroke = colours.get(key, "#2456a6")
        parts.append(
            f'<polyline class="series" data-key="{escape(key)}" fill="none" stroke="{stroke}" '
            f'stroke-width="2" points="{path}"/>'
        )
        for (x, y), bucket, v in zip(points, buckets, series, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{stroke}"><title>'
                f"{escape(key)} · {escape(label(bucket))}: {escape(fmt(v))}</title></circle>"
            )
    return _svg(title, parts, "line")


def stacked_bars(
    title: str,
    buckets: Sequence[date],
    values: dict[str, list[int]],
    colours: dict[str, str],
    label: Callable[[date], str],
    fmt: Callable[[float], str],
) -> Markup:
    """One bar per bucket, stacked by key (sentiment over time)."""
    n = len(buckets)
    totals = [sum(series[i] for series in values.values()) for i in range(n)]
    y_max = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    bar_w = max(1.0, plot_w / max(n, 1) * 0.75)
    parts = _frame(y_max, buckets, label, fmt)
    for i, bucket in enumerate(buckets):
        base: float = TOP + plot_h
        for key, series in values.items():
            v = series[i]
            if not v:
                continue
            h = plot_h * v / y_max
            base -= h
            parts.append(
                f'<rect class="bar" x="{_x(i, n) - bar_w / 2:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colours.get(key, "#2456a6")}"><title>{escape(key)} · {escape(label(bucket))}: '
                f"{escape(fmt(v))}</title></rect>"
            )
    return _svg(title, parts, "stacked")


def share_bars(title: str, shares: Sequence[tuple[str, int, float]], fmt_pct: Callable[[float], str]) -> Markup:
    """Horizontal bars of each key's share (share of voice)."""
    row_h = 26
    height = max(row_h * len(shares) + 10, 40)
    parts = []
    for i, (key, count, share) in enumerate(shares):
        y = 5 + i * row_h
        w = (WIDTH - 260) * share
        parts.append(f'<text x="150" y="{y + 16}" text-anchor="end" font-size="12" fill="#1d2330">{escape(key)}</text>')
        parts.append(
            f'<rect class="bar" x="160" y="{y + 3}" width="{w:.1f}" height="18" fill="{colour(i)}">'
            f"<title>{escape(key)}: {count} ({escape(fmt_pct(share))})</title></rect>"
        )
        parts.append(
            f'<text x="{166 + w:.1f}" y="{y + 16}" font-size="12" fill="#5b6474">{escape(fmt_pct(share))}</text>'
        )
    body = "".join(parts)
    return Markup(
        f'<svg class="chart-svg" data-chart="share" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def legend(
    keys: Sequence[str],
    colours: dict[str, str],
    names: Callable[[str], str] = str,
    href: Callable[[str], str] | None = None,
) -> Markup:
    """Swatches with names; with ``href`` each name links somewhere (e.g. to focus on that key)."""
    items = []
    for k in keys:
        fill = colours.get(k, "#999")
        swatch = f'<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="{fill}"/></svg>'
        name = escape(names(k))
        label = f'<a href="{escape(href(k))}">{name}</a>' if href else str(name)
        items.append(f"<span>{swatch} {label}</span>")
    return Markup(f'<div class="legend">{"".join(items)}</div>')
