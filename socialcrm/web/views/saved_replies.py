"""Admin: saved replies (canned responses) per key and language, checked like rules' templates when saved."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlmodel import Session

from socialcrm.errors import ConflictError, InvalidInputError
from socialcrm.models import UI_LANGUAGES, SavedReply
from socialcrm.services import saved_replies
from socialcrm.services.saved_replies import SavedReplyInput
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import finish

routes = web.RouteTableDef()


def _input(form: Mapping[str, Any]) -> SavedReplyInput:
    return SavedReplyInput(
        key=params.text(form, "key", 40) or "",
        language=params.text(form, "language", 8) or "",
        title=params.text(form, "title", 200) or "",
        text=params.raw_text(form, "text", saved_replies.MAX_TEXT),
    )


async def _list_page(
    request: web.Request, *, form: SavedReplyInput | None = None, error: str | None = None, http_status: int = 200
) -> web.Response:
    rows = await request.app[DB_KEY].run_read(lambda s: saved_replies.list_saved(s))
    return render(
        request,
        "saved_replies.html",
        http_status=http_status,
        rows=rows,
        form=form or SavedReplyInput("", "de", "", ""),
        error=error,
        languages=UI_LANGUAGES,
        variables=saved_replies.variables(),
    )


async def _edit_page(
    request: web.Request,
    saved: SavedReply,
    *,
    form: SavedReplyInput | None = None,
    error: str | None = None,
    http_status: int = 200,
) -> web.Response:
    return render(
        request,
        "saved_reply.html",
        http_status=http_status,
        saved=saved,
        form=form or SavedReplyInput(saved.key, saved.language, saved.title, saved.text),
        error=error,
        languages=UI_LANGUAGES,
        variables=saved_replies.variables(),
    )


@routes.get("/admin/replies")
@requires()
async def saved_list(request: web.Request) -> web.Response:
    """Every saved reply, and a form for a new one with the variables it may use."""
    return await _list_page(request)


@routes.post("/admin/replies")
@requires()
async def saved_create(request: web.Request) -> web.StreamResponse:
    """Add a saved reply; a problem shows on the form with what was typed kept."""
    data = _input(await request.post())
    actor = user_of(request).username
    try:
        await request.app[DB_KEY].run_write(lambda s: saved_replies.create(s, data, actor=actor))
    except (InvalidInputError, ConflictError) as err:
        status = 409 if isinstance(err, ConflictError) else 400
        return await _list_page(request, form=data, error=str(err), http_status=status)
    return finish(request, "/admin/replies", "saved_reply_saved")


@routes.get(r"/admin/replies/{id:\d+}")
@requires()
async def saved_edit(request: web.Request) -> web.Response:
    """One saved reply to change or delete."""
    saved_id = params.path_id(request)
    saved = await request.app[DB_KEY].run_read(lambda s: saved_replies.get_saved(s, saved_id))
    return await _edit_page(request, saved)


@routes.post(r"/admin/replies/{id:\d+}")
@requires()
async def saved_update(request: web.Request) -> web.StreamResponse:
    """Change a saved reply; a problem shows on the form with what was typed kept."""
    saved_id = params.path_id(request)
    data = _input(await request.post())
    actor = user_of(request).username

    def write(s: Session) -> None:
        saved_replies.update(s, saved_id, data, actor=actor)

    try:
        await request.app[DB_KEY].run_write(write)
    except (InvalidInputError, ConflictError) as err:
        saved = await request.app[DB_KEY].run_read(lambda s: saved_replies.get_saved(s, saved_id))
        status = 409 if isinstance(err, ConflictError) else 400
        return await _edit_page(request, saved, form=data, error=str(err), http_status=status)
    return finish(request, "/admin/replies", "saved_reply_saved")


@routes.post(r"/admin/replies/{id:\d+}/delete")
@requires()
async def saved_delete(request: web.Request) -> web.StreamResponse:
    """Remove a saved reply (replies already written with it keep their text)."""
    saved_id = params.path_id(request)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: saved_replies.delete(s, saved_id, actor=actor))
    return finish(request, "/admin/replies", "saved_reply_deleted")
