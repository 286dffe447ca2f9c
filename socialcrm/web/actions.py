"""The web layer's state changes, each one call into a service (the web never writes CRM tables itself).

Every function takes the write session first and the acting username last, and runs inside the
caller's ``db.run_write`` transaction, so the change and its audit entry commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sqlmodel import Session

from socialcrm.config import FourEyesConfig, SlaTarget
from socialcrm.errors import ConflictError, NotFoundError
from socialcrm.models import MergeCandidate, Priority
from socialcrm.services import assignees, corrections, drafts, links, merges, ticket_desk, ticket_merges, tickets
from socialcrm.services.assignees import WorkKind


def assignable_users(work: WorkKind) -> Callable[[Session], list[str]]:
    """A read that lists who can be assigned ``work`` (tickets or drafts)."""

    def query(session: Session) -> list[str]:
        return assignees.assignable(session, work)

    return query


def set_ticket_status(session: Session, ticket_id: int, status: str, actor: str) -> None:
    """Move a ticket to ``status`` (from resolved or closed to open: a reopen)."""
    tickets.transition(session, ticket_id, status, actor=actor)


def assign_ticket(
    session: Session,
    ticket_id: int,
    assignee: str | None,
    priority: str | None,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None = None,
) -> None:
    """Assign the ticket (a validated assignee, or nobody) and change its priority when one is given."""
    ticket = tickets.get_ticket(session, ticket_id)
    if ticket.assignee != assignee:
        tickets.assign(session, ticket_id, assignee, actor=actor)
    if priority is not None and priority != ticket.priority:
        tickets.set_priority(session, ticket_id, priority, actor=actor, sla=sla)


def add_ticket_note(session: Session, ticket_id: int, text: str, actor: str) -> None:
    """Add an internal note to a ticket."""
    tickets.add_note(session, ticket_id, text, actor=actor)


def merge_tickets(session: Session, duplicate_id: int, into_id: int, actor: str, other_customer: bool) -> None:
    """Merge ``duplicate_id`` into ``into_id``; tickets of two customers only when a person confirmed it."""
    ticket_merges.merge_tickets(session, duplicate_id, into_id, actor=actor, other_customer=other_customer)


def ticket_from_mention(
    session: Session,
    mention_id: int,
    subject: str | None,
    priority: str,
    assignee: str | None,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None = None,
) -> int:
    """Open a ticket for a mention; returns its id."""
    ticket = ticket_desk.ticket_from_mention(
        session, mention_id, actor=actor, subject=subject, priority=priority, assignee=assignee, sla=sla
    )
    assert ticket.id is not None
    return ticket.id


def add_mention_to_ticket(session: Session, ticket_id: int, mention_id: int, actor: str) -> bool:
    """Add a mention to a ticket; False when it was there already."""
    return ticket_desk.add_mention(session, ticket_id, mention_id, actor=actor)


def bulk_change_tickets(
    session: Session,
    ticket_ids: Sequence[int],
    change: ticket_desk.BulkChange,
    actor: str,
    sla: Mapping[Priority, SlaTarget] | None = None,
) -> ticket_desk.BulkResult:
    """Apply one change to the selected tickets, each on its own."""
    return ticket_desk.bulk_change(session, ticket_ids, change, actor=actor, sla=sla)


def approve_draft(
    session: Session,
    draft_id: int,
    version: int | None,
    text: str | None,
    actor: str,
    four_eyes: FourEyesConfig | None = None,
) -> str:
    """Approve (with an optional last edit) unless four eyes need someone else; returns the draft's new status."""
    return drafts.approve(
        session, draft_id, user=actor, expected_version=version, text=text, four_eyes=four_eyes
    ).status


def edit_draft(session: Session, draft_id: int, version: int | None, text: str, actor: str) -> int:
    """Save a new text for a draft; returns its new version."""
    return drafts.edit(session, draft_id, text, user=actor, expected_version=version).version


def reject_draft(session: Session, draft_id: int, version: int | None, reason: str, actor: str) -> None:
    """Reject a draft with a reason."""
    drafts.reject(session, draft_id, reason, user=actor, expected_version=version)


def reassign_draft(session: Session, draft_id: int, assignee: str | None, actor: str) -> None:
    """Hand a draft to a person who works drafts, or back to the shared queue."""
    drafts.reassign(session, draft_id, assignee, user=actor)


def mark_draft_posted(session: Session, draft_id: int, url: str, actor: str) -> None:
    """Record that a person posted the approved reply by hand (at ``url``, if given)."""
    drafts.mark_posted(session, draft_id, url, user=actor)


def retry_draft(session: Session, draft_id: int, actor: str) -> None:
    """Send a failed reply again."""
    drafts.retry(session, draft_id, user=actor)


def decide_link(session: Session, suggestion_id: int, confirm: bool, actor: str) -> None:
    """Confirm a suggested mention-to-customer link, or reject it."""
    if confirm:
        links.confirm(session, suggestion_id, actor=actor)
    else:
        links.reject(session, suggestion_id, actor=actor)


def merge_candidate(session: Session, candidate_id: int, keep: str, actor: str) -> None:
    """Merge a candidate pair, keeping record ``a`` or ``b``."""
    candidate = session.get(MergeCandidate, candidate_id)
    if candidate is None:
        raise NotFoundError(f"no merge candidate with id {candidate_id}")
    if candidate.status != "open":
        raise ConflictError(f"merge candidate {candidate_id} is already {candidate.status}")
    keep_id, merge_id = (
        (candidate.customer_a_id, candidate.customer_b_id)
        if keep == "a"
        else (candidate.customer_b_id, candidate.customer_a_id)
    )
    merges.merge_customers(session, keep_id, merge_id, actor=actor)


def correct_sentiment(session: Session, mention_id: int, label: str, actor: str) -> None:
    """Record a person's correction of a mention's sentiment."""
    corrections.correct_sentiment(session, mention_id, label, actor)
