"""Acting on the rules' verdicts: store Decision rows and perform the fired actions exactly once.

The rules (``socialcrm.rules``) only decide; this service acts: it opens or joins tickets, drafts
replies, tags mentions and customers, changes priorities and queues webhooks, each through the
service that owns the record (tickets, drafts, customers, outbox).

Each action has an idempotency key ``rule|action|thread|customer`` (ActionKey). Processing the same
mention again, or a later mention of the same thread and customer, finds the key and does not act
twice; ``open_ticket`` instead joins the thread's open ticket so a further complaint lands there (and
reopens a resolved ticket; a closed one is reopened or followed up, as ``[tickets] closed_thread`` says).
A failing action (a template meeting unexpected data) is recorded in the decision, never raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2.exceptions import TemplateError
from sqlmodel import Session

from socialcrm.config import Config
from socialcrm.errors import InvalidInputError
from socialcrm.models import OPEN_TICKET_STATUSES, ActionKey, Decision, Mention, Ticket
from socialcrm.rules.actionspec import ActionSpec
from socialcrm.rules.facts import predicted_labels, thread_key
from socialcrm.rules.ruleset import Evaluation, Rule
from socialcrm.services import customers, drafts, outbox, tickets
from socialcrm.services.assignees import WorkKind, check_assignee
from socialcrm.services.desk import Desk, DirectDesk
from socialcrm.services.records import mention_record
from socialcrm.services.reply_context import template_context
from socialcrm.timezones import default_zone

logger = logging.getLogger(__name__)
EXCERPT_CHARS = 500
WEBHOOK_MENTION_FIELDS = (
    "id",
    "source",
    "source_type",
    "url",
    "author",
    "title",
    "text",
    "language",
    "sentiment",
    "published_at",
)


@dataclass(frozen=True)
class ActionContext:
    """What actions need besides the mention: the config (SLA, webhooks), the time and who acts."""

    config: Config
    now: datetime
    actor: str = "daemon"


def action_key(rule: str, action: str, mention: Mention) -> str:
    """The idempotency key of one action: (rule, action, thread, customer)."""
    customer = mention.customer_id if mention.customer_id is not None else f"author:{mention.author or '-'}"
    return f"{rule}|{action}|{thread_key(mention)}|{customer}"[:900]


def apply_evaluation(
    session: Session,
    mention: Mention,
    evaluation: Evaluation,
    context: ActionContext,
    desk: Desk | None = None,
) -> list[Decision]:
    """Store one Decision per rule and perform the fired rules' actions; idempotent per mention.

    ``desk`` is where the actions look things up and write: the database by default, a batch's
    caches in the pipeline (``BatchDesk``; it writes the decisions and keys when the batch ends).
    """
    assert mention.id is not None, "apply_evaluation needs a flushed mention"
    desk = desk or DirectDesk(session)
    if desk.has_decisions(mention.id):
        logger.debug("mention %s already has decisions; nothing to do", mention.id)
        return []
    decisions = []
    for position, result in enumerate(evaluation.results):
        outcomes = [_perform(session, desk, mention, result.rule, spec, context) for spec in result.actions]
        decisions.append(
            desk.add_decision(
                {
                    "mention_id": _mention_id(mention),
                    "rule": result.rule.name,
                    "position": position,
                    "fired": result.fired,
                    "explanation": result.explanation(),
                    "actions": outcomes,
                    "created_at": context.now,
                }
            )
        )
    if isinstance(desk, DirectDesk):
        session.flush()
    return decisions


def _perform(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, context: ActionContext
) -> dict[str, Any]:
    outcome = spec.describe()
    if spec.kind == "suppress":
        outcome["outcome"] = "suppressed later rules or actions"
        return outcome
    key = action_key(rule.name, spec.kind, mention)
    handler = _HANDLERS[spec.kind]
    try:
        with desk.protect():
            outcome.update(handler(session, desk, mention, rule, spec, context, key))
    except TemplateError as err:
        logger.warning("rule %s: action %s on mention %s failed: %s", rule.name, spec.kind, mention.id, err)
        outcome.update(outcome="error", error=f"template: {err}")
    return outcome


def _mention_id(mention: Mention) -> int:
    assert mention.id is not None, "actions need a flushed mention"
    return mention.id


def webhook_outbox_key(action_key: str) -> str:
    """The outbox key of the webhook an action sends (retention finds an old mention's webhooks by it)."""
    return f"webhook:{action_key}"


def _claim(desk: Desk, key: str, rule: Rule, spec: ActionSpec, mention: Mention, now: datetime) -> ActionKey | None:
    """Take the key; return the existing ActionKey when the action was already done (then do nothing)."""
    existing = desk.action_key(key)
    if existing is not None:
        return existing
    _remember(desk, key, rule, spec, mention, None, now)
    return None


def _open_ticket(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, ctx: ActionContext, key: str
) -> dict[str, Any]:
    """Join the thread's active ticket; reopen a resolved one; a closed one: reopen or follow up; else open one."""
    assert mention.id is not None
    thread = thread_key(mention)
    keyed, next_key = _ticket_of_key(desk, key)
    ticket = desk.find_open_ticket(thread, mention.customer_id)
    if ticket is None and keyed is not None and keyed.status in OPEN_TICKET_STATUSES:
        ticket = keyed  # the thread's ticket was merged into this one
    previous: Ticket | None = None
    reopened = False
    if ticket is None:
        previous = _newest(desk.latest_in_thread(thread, mention.customer_id), keyed)
        if previous is not None and previous.id in desk.ticket_ids_of(mention.id):
            return {"outcome": "already on ticket", "ticket_id": previous.id}
        if previous is not None and (previous.status == "resolved" or ctx.config.tickets.closed_thread == "reopen"):
            assert previous.id is not None
            desk.store_new()
            ticket = tickets.reopen(session, previous.id, actor=ctx.actor, mention_id=mention.id, now=ctx.now)
            desk.opened(ticket)
            reopened = True
    if ticket is not None:
        if desk.action_key(key) is None:
            _remember(desk, key, rule, spec, mention, ticket.id, ctx.now)
        added = desk.attach_mention(ticket, mention.id, actor=ctx.actor, now=ctx.now)
        outcome = "reopened" if reopened else ("joined" if added else "already on ticket")
        return {"outcome": outcome, "ticket_id": ticket.id}
    subject = _subject(mention)
    if previous is not None:  # the thread's ticket was closed: a linked follow-up keeps the history apart
        subject = f"Follow-up to #{previous.id}: {subject}"
    assignee, assignee_problem = _rule_assignee(session, spec, "tickets")
    ticket = desk.open_ticket(
        subject=subject,
        priority=spec.options.get("priority", "normal"),
        team=spec.options.get("team"),
        assignee=assignee,
        customer_id=mention.customer_id,
        thread_key=thread,
        rule=rule.name,
        idempotency_key=next_key,
        mention_id=_mention_id(mention),
        follow_up_of_id=previous.id if previous is not None else None,
        sla=ctx.config.sla,
        actor=ctx.actor,
        now=ctx.now,
    )
    _remember(desk, next_key, rule, spec, mention, ticket.id, ctx.now)
    result: dict[str, Any] = {"outcome": "opened", "ticket_id": ticket.id}
    if previous is not None:
        result["follows"] = previous.id
    if assignee_problem:
        result["warning"] = f"{assignee_problem}; the ticket was left unassigned"
    return result


def _newest(*candidates: Ticket | None) -> Ticket | None:
    """The newest of the tickets given (by id), None when none is given."""
    found = [t for t in candidates if t is not None and t.id is not None]
    return max(found, key=lambda t: t.id or 0) if found else None


def _rule_assignee(session: Session, spec: ActionSpec, work: WorkKind) -> tuple[str | None, str | None]:
    """The rule's assignee when that user may take ``work``; else nobody, and why (kept in the decision)."""
    wanted = spec.options.get("assignee")
    try:
        return check_assignee(session, wanted, work), None
    except InvalidInputError as err:
        logger.warning("rule assignee %r not used: %s", wanted, err)
        return None, str(err)


def _ticket_of_key(desk: Desk, key: str) -> tuple[Ticket | None, str]:
    """The newest ticket opened under ``key`` (through merges and follow-ups) and the key for the next."""
    ticket: Ticket | None = None
    current = key
    while (taken := desk.action_key(current)) is not None and taken.target:
        ticket = desk.ticket(int(taken.target))
        while ticket is not None and ticket.merged_into_id is not None:
            ticket = desk.ticket(ticket.merged_into_id)
        if ticket is None or ticket.status != "closed":
            return ticket, current
        current = f"{key}|after:{ticket.id}"[:900]
    return ticket, current


def _remember(
    desk: Desk,
    key: str,
    rule: Rule,
    spec: ActionSpec,
    mention: Mention,
    target: int | None,
    now: datetime,
) -> None:
    desk.remember(
        {
            "key": key,
            "rule": rule.name,
            "action": spec.kind,
            "mention_id": _mention_id(mention),
            "target": None if target is None else str(target),
            "created_at": now,
        }
    )


def _draft_reply(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, ctx: ActionContext, key: str
) -> dict[str, Any]:
    if spec.template is None:
        return {"outcome": "error", "error": f"template {spec.options.get('template')!r} is not usable"}
    existing = desk.action_key(key)
    if existing is not None:
        return {"outcome": "already done", "draft_id": int(existing.target) if existing.target else None}
    language, text = spec.template.render(  # dates in the company's zone: no person is reading along yet
        mention.language,
        template_context(session, mention, rule=rule.name, desk=desk),
        default_zone(ctx.config.web.time_zone),
    )
    assignee, assignee_problem = _rule_assignee(session, spec, "drafts")
    draft = desk.create_draft(
        mention=mention,
        text=text,
        language=language,
        rule=rule.name,
        template=spec.template.name,
        idempotency_key=key,
        assignee=assignee,
        actor=ctx.actor,
        now=ctx.now,
    )
    _remember(desk, key, rule, spec, mention, draft.id, ctx.now)
    result: dict[str, Any] = {"outcome": "drafted", "draft_id": draft.id, "language": language}
    if assignee_problem:
        result["warning"] = f"{assignee_problem}; the draft waits in the shared queue"
    if not ctx.config.web.four_eyes.rule_drafts:  # the admin trusts the rules: no person approves
        assert draft.id is not None
        desk.store_new()
        drafts.approve(session, draft.id, user=ctx.actor, now=ctx.now)
        result["outcome"] = "drafted and approved"
    return result


def _tag(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, ctx: ActionContext, key: str
) -> dict[str, Any]:
    wanted = list(spec.options["tags"])
    if spec.options.get("target") == "customer":
        customer = desk.customer(mention.customer_id)
        if customer is None:
            return {"outcome": "no customer to tag"}
        added = customers.add_tags(session, customer, wanted, actor=ctx.actor, now=ctx.now, detail={"rule": rule.name})
        return {"outcome": "tagged" if added else "already tagged", "added": added}
    added = [t for t in wanted if t not in mention.tags]
    if added:
        mention.tags = [*mention.tags, *added]
        session.add(mention)
    return {"outcome": "tagged" if added else "already tagged", "added": added}


def _set_priority(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, ctx: ActionContext, key: str
) -> dict[str, Any]:
    ticket = desk.find_open_ticket(thread_key(mention), mention.customer_id)
    if ticket is None:
        return {"outcome": "no open ticket in this thread"}
    if _claim(desk, key, rule, spec, mention, ctx.now) is not None:
        return {"outcome": "already done", "ticket_id": ticket.id}
    old = ticket.priority
    assert ticket.id is not None
    desk.store_new()
    tickets.set_priority(session, ticket.id, spec.options["priority"], actor=ctx.actor, sla=ctx.config.sla)
    return {"outcome": "set" if old != ticket.priority else "unchanged", "ticket_id": ticket.id, "from": old}


def _notify(
    session: Session, desk: Desk, mention: Mention, rule: Rule, spec: ActionSpec, ctx: ActionContext, key: str
) -> dict[str, Any]:
    if _claim(desk, key, rule, spec, mention, ctx.now) is not None:
        return {"outcome": "already done"}
    customer = desk.customer(mention.customer_id)
    ticket = desk.find_open_ticket(thread_key(mention), mention.customer_id)
    body = {
        "event": "notify",
        "rule": rule.name,
        "message": spec.options.get("message"),
        "at": ctx.now.isoformat(),
        "mention": {
            **mention_record(mention, None, (*WEBHOOK_MENTION_FIELDS, "labels"), _labels(session, mention)),
            "text": (mention.text or "")[:EXCERPT_CHARS],
        },
        "customer_ref": customer.customer_ref if customer else None,
        "ticket_id": ticket.id if ticket else None,
    }
    item = outbox.enqueue_webhook(
        session, spec.options["webhook"], "notify", webhook_outbox_key(key), body, now=ctx.now
    )
    return {"outcome": "queued", "outbox_id": item.id}


def _labels(session: Session, mention: Mention) -> list[str]:
    """The names of the switched-on custom labels the mention has (a webhook's receiver sees them)."""
    return sorted(predicted_labels(session, mention.id)) if mention.id is not None else []


_HANDLERS = {
    "open_ticket": _open_ticket,
    "draft_reply": _draft_reply,
    "tag": _tag,
    "set_priority": _set_priority,
    "notify": _notify,
}


def _subject(mention: Mention) -> str:
    text = (mention.title or mention.text or "").strip().splitlines()
    first = text[0] if text else ""
    return first[:200] or f"{mention.source_type} post by {mention.author or 'unknown'}"
