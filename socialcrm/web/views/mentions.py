"""The page of recent mentions, filterable by source, sentiment, language, group, dates, tag, theme and label.

The dashboard's drill-down links open this page: a bar, a day or a theme becomes a filter here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlmodel import Session

from socialcrm.models import SENTIMENT_LABELS, Customer, Mention
from socialcrm.services import label_predictions, labels
from socialcrm.web import actions
from socialcrm.web.composer import Composer, composers_for
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.mentions import MentionFilter, recent_mentions
from socialcrm.web.render import render, zone_of
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, back_to, brand_terms, finish, source_names

routes = web.RouteTableDef()


@dataclass(frozen=True)
class MentionPage:
    """A page of the mention list with what each row shows."""

    rows: list[tuple[Mention, Customer | None]]
    next_before: int | None
    composers: dict[int, Composer]
    labels_of: dict[int, dict[str, float]]  # mention id -> its custom labels
    all_labels: list[tuple[int, str, str, bool]]  # (id, name, title, enabled) of every label


@routes.get("/mentions")
@requires("community", "service", "marketing")
async def mention_list(request: web.Request) -> web.Response:
    """Stored mentions, newest first, filtered by source, sentiment, language, group, dates, tag, theme, label."""
    q = request.query
    zone = zone_of(request)  # a day is the viewer's day, as the dashboard that links here counts it
    last_day = params.day(q, "end", zone=zone)
    where = MentionFilter(
        source=params.text(q, "source", 64),
        sentiment=params.choice(q, "sentiment", SENTIMENT_LABELS),
        language=params.text(q, "language", 8),
        group=params.text(q, "group", 64),
        label=(params.text(q, "label", 64) or "").lower() or None,
        before_id=params.integer(q, "before", 1),
        since=params.day(q, "start", zone=zone),
        until=last_day + timedelta(days=1) if last_day else None,
        tag=params.text(q, "tag", 64),
        theme=params.text(q, "theme", 120),
        brand=brand_terms(request),
    )
    config = request.app[CONFIG_KEY]
    user = user_of(request)

    def load(s: Session) -> MentionPage:
        rows, next_before = recent_mentions(s, where)
        ids = [m.id for m, _c in rows if m.id is not None]
        return MentionPage(
            rows,
            next_before,
            composers_for(s, config, [m for m, _c in rows], user),
            label_predictions.labels_of(s, ids),
            [(lb.id, lb.name, lb.title, lb.enabled) for lb in labels.list_labels(s) if lb.id is not None],
        )

    page = await request.app[DB_KEY].run_read(load)
    rows, next_before, composers = page.rows, page.next_before, page.composers
    return render(
        request,
        "mentions.html",
        rows=rows,
        composers=composers,
        next_before=next_before,
        where=where,
        last_day=last_day,
        request_query=request.query,
        sources=source_names(request),
        sentiments=SENTIMENT_LABELS,
        labels_of=page.labels_of,
        all_labels=page.all_labels,
        label_names=[name for _id, name, _title, enabled in page.all_labels if enabled],
    )


@routes.post(r"/mentions/{id:\d+}/sentiment")
@requires("marketing", "community")
async def correct_sentiment(request: web.Request) -> web.StreamResponse:
    """A person corrects a mention's sentiment; the correction is kept for retraining."""
    mention_id = params.path_id(request)
    form = await request.post()
    label = params.choice(form, "sentiment", SENTIMENT_LABELS)
    if label is None:
        raise web.HTTPBadRequest(text="sentiment: required")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.correct_sentiment(s, mention_id, label, actor))
    back = back_to(form, "/mentions")
    return finish(request, back, "corrected", sentiment=label)
