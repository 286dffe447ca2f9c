"""Why (and why not): a mention's stored decisions as text, and backtests that replay rules without acting."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from socialcrm.errors import NotFoundError
from socialcrm.models import Decision, Mention
from socialcrm.rules.facts import build_facts
from socialcrm.rules.ruleset import Evaluation, RuleSet

PAGE = 500


@dataclass
class Explanation:
    """The verdicts on one mention: stored ones, or (when none were stored) the current rules' verdict."""

    mention: Mention
    decisions: list[dict[str, Any]]
    stored: bool


def explain_mention(session: Session, mention_id: int, ruleset: RuleSet | None = None) -> Explanation:
    """The stored decisions of a mention; without any, what ``ruleset`` would decide now (not stored)."""
    mention = session.get(Mention, mention_id)
    if mention is None:
        raise NotFoundError(f"no mention with id {mention_id}")
    rows = list(
        session.exec(select(Decision).where(Decision.mention_id == mention_id).order_by(col(Decision.position)))
    )
    if rows or ruleset is None:
        decisions = [
            {"rule": d.rule, "fired": d.fired, "explanation": d.explanation, "actions": d.actions} for d in rows
        ]
        return Explanation(mention, decisions, stored=True)
    evaluation = ruleset.evaluate(build_facts(session, mention, ruleset, mention.published_at))
    return Explanation(mention, evaluation_dicts(evaluation), stored=False)


def evaluation_dicts(evaluation: Evaluation) -> list[dict[str, Any]]:
    """An Evaluation in the shape of stored decisions (actions not performed)."""
    return [
        {
            "rule": r.rule.name,
            "fired": r.fired,
            "explanation": r.explanation(),
            "actions": [spec.describe() for spec in r.actions],
        }
        for r in evaluation.results
    ]


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        # sorted: JSONB (PostgreSQL) does not keep the order keys were written in
        return ", ".join(f"{k}={_value(v)}" for k, v in sorted(value.items()) if v is not None) or "-"
    return "-" if value is None else str(value)


def format_explanation(explanation: Explanation) -> list[str]:
    """Lines for ``rules explain``: each rule, fired or not, each condition with expected and found values."""
    m = explanation.mention
    lines = [
        f"mention {m.id} [{m.source}/{m.source_type}] by {m.author or '?'}: sentiment={m.sentiment or '-'} "
        f"language={m.language or '-'} customer_id={m.customer_id or '-'} (link: {m.link_method or '-'})",
        f"  {' '.join(((m.title or '') + ' ' + (m.text or '')).split())[:160]}",
    ]
    if not explanation.stored:
        lines.append("  no decisions were stored for this mention; this is what the CURRENT rules would decide:")
    if not explanation.decisions:
        lines.append("  no rules were evaluated for this mention")
    for decision in explanation.decisions:
        detail = decision["explanation"]
        verdict = "FIRED" if decision["fired"] else "did not fire"
        why = f" ({detail['skipped']})" if detail.get("skipped") else ""
        lines.append(f"rule {decision['rule']!r}: {verdict}{why}")
        for condition in detail.get("conditions", []):
            mark = "ok  " if condition["matched"] else "FAIL"
            lines.append(
                f"  {mark} {condition['condition']}: expected {_value(condition['expected'])}; "
                f"found {_value(condition['actual'])}"
            )
        if not detail.get("conditions"):
            lines.append("  (no conditions: matches every mention)")
        for action in decision["actions"]:
            outcome = action.get("outcome")
            shown = {k: v for k, v in action.items() if k not in ("action", "outcome")}
            lines.append(f"  -> {action['action']} {_value(shown)}" + (f": {outcome}" if outcome else ""))
        for action in detail.get("suppressed_actions", []):
            lines.append(f"  -> {action['action']} not done: {action['by']}")
    return lines


@dataclass
class BacktestSummary:
    """Totals of a backtest."""

    mentions: int = 0
    with_actions: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)


def backtest(
    session: Session,
    ruleset: RuleSet,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> Iterator[tuple[Mention, Evaluation]]:
    """Replay stored mentions (oldest first) through ``ruleset`` without acting.

    Facts about customers (open tickets, orders) are read as they are now, not as they were.
    """
    statement = select(Mention.id).order_by(col(Mention.published_at), col(Mention.id))
    if since is not None:
        statement = statement.where(col(Mention.published_at) >= since)
    if until is not None:
        statement = statement.where(col(Mention.published_at) < until)
    if source is not None:
        statement = statement.where(Mention.source == source)
    if limit is not None:
        statement = statement.limit(limit)
    ids = list(session.exec(statement))
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        loaded = {m.id: m for m in session.exec(select(Mention).where(col(Mention.id).in_(chunk)))}
        for mention_id in chunk:
            mention = loaded[mention_id]
            yield mention, ruleset.evaluate(build_facts(session, mention, ruleset, mention.published_at))


def summarise(
    rows: Iterator[tuple[Mention, Evaluation]], summary: BacktestSummary
) -> Iterator[tuple[Mention, Evaluation]]:
    """Pass rows through while counting mentions, fired rules and actions into ``summary``."""
    for mention, evaluation in rows:
        summary.mentions += 1
        planned = evaluation.planned()
        if planned:
            summary.with_actions += 1
        for result in evaluation.fired:
            summary.fired[result.rule.name] += 1
        for _rule, spec in planned:
            summary.actions[spec.kind] += 1
        yield mention, evaluation
