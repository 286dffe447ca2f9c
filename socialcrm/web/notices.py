"""Notices shown after a redirect: the query carries a code, never text, so nothing is reflected."""

from __future__ import annotations

from aiohttp import web

NOTICES = {
    "approved": ("Draft approved. The reply is on its way.", "ok"),
    "approved_manual": ("Draft approved. Copy the reply, open the post and mark it as posted.", "ok"),
    "already_handled": ("Someone else already handled this draft. Nothing was sent twice.", "warn"),
    "second_person": ("You wrote this reply: a second person approves it (four eyes).", "warn"),
    "rejected": ("Draft rejected.", "ok"),
    "edited": ("Draft saved.", "ok"),
    "reassigned": ("Draft reassigned.", "ok"),
    "posted": ("Marked as posted.", "ok"),
    "stale": ("This draft was changed by someone else meanwhile. Please review it again.", "warn"),
    "reply_queued": ("Reply approved. It is on its way.", "ok"),
    "reply_manual": ("Reply approved. Copy it, open the post, reply there, then mark it as posted.", "ok"),
    "reply_waiting": ("Reply saved. It waits for a second person's approval.", "ok"),
    "reply_duplicate": ("This reply was sent already. Nothing was sent twice.", "warn"),
    "reply_posted": ("Marked as posted.", "ok"),
    "ticket_updated": ("Ticket updated.", "ok"),
    "note_added": ("Note added.", "ok"),
    "merged": ("Tickets merged.", "ok"),
    "ticket_created": ("Ticket opened.", "ok"),
    "mention_added": ("Mention added to the ticket.", "ok"),
    "mention_already_on_ticket": ("That mention is already on this ticket.", "warn"),
    "bulk_done": ("The selected tickets were changed.", "ok"),
    "filter_saved": ("Filter saved.", "ok"),
    "filter_deleted": ("Filter deleted.", "ok"),
    "corrected": ("Sentiment corrected. Thank you: this trains the classifier.", "ok"),
    "link_confirmed": ("Link confirmed.", "ok"),
    "link_rejected": ("Link rejected.", "ok"),
    "customers_merged": ("Customers merged.", "ok"),
    "merge_dismissed": ("Merge candidate dismissed.", "ok"),
    "user_saved": ("User saved.", "ok"),
    "saved_reply_saved": ("Saved reply stored.", "ok"),
    "saved_reply_deleted": ("Saved reply deleted.", "ok"),
    "token_created": ("API token created. Copy it now: it is not shown again.", "ok"),
    "token_revoked": ("API token revoked.", "ok"),
    "sessions_ended": ("Your other sessions are logged out.", "ok"),
    "label_defined": ("Label created. Now mark examples and counter-examples.", "ok"),
    "label_saved": ("Label saved.", "ok"),
    "label_example_added": ("Example added.", "ok"),
    "label_example_removed": ("Example removed.", "ok"),
    "label_trained": ("Label trained; the estimate below is new.", "ok"),
    "label_on": ("Label switched on: it is predicted for every new mention.", "ok"),
    "label_off": ("Label switched off.", "ok"),
    "label_backfilled": ("Existing mentions labelled.", "ok"),
    "label_deleted": ("Label deleted.", "ok"),
    "time_zone_saved": ("Time zone saved.", "ok"),
    "digest_saved": ("Weekly digest settings saved.", "ok"),
}


def notice_of(request: web.Request) -> dict[str, str]:
    """The notice named by the ``notice`` query parameter, as template variables (empty when none)."""
    code = request.query.get("notice")
    if code in NOTICES:
        message, kind = NOTICES[code]
        return {"notice": message, "notice_kind": kind}
    return {}
