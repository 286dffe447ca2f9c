"""The marketing dashboard: charts, share of voice, negative themes, KPIs, CSV export.

Every figure shows its change against the previous period of the same length, and a bar, a day, a
share or a theme links to the mentions behind it (the mention list, filtered).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from urllib.parse import quote_plus

from aiohttp import web
from markupsafe import Markup

from socialcrm.models import SENTIMENT_LABELS, utcnow
from socialcrm.services.exports import PLAIN_CSV, CsvStyle, csv_writer
from socialcrm.timezones import zone as zone_named
from socialcrm.web import charts, deltas, i18n
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.dashboard import Dashboard, Focus, build_dashboard, export_rows
from socialcrm.web.queries.label_counts import label_counts
from socialcrm.web.queries.rollup import MentionRollups
from socialcrm.web.render import language_of, render, zone_of
from socialcrm.web.security import requires
from socialcrm.web.views import params
from socialcrm.web.views.common import brand_terms

routes = web.RouteTableDef()
RANGES = ("7", "30", "90", "365")
DIMENSIONS = ("source", "group", "tag")
MAX_RANGE = timedelta(days=3 * 366)
ROLLUP_KEY = web.AppKey("mention_rollups", MentionRollups)


def date_range(request: web.Request, now: datetime, zone: tzinfo = UTC) -> tuple[datetime, datetime, str | None]:
    """[start, end) from ``start``/``end`` dates, else the last ``range`` days (default 30); days in ``zone``."""
    q = request.query
    start = params.day(q, "start", zone=zone)
    end_day = params.day(q, "end", zone=zone)
    preset = params.choice(q, "range", RANGES)
    local = now.astimezone(zone)
    today_end = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    end = end_day + timedelta(days=1) if end_day else today_end
    if start is None:
        days = int(preset or "30")
        start = end - timedelta(days=days)
    else:
        preset = None
    if start >= end:
        raise web.HTTPBadRequest(text="start: must be before end")
    if end - start > MAX_RANGE:
        raise web.HTTPBadRequest(text="start: the range may span at most three years")
    return start, end, (None if q.get("start") else preset or "30")


def focus_of(request: web.Request) -> Focus:
    """The source, query group or tag the page is narrowed to (``source``, ``group``, ``tag``)."""
    q = request.query
    return Focus(source=params.text(q, "source", 64), group=params.text(q, "group", 64), tag=params.text(q, "tag", 64))


def _label(language: str) -> Callable[[date], str]:
    def label(d: date) -> str:
        if language == "de":
            return d.strftime("%d.%m.")
        return f"{d.day} {i18n._MONTHS_EN[d.month - 1]}"

    return label


@lru_cache(maxsize=4096)
def _quoted(value: str) -> str:
    return quote_plus(value)


class MentionLinks:
    """Links to the mention list narrowed to a range, the page's focus and more filters (the drill-down)."""

    def __init__(self, board: Dashboard, focus: Focus) -> None:
        self.first = board.start.date()
        self.last = (board.end - timedelta(days=1)).date()
        self.bucket = board.bucket
        self.focus = {"source": focus.source, "group": focus.group, "tag": focus.tag}
        self._bucket_links: dict[tuple[date, tuple[tuple[str, str | None], ...]], str] = {}

    def link(self, first: date | None = None, last: date | None = None, **filters: str | None) -> str:
        """The mention list for [first, last] (default: the page's range) with ``filters`` on top of the focus."""
        query = {"start": (first or self.first).isoformat(), "end": (last or self.last).isoformat()}
        merged = {**self.focus, **filters}
        query.update({k: v for k, v in merged.items() if v})
        # What urlencode writes (the names are plain words), with each value quoted once per page, not per link.
        return "/mentions?" + "&".join(f"{name}={_quoted(value)}" for name, value in query.items())

    def bucket_link(self, bucket: date, **filters: str | None) -> str:
        """The mention list for one day or week of the chart (each drawn twice, wide and compact: built once)."""
        key = (bucket, tuple(filters.items()))
        found = self._bucket_links.get(key)
        if found is None:
            first = max(bucket, self.first)
            last = min(bucket + timedelta(days=6 if self.bucket == "week" else 0), self.last)
            found = self._bucket_links[key] = self.link(first, last, **filters)
        return found


@routes.get("/dashboard")
@requires("marketing")
async def dashboard(request: web.Request) -> web.Response:
    """Marketing figures for a date range: volume, sentiment, share of voice, themes and KPIs, as SVG charts."""
    now = utcnow()
    zone = zone_of(request)  # days (buckets, the range, what a click opens) are the viewer's
    start, end, preset = date_range(request, now, zone)
    by = params.choice(request.query, "by", DIMENSIONS) or "source"
    focus = focus_of(request)
    rollup = request.app[ROLLUP_KEY].of(zone)
    brand = brand_terms(request)
    board: Dashboard = await request.app[DB_KEY].run_read(
        lambda s: build_dashboard(s, start, end, now, focus, rollup, brand, zone)
    )
    links = MentionLinks(board, focus)
    language = language_of(request)
    t = i18n.translator(language)
    label = _label(language)

    def fmt(v: float) -> str:
        return i18n.format_number(v, language)

    def pct(v: float) -> str:
        return i18n.format_percent(v, language)

    series = {"source": board.by_source, "group": board.by_group, "tag": board.by_tag}[by]
    before = {"source": board.previous.by_source, "group": board.previous.by_group, "tag": board.previous.by_tag}[by]
    keys = sorted(series.values, key=lambda k: -series.total(k))
    colours = {k: charts.colour(i) for i, k in enumerate(keys)}

    def volume_link(key: str, bucket: date) -> str | None:
        return None if key == "–" else links.bucket_link(bucket, **{by: key})

    def sentiment_link(key: str, bucket: date) -> str | None:
        return links.bucket_link(bucket, sentiment=key if key in SENTIMENT_LABELS else None)

    def total_and_change(total: int, previous: int, worse: deltas.Worse = None) -> Markup:
        return Markup('<span class="total">{}</span> {}').format(
            fmt(total), deltas.count(total, previous, language, worse)
        )

    volume_chart = charts.responsive(
        lambda c: charts.line_chart(
            t("Volume by " + by),
            series.buckets,
            {k: series.values[k] for k in keys},
            colours,
            label,
            fmt,
            c,
            volume_link,
        )
    )
    sentiment_chart = charts.responsive(
        lambda c: charts.stacked_bars(
            t("Sentiment over time"),
            board.sentiment.buckets,
            board.sentiment.values,
            charts.SENTIMENT_COLOURS,
            label,
            fmt,
            c,
            sentiment_link,
        )
    )
    named_groups = [g for g, _n, _s in board.share_of_voice if g != "–"]
    share_chart = charts.responsive(
        lambda c: charts.share_bars(
            t("Share of voice"),
            board.share_of_voice,
            pct,
            c,
            lambda group: None if group == "–" else links.link(group=group),
        )
    )
    per_label = await request.app[DB_KEY].run_read(
        lambda s: label_counts(s, start, end, board.sentiment.buckets, board.bucket, zone)
    )
    label_colours = {k: charts.colour(i) for i, k in enumerate(per_label)}
    label_chart = (
        charts.responsive(
            lambda c: charts.line_chart(
                t("Mentions per label"), board.sentiment.buckets, per_label, label_colours, label, fmt, c
            )
        )
        if per_label
        else None
    )
    return render(
        request,
        "dashboard.html",
        board=board,
        by=by,
        dimensions=DIMENSIONS,
        ranges=RANGES,
        preset=preset,
        start_value=start.date().isoformat(),
        end_value=(end - timedelta(days=1)).date().isoformat(),
        volume_chart=volume_chart,
        volume_legend=charts.legend(
            keys,
            colours,
            href=lambda key: _focus_link(request, by, key),
            extra=lambda key: total_and_change(series.total(key), before.get(key, 0)),
        ),
        focus=focus,
        sentiment_chart=sentiment_chart,
        sentiment_legend=charts.legend(
            [k for k in board.sentiment.values],
            charts.SENTIMENT_COLOURS,
            lambda k: t("sentiment:" + k),
            extra=lambda key: total_and_change(
                board.sentiment.total(key), board.previous.sentiment.get(key, 0), "up" if key == "negative" else None
            ),
        ),
        share_chart=share_chart if len(named_groups) >= 2 else None,
        sentiments=SENTIMENT_LABELS,
        links=links,
        delta_count=lambda now_, before_, worse=None: deltas.count(now_, before_, language, worse),
        delta_share=lambda now_, before_, worse=None: deltas.share(now_, before_, language, worse),
        delta_duration=lambda now_, before_, worse="up": deltas.duration(now_, before_, language, worse),
        previous_first=board.previous.start.date(),
        previous_last=(board.previous.end - timedelta(days=1)).date(),
        excerpt=_excerpt,
        label_chart=label_chart,
        label_legend=charts.legend(list(per_label), label_colours, href=lambda name: f"/mentions?label={name}"),
    )


def _excerpt(text: str, limit: int = 160) -> str:
    """The start of a mention's text, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def _focus_link(request: web.Request, dimension: str, key: str) -> str:
    """This page narrowed to one source, group or tag."""
    query = {k: v for k, v in request.query.items() if k not in DIMENSIONS}
    query[dimension] = key
    return str(request.rel_url.with_query(query))


def _spreadsheet_safe(value: str) -> str:
    """Cells starting with = + - @ are prefixed so a spreadsheet never runs them as formulas."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _export_zone(request: web.Request) -> tzinfo:
    """The zone whose days an export counts: ``tz`` (an IANA name such as Europe/Berlin), else UTC."""
    name = request.query.get("tz", "").strip()
    if not name:
        return UTC
    found = zone_named(name)
    if found is None:
        raise web.HTTPBadRequest(text=f"tz: {name[:64]!r} is not an IANA time zone name such as Europe/Berlin")
    return found


@routes.get("/dashboard/export.csv")
@requires("marketing")
async def export_csv(request: web.Request) -> web.Response:
    """The dashboard's series as a CSV download (cells that a spreadsheet would run as formulas are defused).

    Its days are UTC days, like every export's (a contract), unless ``tz`` names an IANA zone: then
    the range and the buckets are that zone's days, as on the page (whose export links pass the
    reader's zone).
    """
    now = utcnow()
    days_in = _export_zone(request)
    start, end, _preset = date_range(request, now, days_in)
    focus = focus_of(request)
    rollup = request.app[ROLLUP_KEY].of(days_in)
    brand = brand_terms(request)
    board = await request.app[DB_KEY].run_read(
        lambda s: build_dashboard(s, start, end, now, focus, rollup, brand, days_in)
    )
    out = io.StringIO()
    style = CsvStyle.for_spreadsheet(language_of(request)) if request.query.get("excel") == "1" else PLAIN_CSV
    writer = csv_writer(out, style, line_end="\r\n")
    for row in export_rows(board):
        writer.writerow([_spreadsheet_safe(cell) for cell in row])
    name = f"socialcrm-{start.date().isoformat()}-{(end - timedelta(days=1)).date().isoformat()}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
