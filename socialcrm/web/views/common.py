"""Small things several pages share: configured source names, sentiment labels, notices."""

from __future__ import annotations

from aiohttp import web

from socialcrm.config import Config

SENTIMENTS = ("negative", "neutral", "positive")
CONFIG_KEY = web.AppKey("config", Config)

# Notices shown after a redirect: the query carries a code, never text (nothing is reflected).
NOTICES = {
    "approved": ("Draft approved. The reply is on its way.", "ok"),
    "approved_manual": ("Draft approved. Copy the reply, open the post and mark it as posted.", "ok"),
    "already_handled": ("Someone else already handled this draft. Nothing was sent twice.", "warn"),
    "rejected": ("Draft rejected.", "ok"),
    "edited": ("Draft saved.", "ok"),
    "reassigned": ("Draft reassigned.", "ok"),
    "posted": ("Marked as posted.", "ok"),
    "stale": ("This draft was changed by someone else meanwhile. Please review it again.", "warn"),
    "ticket_updated": ("Ticket updated.", "ok"),
    "note_added": ("Note added.", "ok"),
    "merged": ("Tickets merged.", "ok"),
    "corrected": ("Sentiment corrected. Thank you: this trains the classifier.", "ok"),
    "link_confirmed": ("Link confirmed.", "ok"),
    "link_rejected": ("Link rejected.", "ok"),
    "customers_merged": ("Customers merged.", "ok"),
    "merge_dismissed": ("Merge candidate dismissed.", "ok"),
    "user_saved": ("User saved.", "ok"),
    "token_created": ("API token created. Copy it now: it is not shown again.", "ok"),
    "token_revoked": ("API token revoked.", "ok"),
}


def source_names(request: web.Request) -> list[str]:
    config = request.app[CONFIG_KEY]
    return [source.name for source in config.sources]


def notice_of(request: web.Request) -> dict[str, str]:
    code = request.query.get("notice")
    if code in NOTICES:
        message, kind = NOTICES[code]
        return {"notice": message, "notice_kind": kind}
    return {}


def finish(request: web.Request, location: str, code: str, *, status: int = 200, **data: object) -> web.StreamResponse:
    """After an action: JSON for fetch callers, else a 303 redirect carrying the notice code."""
    from socialcrm.web.i18n import translate
    from socialcrm.web.render import language_of
    from socialcrm.web.security import wants_json

    message, kind = NOTICES.get(code, (code, "ok"))
    if wants_json(request):
        payload = {
            "ok": kind == "ok",
            "code": code,
            "notice": translate(language_of(request), message),
            **data,
        }
        return web.json_response(payload, status=status)
    separator = "&" if "?" in location else "?"
    raise web.HTTPSeeOther(f"{location}{separator}notice={code}")
