"""Answering any mention: the conversation view, the composer's insert and preview, sending, marking as posted."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel import Session

from socialcrm.errors import InvalidInputError, NotFoundError
from socialcrm.models import Mention, ReplyDraft
from socialcrm.services import drafts, replies, saved_replies
from socialcrm.web.composer import REPLY_ROLES, Composer, composer_for, composers_for, saved_options, with_state
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.queries.conversation import Conversation, conversation
from socialcrm.web.render import render, zone_of
from socialcrm.web.security import requires, user_of, wants_json
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, back_to, finish

routes = web.RouteTableDef()
READERS = ("community", "service", "marketing")
NOTICE_OF_OUTCOME = {
    "queued": "reply_queued",
    "manual": "reply_manual",
    "waiting": "reply_waiting",
    "duplicate": "reply_duplicate",
}


async def _page(
    request: web.Request, mention_id: int, composer: Composer | None = None, http_status: int = 200
) -> web.Response:
    """The conversation page; ``composer`` replaces the focus post's empty composer (after insert, preview, error)."""
    config = request.app[CONFIG_KEY]
    user = user_of(request)

    def load(s: Session) -> tuple[Conversation | None, dict[int, Composer], dict[int, bool]]:
        found = conversation(s, mention_id)
        if found is None:
            return None, {}, {}
        mentions = [e.mention for e in found.entries]
        waiting = {
            d.id: drafts.needs_second_person(s, d, user.username, config.web.four_eyes)
            for e in found.entries
            for d in e.replies
            if d.id is not None and d.status == "pending"
        }
        return found, composers_for(s, config, mentions, user), waiting

    found, composers, own_drafts = await request.app[DB_KEY].run_read(load)
    if found is None:
        raise web.HTTPNotFound(text=f"no mention {mention_id}")
    if composer is not None:
        composers[mention_id] = composer
    return render(
        request,
        "conversation.html",
        http_status=http_status,
        c=found,
        composers=composers,
        own_drafts=own_drafts,
        can_api=replies.policy_of(found.focus.source_type).can_reply,
    )


@routes.get(r"/mentions/{id:\d+}")
@requires(*READERS)
async def conversation_page(request: web.Request) -> web.Response:
    """The thread of a mention in order, our replies in place, the customer beside it, a composer per post."""
    return await _page(request, params.path_id(request))


def _mention(session: Session, mention_id: int) -> Mention:
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    return mention


@routes.post(r"/mentions/{id:\d+}/compose")
@requires(*REPLY_ROLES)
async def compose(request: web.Request) -> web.StreamResponse:
    """Insert a saved reply filled with CRM data and show the preview (JSON for the script, else the page)."""
    mention_id = params.path_id(request)
    form = await request.post()
    text = replies.normalise(params.raw_text(form, "text", replies.MAX_REPLY_CHARS))
    inserting = params.choice(form, "do", ("insert", "preview")) != "preview"
    saved_id = params.integer(form, "saved", 1) if inserting else None
    key = params.text(form, "key", 40) if inserting else None
    compose_key = params.text(form, "compose_key", 64)
    config = request.app[CONFIG_KEY]
    user = user_of(request)
    zone = zone_of(request)  # the agent's zone, as every date on their page

    def load(s: Session) -> tuple[Mention, Composer, str | None, tuple[str, ...]]:
        mention = _mention(s, mention_id)
        saved = _chosen(s, saved_id, key, mention)
        inserted: str | None = None
        missing: tuple[str, ...] = ()
        if saved is not None:
            rendered = saved_replies.render_for(s, saved, mention, agent=user.username, zone=zone)
            inserted, missing = rendered.text, rendered.missing
        return mention, composer_for(config, mention, saved_options(s)), inserted, missing

    mention, composer, inserted, missing = await request.app[DB_KEY].run_read(load)
    full = f"{text}\n\n{inserted}".strip() if inserted and text else (inserted or text)
    changes: dict[str, Any] = {"text": full, "preview": full, "missing": missing, "inserted": inserted}
    if compose_key:
        changes["compose_key"] = compose_key
    composer = with_state(composer, config, mention, **changes)
    if wants_json(request):
        return web.json_response(
            {
                "inserted": inserted,
                "text": full,
                "missing": list(missing),
                "counted": composer.counted,
                "limit": composer.limit,
                "remaining": composer.remaining,
            }
        )
    return await _page(request, mention_id, composer)


def _chosen(session: Session, saved_id: int | None, key: str | None, mention: Mention) -> Any:
    """The saved reply picked by id, or typed as a key (the mention's language first)."""
    if saved_id is not None:
        return saved_replies.get_saved(session, saved_id)
    if key is None:
        return None
    key = key.lstrip("/").lower()
    for language in (mention.language, "de", "en"):
        found = saved_replies.find(session, key, language or "")
        if found is not None:
            return found
    raise NotFoundError(f"key: there is no saved reply /{key}")


@routes.post(r"/mentions/{id:\d+}/reply")
@requires(*REPLY_ROLES)
async def send_reply(request: web.Request) -> web.StreamResponse:
    """Send a reply: a draft, approved by its author unless four eyes are on, then the outbox (or by hand)."""
    mention_id = params.path_id(request)
    form = await request.post()
    text = params.raw_text(form, "text", replies.MAX_REPLY_CHARS)
    compose_key = params.text(form, "compose_key", 64) or ""
    back = back_to(form, f"/mentions/{mention_id}")
    config = request.app[CONFIG_KEY]
    author = user_of(request).username
    try:
        sent = await request.app[DB_KEY].run_write(
            lambda s: replies.send(s, config, mention_id, text, author=author, compose_key=compose_key)
        )
    except InvalidInputError as err:
        if wants_json(request):
            return web.json_response({"ok": False, "error": str(err)}, status=400)
        mention = await request.app[DB_KEY].run_read(lambda s: _mention(s, mention_id))
        empty = await request.app[DB_KEY].run_read(lambda s: composer_for(config, mention, saved_options(s)))
        state: dict[str, Any] = {"text": replies.normalise(text), "error": str(err)}
        if compose_key:
            state["compose_key"] = compose_key
        return await _page(request, mention_id, with_state(empty, config, mention, **state), http_status=400)
    if sent.outcome in ("manual", "waiting") and not back.startswith("/tickets/"):
        back = f"/mentions/{mention_id}"  # where the reply waits; a ticket's history shows it too
    return finish(request, back, NOTICE_OF_OUTCOME[sent.outcome], draft_id=sent.draft.id, outcome=sent.outcome)


@routes.post(r"/replies/{id:\d+}/posted")
@requires(*REPLY_ROLES)
async def mark_posted(request: web.Request) -> web.StreamResponse:
    """A person posted an approved reply by hand (feeds, Hacker News): store where, if they give the address."""
    draft_id = params.path_id(request)
    form = await request.post()
    url = params.text(form, "url", 2048) or ""
    if url and not url.lower().startswith(("http://", "https://")):
        raise web.HTTPBadRequest(text="url: must start with http:// or https://")
    actor = user_of(request).username

    def write(s: Session) -> ReplyDraft:
        return drafts.mark_posted(s, draft_id, url, user=actor)

    draft = await request.app[DB_KEY].run_write(write)
    return finish(request, back_to(form, f"/mentions/{draft.mention_id}"), "reply_posted", url=url)
