"""The reply queue for community managers: review, edit, approve, reject, reassign, mark as posted."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlmodel import Session

from socialcrm.errors import ConflictError, SecondPersonError
from socialcrm.models import SENTIMENT_LABELS, DraftEdit, utcnow
from socialcrm.services import drafts
from socialcrm.web import actions
from socialcrm.web.i18n import translate
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.queue import (
    AGE_CHOICES,
    QueueFilter,
    QueueItem,
    can_reply_by_api,
    draft_item,
    queue_page,
    to_post_by_hand,
)
from socialcrm.web.render import language_of, render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, finish, source_names

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_REPLY = 20000


@routes.get("/queue")
@requires("community")
async def queue(request: web.Request) -> web.Response:
    """Reply drafts waiting for review, filtered, with the approved ones a person must post by hand."""
    q = request.query
    where = QueueFilter(
        source=params.text(q, "source", 64),
        language=params.text(q, "language", 8),
        sentiment=params.choice(q, "sentiment", SENTIMENT_LABELS),
        age=params.choice(q, "age", AGE_CHOICES),
        assignee=params.text(q, "assignee", 64),
        page=params.page(q),
    )
    now = utcnow()
    db = request.app[DB_KEY]
    four_eyes = request.app[CONFIG_KEY].web.four_eyes
    me = user_of(request).username

    def load(s: Session) -> tuple[list[QueueItem], int, list[QueueItem], list[str], set[int | None]]:
        items, total = queue_page(s, where, now)
        own = {i.draft.id for i in items if drafts.needs_second_person(s, i.draft, me, four_eyes)}
        return items, total, to_post_by_hand(s), actions.assignable_users("drafts")(s), own

    items, total, manual, reviewers, own = await db.run_read(load)
    api_sources = {item.mention.source_type: can_reply_by_api(item.mention.source_type) for item in items}
    return render(
        request,
        "queue.html",
        items=items,
        total=total,
        where=where,
        manual=manual,
        reviewers=reviewers,
        api_sources=api_sources,
        own=own,
        sources=source_names(request),
        sentiments=SENTIMENT_LABELS,
        ages=AGE_CHOICES,
    )


@routes.get("/queue/{id}")
@requires("community")
async def draft_page(request: web.Request) -> web.Response:
    """One reply draft with its mention, its edit history and who may review it."""
    draft_id = params.path_id(request)
    db = request.app[DB_KEY]

    four_eyes = request.app[CONFIG_KEY].web.four_eyes
    me = user_of(request).username

    def load(s: Session) -> tuple[QueueItem | None, list[DraftEdit], list[str], bool]:
        item = draft_item(s, draft_id)
        return (
            item,
            (drafts.edits(s, draft_id) if item else []),
            actions.assignable_users("drafts")(s),
            item is not None and drafts.needs_second_person(s, item.draft, me, four_eyes),
        )

    item, history, reviewers, own = await db.run_read(load)
    if item is None:
        raise web.HTTPNotFound(text=f"no reply draft {draft_id}")
    return render(
        request,
        "draft.html",
        item=item,
        history=history,
        reviewers=reviewers,
        own=own,
        can_api=can_reply_by_api(item.mention.source_type),
    )


def _version(form: Mapping[str, Any]) -> int | None:
    return params.integer(form, "version", 1)


def _state(request: web.Request, status: str) -> dict[str, Any]:
    return {
        "state": status,
        "state_label": translate(language_of(request), "draft:" + status),
        "done": status != "pending",
    }


def _back(request: web.Request, draft_id: int) -> str:
    return f"/queue/{draft_id}" if request.query.get("from") == "draft" else "/queue"


@routes.post("/queue/{id}/approve")
@requires("community")
async def approve(request: web.Request) -> web.StreamResponse:
    """Approve a draft (with a last edit); a stale version or a draft already handled is a 409."""
    draft_id = params.path_id(request)
    form = await request.post()
    text = params.text(form, "text", MAX_REPLY)
    version = _version(form)
    actor = user_of(request).username
    db = request.app[DB_KEY]
    four_eyes = request.app[CONFIG_KEY].web.four_eyes
    try:
        status = await db.run_write(lambda s: actions.approve_draft(s, draft_id, version, text, actor, four_eyes))
    except SecondPersonError as err:
        return finish(request, _back(request, draft_id), "second_person", status=409, detail=str(err))
    except ConflictError as err:
        logger.info("Approval of draft %s lost a race: %s", draft_id, err)
        return finish(request, _back(request, draft_id), "already_handled", status=409, detail=str(err))
    item = await db.run_read(lambda s: draft_item(s, draft_id))
    manual = item is not None and not can_reply_by_api(item.mention.source_type)
    code = "approved_manual" if manual else "approved"
    return finish(
        request, f"/queue/{draft_id}" if manual else _back(request, draft_id), code, **_state(request, status)
    )


@routes.post("/queue/{id}/edit")
@requires("community")
async def edit(request: web.Request) -> web.StreamResponse:
    """Save a new text for a draft, checked against the version the reviewer saw."""
    draft_id = params.path_id(request)
    form = await request.post()
    text = params.text(form, "text", MAX_REPLY)
    if text is None:
        raise web.HTTPBadRequest(text="text: a reply cannot be empty")
    version = _version(form)
    actor = user_of(request).username
    try:
        new_version = await request.app[DB_KEY].run_write(
            lambda s: actions.edit_draft(s, draft_id, version, text, actor)
        )
    except ConflictError as err:
        return finish(request, f"/queue/{draft_id}", "stale", status=409, detail=str(err))
    return finish(request, _back(request, draft_id), "edited", version=new_version, state="pending", done=False)


@routes.post("/queue/{id}/reject")
@requires("community")
async def reject(request: web.Request) -> web.StreamResponse:
    """Reject a draft, saying why."""
    draft_id = params.path_id(request)
    form = await request.post()
    reason = params.text(form, "reason", 2000)
    if reason is None:
        raise web.HTTPBadRequest(text="reason: say why the draft is rejected")
    version = _version(form)
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: actions.reject_draft(s, draft_id, version, reason, actor))
    except ConflictError as err:
        return finish(request, _back(request, draft_id), "already_handled", status=409, detail=str(err))
    return finish(request, _back(request, draft_id), "rejected", **_state(request, "rejected"))


@routes.post("/queue/{id}/reassign")
@requires("community")
async def reassign(request: web.Request) -> web.StreamResponse:
    """Give a draft to another reviewer (or to nobody)."""
    draft_id = params.path_id(request)
    form = await request.post()
    assignee = params.text(form, "assignee", 64)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: actions.reassign_draft(s, draft_id, assignee, actor))
    return finish(request, _back(request, draft_id), "reassigned", assignee=assignee)


@routes.post("/queue/{id}/posted")
@requires("community")
async def posted(request: web.Request) -> web.StreamResponse:
    """A person posted the approved reply by hand; the URL of the posted reply is optional."""
    draft_id = params.path_id(request)
    form = await request.post()
    url = params.text(form, "url", 2048) or ""
    if url and not url.lower().startswith(("http://", "https://")):
        raise web.HTTPBadRequest(text="url: must start with http:// or https://")
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: actions.mark_draft_posted(s, draft_id, url, actor))
    except ConflictError as err:
        return finish(request, "/queue", "already_handled", status=409, detail=str(err))
    return finish(request, "/queue", "posted", **_state(request, "sent"))


@routes.post("/queue/{id}/retry")
@requires("community")
async def retry(request: web.Request) -> web.StreamResponse:
    """Send a failed reply again (it goes back to approved and out with the next outbox run)."""
    draft_id = params.path_id(request)
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: actions.retry_draft(s, draft_id, actor))
    except ConflictError as err:
        return finish(request, "/queue", "already_handled", status=409, detail=str(err))
    return finish(request, "/queue", "approved", **_state(request, "approved"))
