"""Storing a batch of new mentions: one insert, then linking, facts, rules and actions for the whole batch.

``insert_mentions`` writes the rows in one statement (a row another process stored meanwhile is
skipped, not an error). ``process_mentions`` then links the batch, reads what the rules need and acts
on their verdicts with a few set-based queries (``linking.link_mentions``, ``services.batch_desk.BatchDesk``),
deciding in memory mention by mention, in order, and writes the small rows in bulk.

All of it runs in the caller's transaction, without a savepoint of its own (on PostgreSQL a savepoint
costs two round trips, and every row written under it a subtransaction). When anything in the batch
fails, ``process_mentions`` raises ``BatchFailed``: the caller rolls the whole transaction back and
stores the batch again with ``one_by_one``, each mention in its own savepoint, as before; a mention
that fails on its own stays stored without links or actions and waits for a retry
(``services.retries``), so a bug or a conflict never loses it and never silences it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from socialcrm.config import Config, LinkingConfig
from socialcrm.db import must_restart_transaction
from socialcrm.db_rows import insert_missing
from socialcrm.linking import CustomerCache, expect_links, link_mention, link_mentions
from socialcrm.models import Decision, Mention, as_stored, table_of, utcnow
from socialcrm.rules.facts import build_facts, facts_for, ordered_products, predicted_labels, thread_key
from socialcrm.rules.ruleset import RuleSet
from socialcrm.services import audit, mention_changes, retries
from socialcrm.services.actions import ActionContext, action_key, apply_evaluation
from socialcrm.services.batch_desk import BatchDesk

logger = logging.getLogger(__name__)
_MENTION_COLUMNS = tuple(column.key for column in table_of(Mention).columns)


@dataclass
class Processed:
    """What processing new mentions amounted to."""

    tickets: int = 0
    drafts: int = 0
    done: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    tickets_of: Counter[int] = field(default_factory=Counter)  # by mention id
    drafts_of: Counter[int] = field(default_factory=Counter)

    def count(self, decisions: Sequence[Decision]) -> None:
        """Add the tickets opened and drafts written by these decisions (in all, and for each mention)."""
        for decision in decisions:
            for action in decision.actions:
                outcome = action.get("outcome")
                if outcome == "opened":
                    self.tickets += 1
                    self.tickets_of[decision.mention_id] += 1
                elif outcome in ("drafted", "drafted and approved"):
                    self.drafts += 1
                    self.drafts_of[decision.mention_id] += 1


def insert_mentions(
    session: Session, rows: Sequence[dict[str, Any]], linking: LinkingConfig | None = None, now: datetime | None = None
) -> list[Mention]:
    """Store new mentions in one insert; return them (with ids) in the order given, less any stored meanwhile.

    Every row names every column but ``id``. A (source, external_id) another process stored since the
    caller looked is left out of the result: it is that process's mention. With ``linking``, on
    PostgreSQL, the rows go in with the links ``process_mentions`` will most likely decide
    (``linking.expect_links``): it then writes only the links it decides otherwise, while the batch
    holds its person locks. SQLite writes one transaction at a time and holds no such locks.
    """
    if not rows:
        return []
    if linking is not None and session.get_bind().dialect.name == "postgresql":
        try:
            expect_links(session, rows, linking, now or utcnow())
        except SQLAlchemyError:
            raise
        except Exception:  # noqa: BLE001 - a bug on one post must not stop its page: linking decides under the locks
            logger.warning(
                "Working out the links of %d new mention(s) before storing them failed; they are stored unlinked"
                " and linked with the batch",
                len(rows),
                exc_info=True,
            )
    inserted = insert_missing(
        session, table_of(Mention), rows, ["source", "external_id"], returning=["id", "source", "external_id"]
    )
    ids: dict[tuple[str, str], int] = {(row[1], row[2]): row[0] for row in inserted}
    mentions = []
    for row in rows:
        mention_id = ids.pop((row["source"], row["external_id"]), None)  # a key given twice is stored once
        if mention_id is not None:
            mentions.append(as_stored(Mention, {**dict.fromkeys(_MENTION_COLUMNS), **row, "id": mention_id}))
    session.add_all(mentions)
    return mentions


@dataclass
class BatchPlan:
    """What is worked out about a batch of new mentions before its person locks are taken (CPU only, no I/O).

    Each mention's words, and the ticket and draft actions the rules could perform for it, judged by
    the conditions about the mention alone (``RuleSet.may_act``): under the locks, once the batch's
    customers, threads and keys are read, they give how many ids to draw in one statement
    (``_ids_to_draw``) instead of one round trip per new ticket or draft while holding the locks.
    """

    words: list[tuple[str, ...]]
    numbered: list[list[tuple[str, str]]]

    @classmethod
    def of(cls, mentions: Sequence[Mention], ruleset: RuleSet) -> BatchPlan:
        """The plan of ``mentions``, in their order."""
        words, numbered = [], []
        for mention in mentions:
            own = facts_for(mention, None, (), frozenset(), {})
            words.append(own.words)
            numbered.append(ruleset.may_act(own, _NUMBERED_ACTIONS))
        return cls(words, numbered)

    @classmethod
    def made_for(cls, mentions: Sequence[Mention], ruleset: RuleSet) -> BatchPlan | None:
        """The plan of ``mentions``, or None when making it fails on one of them (a bug in facts or a condition).

        The batch then makes its plan again under the locks, inside ``process_mentions``, where such a
        failure stores the batch one mention at a time and only the failing mention waits for a retry.
        """
        try:
            return cls.of(mentions, ruleset)
        except Exception:  # noqa: BLE001 - reported, and handled where the batch is processed
            logger.warning("Planning a batch of %d mention(s) failed", len(mentions), exc_info=True)
            return None


# The actions that number new rows: a ticket (``open_ticket``), a reply draft (``draft_reply``).
_NUMBERED_ACTIONS = ("open_ticket", "draft_reply")


class BatchFailed(Exception):
    """Processing a batch as a whole failed: roll the transaction back and store the batch again, one by one."""


def process_mentions(
    session: Session,
    mentions: Sequence[Mention],
    config: Config,
    ruleset: RuleSet,
    now: datetime,
    *,
    one_by_one: bool = False,
    plan: BatchPlan | None = None,
) -> Processed:
    """Link new mentions, evaluate the rules and act, as one batch (``one_by_one``: each in its own savepoint).

    ``plan``: the batch's ``BatchPlan``, made before the caller took the person locks (else made here).

    Raises ``BatchFailed`` when the batch fails (a bug or a conflict in one of its mentions): what it
    wrote is not undone here, so the caller rolls its transaction back and stores the batch again with
    ``one_by_one``. A deadlock is raised as it is (the whole transaction is lost; store it again).
    """
    processed = Processed()
    if not mentions:
        return processed
    if one_by_one:
        return process_each(session, mentions, config, ruleset, now)
    try:
        plan = plan or BatchPlan.of(mentions, ruleset)
        processed.count(_process_batch(session, mentions, config, ruleset, now, plan))
    except Exception as err:
        if must_restart_transaction(err):
            raise  # a deadlock lost the whole transaction: the pipeline stores the batch again
        logger.warning(
            "Linking or rules failed for a batch of %d mention(s) of %s; processing them one by one",
            len(mentions),
            ", ".join(sorted({m.source for m in mentions})),
            exc_info=True,
        )
        raise BatchFailed(f"{type(err).__name__}: {err}") from err
    processed.done = [m.id for m in mentions if m.id is not None]
    return processed


def process_each(
    session: Session, mentions: Sequence[Mention], config: Config, ruleset: RuleSet, now: datetime
) -> Processed:
    """Link, evaluate and act on each mention in its own savepoint; a failure waits for a retry."""
    processed = Processed()
    context = ActionContext(config=config, now=now, actor=audit.DAEMON)
    tagged = False  # a retried mention's tags were counted by the dashboard's rollup without these
    for mention in mentions:
        assert mention.id is not None
        try:
            tags = list(mention.tags)
            with session.begin_nested():
                link_mention(session, mention, config.linking, now)
                facts = build_facts(session, mention, ruleset, now)
                processed.count(apply_evaluation(session, mention, ruleset.evaluate(facts), context))
            processed.done.append(mention.id)
            tagged = tagged or mention.tags != tags
        except Exception as err:  # noqa: BLE001 - one mention's bug must not block the others
            if must_restart_transaction(err):
                raise
            _forget_rolled_back(session)
            logger.exception(
                "Linking or rules failed for %s/%s; stored without actions, to be retried",
                mention.source,
                mention.external_id,
            )
            retries.record_failure(session, mention, f"{type(err).__name__}: {err}", now=now)
            processed.failed.append(mention.id)
    retries.succeeded(session, processed.done)
    if tagged:
        mention_changes.count_change(session)
    return processed


def retry_due(session: Session, config: Config, ruleset: RuleSet, now: datetime) -> Processed:
    """Process again, one by one, the stored mentions whose retry is due."""
    return process_each(session, retries.due(session, now), config, ruleset, now)


def _forget_rolled_back(session: Session) -> None:
    """After a savepoint's rollback, let the session read every row afresh.

    Rows read inside the savepoint stay in the session unexpired; one that the rollback removed could
    otherwise stand in for a new row that reuses its id (SQLite reuses the highest ids).
    """
    session.expire_all()


def _process_batch(
    session: Session, mentions: Sequence[Mention], config: Config, ruleset: RuleSet, now: datetime, plan: BatchPlan
) -> list[Decision]:
    """The batch path: a few reads for all mentions, decisions in memory, writes in bulk."""
    customers = CustomerCache(session)
    context = ActionContext(config=config, now=now, actor=audit.DAEMON)
    needs_orders, needs_open, needs_labels = ruleset.needs_orders, ruleset.needs_open_tickets, ruleset.needs_labels
    with audit.collected(session) as audit_rows:
        link_mentions(session, mentions, config.linking, now, customers)
        desk = BatchDesk(session, customers)
        desk.prepare(mentions, _planned_keys(mentions, ruleset), with_orders=needs_orders, with_open_tickets=needs_open)
        # Drawn under the person locks, as each row's own insert drew its id: a customer's tickets are
        # still numbered in the order they are opened, whichever process opens them.
        tickets, drafts = _ids_to_draw(desk, mentions, ruleset, plan)
        desk.draw_ids(tickets=tickets, drafts=drafts)
        volume = {cond.key: cond.count_many(session, mentions, now) for cond in ruleset.volume_conditions}
        decisions: list[Decision] = []
        for index, mention in enumerate(mentions):
            customer = customers.get(mention.customer_id)
            known = customer.id if customer is not None else None
            open_ids = desk.open_ticket_ids(known) if needs_open and known is not None else ()
            products = frozenset[str]()
            if needs_orders and known is not None:
                products = ordered_products(desk.product_lists(known))
            counts = {key: found[index] for key, found in volume.items()}
            labels = predicted_labels(session, mention.id) if needs_labels and mention.id is not None else {}
            facts = facts_for(mention, customer, open_ids, products, counts, labels, plan.words[index])
            decisions += apply_evaluation(session, mention, ruleset.evaluate(facts), context, desk)
        desk.write(audit_rows)
    session.flush()
    return decisions


def _ids_to_draw(desk: BatchDesk, mentions: Sequence[Mention], ruleset: RuleSet, plan: BatchPlan) -> tuple[int, int]:
    """How many tickets and drafts the batch could open at most, from what ``desk.prepare`` read (no I/O).

    A mention opens a ticket only when its thread has no open ticket of its customer, and then later
    mentions of that thread and customer join it: at most one new ticket per thread and customer. A
    draft is keyed by rule, thread and customer (``action_key``): at most one per key not taken yet.
    Rules are judged by their conditions on the mention and on who its customer is (``RuleSet.may_act``,
    ``customer_allows``): a close count keeps ticket numbers without gaps (a rule asking for a customer
    tag or an open ticket the customer lacks still counts). Should it fall short, the rest are drawn
    one by one (``NewIds.take``).
    """
    threads: set[tuple[str, int | None]] = set()
    keys: set[str] = set()
    for mention, numbered, words in zip(mentions, plan.numbered, plan.words, strict=True):
        if not numbered:
            continue
        facts = facts_for(mention, desk.customers.get(mention.customer_id), (), frozenset(), {}, {}, words)
        for rule, kind in ruleset.customer_allows(facts, numbered):
            if kind == "open_ticket":
                thread = thread_key(mention)
                if desk.find_open_ticket(thread, mention.customer_id) is None:
                    threads.add((thread, mention.customer_id))
            elif desk.action_key(key := action_key(rule, kind, mention)) is None:
                keys.add(key)
    return len(threads), len(keys)


def _planned_keys(mentions: Sequence[Mention], ruleset: RuleSet) -> list[str]:
    """The action keys the enabled rules could take for these mentions (read before deciding, in one query)."""
    kinds = {(rule.name, spec.kind) for rule in ruleset.rules if rule.enabled for spec in rule.actions}
    return [action_key(rule, kind, mention) for mention in mentions for rule, kind in kinds if kind != "suppress"]
