"""Charts drawn on the server as SVG: no script, no external library, nothing the CSP has to allow.

Each chart is drawn twice, wide and compact (``responsive``); the stylesheet shows the compact one on
narrow screens, so axis labels keep a readable size on a phone instead of shrinking with the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Canvas:
    """The drawing area of one rendering: size, margins, how many x labels fit, and its name suffix."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_labels: int
    label_chars: int
    suffix: str


WIDE = Canvas(820, 260, 48, 12, 12, 28, 10, 40, "")
COMPACT = Canvas(360, 240, 40, 8, 12, 28, 4, 14, "-compact")
"""The phone rendering: at 375 px its 11-unit labels show at about 10 px."""
WIDTH, HEIGHT = WIDE.width, WIDE.height


def colour(index: int) -> str:
    """The palette colour of the ``index``-th series."""
    return PALETTE[index % len(PALETTE)]


def responsive(draw: Callable[[Canvas], Markup]) -> Markup:
    """The chart drawn wide and compact; CSS shows the one that fits the screen."""
    return Markup(draw(WIDE) + draw(COMPACT))


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


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
    c: Canvas, y_max: float, buckets: Sequence[date], label: Callable[[date], str], fmt: Callable[[float], str]
) -> list[str]:
    parts = []
    plot_h = c.height - c.top - c.bottom
    for i in range(5):
        value = y_max * i / 4
        y = c.top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{c.left}" x2="{c.width - c.right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{c.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#5b6474">'
            f"{escape(fmt(value))}</text>"
        )
    n = len(buckets)
    every = max(1, math.ceil(n / c.x_labels))
    for i, bucket in enumerate(buckets):
        if i % every:
            continue
        x = _x(c, i, n)
        parts.append(
            f'<text x="{x:.1f}" y="{c.height - 8}" text-anchor="middle" font-size="11" fill="#5b6474">'
            f"{escape(label(bucket))}</text>"
        )
    return parts


def _x(c: Canvas, i: int, n: int) -> float:
    plot_w = c.width - c.left - c.right
    return c.left + (plot_w * (i + 0.5) / n if n else 0)


def _linked(element: str, href: str | None) -> str:
    """``element`` inside a link to ``href`` (the mentions behind it), or as it is."""
    if not href:
        return element
    return f'<a class="drill" href="{escape(href)}">{element}</a>'


Drill = Callable[[str, date], str | None]
"""The link to the mentions behind one key in one bucket (None: nothing to open)."""


def _svg(c: Canvas, title: str, parts: list[str], kind: str, height: int | None = None) -> Markup:
    body = "".join(parts)
    variant = "chart-compact" if c.suffix else "chart-wide"
    return Markup(
        f'<svg class="chart-svg {variant}" data-chart="{escape(kind + c.suffix)}" '
        f'viewBox="0 0 {c.width} {height or c.height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{body}</svg>'
    )


def line_chart(
    title: str,
    buckets: Sequence[date],
    values: dict[str, list[int]],
    colours: dict[str, str],
    label: Callable[[date], str],
    fmt: Callable[[float], str],
    c: Canvas = WIDE,
    href: Drill | None = None,
) -> Markup:
    """One line per key over the buckets, each point with a tooltip (and, with ``href``, a link)."""
    n = len(buckets)
    y_max = _nice_max(max((max(v) for v in values.values() if v), default=0))
    plot_h = c.height - c.top - c.bottom
    parts = _frame(c, y_max, buckets, label, fmt)
    labels = [escape(label(bucket)) for bucket in buckets]  # once per chart, not once per point
    for key, series in values.items():
        points = [(_x(c, i, n), c.top + plot_h - plot_h * v / y_max) for i, v in enumerate(series)]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        stroke = colours.get(key, "#2456a6")
        shown_key = escape(key)
        parts.append(
            f'<polyline class="series{c.suffix}" data-key="{shown_key}" fill="none" stroke="{stroke}" '
            f'stroke-width="2" points="{path}"/>'
        )
        for (x, y), bucket, shown_bucket, v in zip(points, buckets, labels, series, strict=True):
            circle = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{stroke}"><title>'
                f"{shown_key} · {shown_bucket}: {escape(fmt(v))}</title></circle>"
            )
            parts.append(_linked(circle, href(key, bucket) if href and v else None))
    return _svg(c, title, parts, "line")


def stacked_bars(
    title: str,
    buckets: Sequence[date],
    values: dict[str, list[int]],
    colours: dict[str, str],
    label: Callable[[date], str],
    fmt: Callable[[float], str],
    c: Canvas = WIDE,
    href: Drill | None = None,
) -> Markup:
    """One bar per bucket, stacked by key (sentiment over time); with ``href`` each part links somewhere."""
    n = len(buckets)
    totals = [sum(series[i] for series in values.values()) for i in range(n)]
    y_max = _nice_max(max(totals, default=0))
    plot_h = c.height - c.top - c.bottom
    plot_w = c.width - c.left - c.right
    bar_w = max(1.0, plot_w / max(n, 1) * 0.75)
    parts = _frame(c, y_max, buckets, label, fmt)
    shown_keys = {key: escape(key) for key in values}
    for i, bucket in enumerate(buckets):
        base: float = c.top + plot_h
        shown_bucket = escape(label(bucket))
        for key, series in values.items():
            v = series[i]
            if not v:
                continue
            h = plot_h * v / y_max
            base -= h
            rect = (
                f'<rect class="bar{c.suffix}" x="{_x(c, i, n) - bar_w / 2:.1f}" y="{base:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" '
                f'fill="{colours.get(key, "#2456a6")}"><title>{shown_keys[key]} · {shown_bucket}: '
                f"{escape(fmt(v))}</title></rect>"
            )
            parts.append(_linked(rect, href(key, bucket) if href else None))
    return _svg(c, title, parts, "stacked")


def share_bars(
    title: str,
    shares: Sequence[tuple[str, int, float]],
    fmt_pct: Callable[[float], str],
    c: Canvas = WIDE,
    href: Callable[[str], str | None] | None = None,
) -> Markup:
    """Horizontal bars of each key's share (share of voice); with ``href`` each bar links somewhere."""
    row_h = 26
    height = max(row_h * len(shares) + 10, 40)
    names_w = 150 if c is WIDE else 100
    parts = []
    for i, (key, count, share) in enumerate(shares):
        y = 5 + i * row_h
        w = (c.width - names_w - 110) * share
        parts.append(
            f'<text x="{names_w}" y="{y + 16}" text-anchor="end" font-size="12" fill="#1d2330">'
            f"{escape(_short(key, c.label_chars))}</text>"
        )
        rect = (
            f'<rect class="bar{c.suffix}" x="{names_w + 10}" y="{y + 3}" width="{w:.1f}" height="18" '
            f'fill="{colour(i)}">'
            f"<title>{escape(key)}: {count} ({escape(fmt_pct(share))})</title></rect>"
        )
        parts.append(_linked(rect, href(key) if href else None))
        parts.append(
            f'<text x="{names_w + 16 + w:.1f}" y="{y + 16}" font-size="12" fill="#5b6474">'
            f"{escape(fmt_pct(share))}</text>"
        )
    return _svg(c, title, parts, "share", height)


def legend(
    keys: Sequence[str],
    colours: dict[str, str],
    names: Callable[[str], str] = str,
    href: Callable[[str], str] | None = None,
    extra: Callable[[str], Markup] | None = None,
) -> Markup:
    """Swatches with names; with ``href`` each name links somewhere (e.g. to focus on that key).

    ``extra`` adds markup after a name (the key's total and its change against the previous period).
    """
    items = []
    for k in keys:
        fill = colours.get(k, "#999")
        swatch = f'<svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" fill="{fill}"/></svg>'
        name = escape(names(k))
        label = f'<a href="{escape(href(k))}">{name}</a>' if href else str(name)
        after = f" {extra(k)}" if extra else ""
        items.append(f'<span data-legend="{escape(k)}">{swatch} {label}{after}</span>')
    return Markup(f'<div class="legend">{"".join(items)}</div>')
