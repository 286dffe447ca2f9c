"""Compiled rules and their pure evaluation: facts in, an explained list of verdicts out.

Rules run by ``order`` (lower first), ties by their position in the file. A rule fires when all of
its conditions hold. ``stop = true`` ends the evaluation once the rule fires; a ``suppress`` action
silences later rules (by name, ``*`` globs allowed) or later actions (by kind). Every rule gets a
result, fired or not, so an explanation can say why and why not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from socialcrm.rules.actionspec import ActionSpec
from socialcrm.rules.condition_result import Condition, ConditionResult
from socialcrm.rules.conditions import (
    AuthorMetricCondition,
    ConsentCondition,
    CustomerCondition,
    LabelCondition,
    OneOf,
    OpenTicketCondition,
    OrderedProductCondition,
    QueryCondition,
    RegexCondition,
    ScoreRange,
)
from socialcrm.rules.facts import Facts
from socialcrm.rules.templates import CompiledTemplate
from socialcrm.rules.volume import VolumeCondition

DEFAULT_ORDER = 100
# ``OneOf`` conditions that read the mention itself (``segment`` reads its customer).
_MENTION_FIELDS = frozenset({"sentiment", "language", "source", "source_type"})


@dataclass(frozen=True)
class Rule:
    """One ``[[rules]]`` entry, compiled."""

    name: str
    position: int
    order: int = DEFAULT_ORDER
    stop: bool = False
    enabled: bool = True
    description: str = ""
    conditions: tuple[Condition, ...] = ()
    actions: tuple[ActionSpec, ...] = ()


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule on one mention."""

    rule: Rule
    fired: bool
    conditions: tuple[ConditionResult, ...]
    actions: tuple[ActionSpec, ...] = ()
    suppressed_actions: tuple[tuple[ActionSpec, str], ...] = ()
    skipped: str | None = None

    @property
    def matched(self) -> bool:
        """True when every condition held (the rule may still not fire: disabled, stopped, suppressed)."""
        return all(c.matched for c in self.conditions)

    def explanation(self) -> dict[str, Any]:
        """The JSON stored in Decision.explanation."""
        data: dict[str, Any] = {
            "order": self.rule.order,
            "matched": self.matched,
            "conditions": [c.as_dict() for c in self.conditions],
        }
        if self.skipped:
            data["skipped"] = self.skipped
        if self.suppressed_actions:
            data["suppressed_actions"] = [{**spec.describe(), "by": why} for spec, why in self.suppressed_actions]
        return data


@dataclass(frozen=True)
class Evaluation:
    """All rules' verdicts on one mention, in evaluation order."""

    results: tuple[RuleResult, ...]

    @property
    def fired(self) -> list[RuleResult]:
        """The results of the rules that fired, in evaluation order."""
        return [r for r in self.results if r.fired]

    def planned(self) -> list[tuple[Rule, ActionSpec]]:
        """The actions to perform, in order (suppress actions included; they do nothing when applied)."""
        return [(r.rule, spec) for r in self.results if r.fired for spec in r.actions]


@dataclass(frozen=True)
class RuleSet:
    """Every enabled and disabled rule, in evaluation order, with the templates they use."""

    rules: tuple[Rule, ...]
    templates: dict[str, CompiledTemplate] = field(default_factory=dict)

    @property
    def volume_conditions(self) -> list[VolumeCondition]:
        """The volume conditions of enabled rules (build_facts counts them)."""
        return [c for r in self.rules if r.enabled for c in r.conditions if isinstance(c, VolumeCondition)]

    @property
    def needs_orders(self) -> bool:
        """True when an enabled rule looks at ordered products (build_facts then reads orders)."""
        return any(isinstance(c, OrderedProductCondition) for r in self.rules if r.enabled for c in r.conditions)

    @property
    def needs_open_tickets(self) -> bool:
        """True when a rule (disabled ones too: explanations show it) asks if the customer has an open ticket.

        Only then are a customer's open tickets read for the facts: a prolific author may have thousands.
        """
        return any(isinstance(c, OpenTicketCondition) for r in self.rules for c in r.conditions)

    @property
    def needs_labels(self) -> bool:
        """True when an enabled rule looks at custom labels (build_facts then reads the mention's labels)."""
        return any(isinstance(c, LabelCondition) for r in self.rules if r.enabled for c in r.conditions)

    @property
    def label_names(self) -> list[str]:
        """The custom labels enabled rules name, sorted."""
        conditions = [c for r in self.rules if r.enabled for c in r.conditions if isinstance(c, LabelCondition)]
        return sorted({name for condition in conditions for name in condition.labels})

    @property
    def labels_by_rule(self) -> dict[str, list[str]]:
        """The custom labels each enabled rule names (rules that name none are left out), in rule order."""
        named = {
            r.name: sorted({name for c in r.conditions if isinstance(c, LabelCondition) for name in c.labels})
            for r in self.rules
            if r.enabled
        }
        return {rule: labels for rule, labels in named.items() if labels}

    def rule(self, name: str) -> Rule | None:
        """The rule called ``name``, if any."""
        return next((r for r in self.rules if r.name == name), None)

    def may_act(self, facts: Facts, kinds: tuple[str, ...]) -> list[tuple[str, str]]:
        """The (rule, action kind) pairs among ``kinds`` the rules could perform for the mention ``facts`` describe.

        Only the conditions about the mention itself are checked (its text, sentiment, language,
        source, author metrics); those about its customer, tickets, orders, labels and volume are
        taken to hold, and stops and suppressions to let everything through: whatever ``evaluate`` on
        the mention's full facts fires is among these (for drawing ids ahead: ``services.ingest``).
        """
        return [
            (rule.name, spec.kind)
            for rule in self.rules
            if rule.enabled and any(spec.kind in kinds for spec in rule.actions)
            if all(condition.check(facts).matched for condition in rule.conditions if _about_mention(condition))
            for spec in rule.actions
            if spec.kind in kinds
        ]

    def customer_allows(self, facts: Facts, actions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Those of ``may_act``'s ``actions`` whose rules' conditions about the customer hold for ``facts``.

        Checked are whether the author is a linked customer, a prospect or nobody, the segment and the
        marketing consent, which nothing a batch does changes; tags, open tickets, orders, labels and
        volume are still taken to hold.
        """
        allowed = {
            rule.name
            for rule in self.rules
            if all(condition.check(facts).matched for condition in rule.conditions if _about_customer(condition))
        }
        return [(rule, kind) for rule, kind in actions if rule in allowed]

    def evaluate(self, facts: Facts) -> Evaluation:
        """Decide, from ``facts`` alone, which rules fire and which actions follow."""
        results: list[RuleResult] = []
        stopped_by: str | None = None
        rule_blocks: list[tuple[list[str], str]] = []
        action_blocks: dict[str, str] = {}
        for rule in self.rules:
            checks = tuple(condition.check(facts) for condition in rule.conditions)
            matched = all(c.matched for c in checks)
            if not rule.enabled:
                results.append(RuleResult(rule, False, checks, skipped="rule is disabled"))
                continue
            if stopped_by is not None:
                results.append(RuleResult(rule, False, checks, skipped=f"rule {stopped_by!r} fired with stop = true"))
                continue
            blocker = next(
                (by for patterns, by in rule_blocks if any(fnmatchcase(rule.name, p) for p in patterns)), None
            )
            if matched and blocker is not None:
                results.append(RuleResult(rule, False, checks, skipped=f"suppressed by rule {blocker!r}"))
                continue
            if not matched:
                results.append(RuleResult(rule, False, checks))
                continue
            kept: list[ActionSpec] = []
            dropped: list[tuple[ActionSpec, str]] = []
            for spec in rule.actions:
                if spec.kind in action_blocks:
                    dropped.append((spec, f"suppressed by rule {action_blocks[spec.kind]!r}"))
                else:
                    kept.append(spec)
            results.append(RuleResult(rule, True, checks, tuple(kept), tuple(dropped)))
            for spec in kept:
                if spec.kind == "suppress":
                    names = spec.options.get("rules")
                    kinds = spec.options.get("actions")
                    if names:
                        rule_blocks.append((list(names), rule.name))
                    for kind in kinds or ():
                        action_blocks.setdefault(kind, rule.name)
                    if not names and not kinds:
                        rule_blocks.append((["*"], rule.name))
            if rule.stop:
                stopped_by = rule.name
        return Evaluation(tuple(results))


def _about_mention(condition: Condition) -> bool:
    """True for a condition that looks at the mention alone, never at its customer or the database."""
    if isinstance(condition, OneOf):
        return condition.name in _MENTION_FIELDS
    return isinstance(condition, ScoreRange | QueryCondition | RegexCondition | AuthorMetricCondition)


def _about_customer(condition: Condition) -> bool:
    """True for a condition on the customer that no action of a batch changes (tags do change: not these)."""
    if isinstance(condition, OneOf):
        return condition.name == "segment"
    return isinstance(condition, CustomerCondition | ConsentCondition)
