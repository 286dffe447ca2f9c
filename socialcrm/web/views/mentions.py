"""The page of recent mentions, filterable by source, sentiment, language, group, dates, tag and theme.

The dashboard's drill-down links open this page: a bar, a day or a theme becomes a filter here.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from sqlmodel import Session

from socialcrm.models import SENTIMENT_LABELS, Customer, Mention
from socialcrm.web import actions
from socialcrm.web.composer import Composer, composers_for
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.mentions import MentionFilter, recent_mentions
from socialcrm.web.render import render
from socialcrm.web.security import local_path, requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, brand_terms, finish, source_names

routes = web.RouteTableDef()


@routes.get("/mentions")
@requires("community", "service", "marketing")
async def mention_list(request: web.Request) -> web.Response:
    """Stored mentions, newest first, filtered by source, sentiment, language, group, dates, tag, theme; paged by id."""
    q = request.query
    last_day = params.day(q, "end")
    where = MentionFilter(
        source=params.text(q, "source", 64),
        sentiment=params.choice(q, "sentiment", SENTIMENT_LABELS),
        language=params.text(q, "language", 8),
        group=params.text(q, "group", 64),
        before_id=params.integer(q, "before", 1),
        since=params.day(q, "start"),
        until=last_day + timedelta(days=1) if last_day else None,
        tag=params.text(q, "tag", 64),
        theme=params.text(q, "theme", 120),
        brand=brand_terms(request),
    )
    config = request.app[CONFIG_KEY]
    user = user_of(request)

    def load(s: Session) -> tuple[list[tuple[Mention, Customer | None]], int | None, dict[int, Composer]]:
        rows, next_before = recent_mentions(s, where)
        return rows, next_before, composers_for(s, config, [m for m, _c in rows], user)

    rows, next_before, composers = await request.app[DB_KEY].run_read(load)
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
    back = local_path(params.text(form, "next", 200)) or "/mentions"
    return finish(request, back, "corrected", sentiment=label)
