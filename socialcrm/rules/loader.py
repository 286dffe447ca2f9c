"""Compile ``[[rules]]`` and ``[templates]`` into a RuleSet; every problem as ``rules[N].field: why``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from socialcrm.errors import ConfigError
from socialcrm.rules.actionspec import ActionSpec, ActionSpecError, compile_action
from socialcrm.rules.condition_result import Condition
from socialcrm.rules.conditions import compile_when
from socialcrm.rules.ruleset import DEFAULT_ORDER, Rule, RuleSet
from socialcrm.rules.templates import compile_templates

MAX_RULE_NAME = 128  # what the rule columns of decisions, tickets, drafts and action keys hold
RULE_KEYS = ("name", "order", "stop", "enabled", "description", "when", "then")


def compile_rules(
    rules: Sequence[Mapping[str, Any]],
    templates: Mapping[str, Mapping[str, str]],
    *,
    webhooks: set[str] | frozenset[str] = frozenset(),
) -> RuleSet:
    """Compile the rules in file order; raise ConfigError listing every problem at once."""
    compiled_templates, problems = compile_templates(templates)
    template_names = set(templates)
    compiled: list[Rule] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(rules):
        where = f"rules[{index}]"
        rule = _compile_rule(raw, index, where, compiled_templates, template_names, set(webhooks), names, problems)
        if rule is not None:
            compiled.append(rule)
    problems.extend(_check_suppress_targets(compiled, names))
    if problems:
        raise ConfigError(problems)
    ordered = sorted(compiled, key=lambda r: (r.order, r.position))
    return RuleSet(rules=tuple(ordered), templates=compiled_templates)


def _compile_rule(
    raw: Mapping[str, Any],
    index: int,
    where: str,
    templates: Mapping[str, Any],
    template_names: set[str],
    webhooks: set[str],
    names: dict[str, int],
    problems: list[str],
) -> Rule | None:
    """One ``[[rules]]`` table as a Rule, or None after adding its problems to ``problems``."""
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    before = len(problems)
    for key in raw:
        if key not in RULE_KEYS:
            problems.append(f"{where}.{key}: unknown key (allowed: {', '.join(RULE_KEYS)})")
    name = _rule_name(raw, index, where, names, problems)
    order = raw.get("order", DEFAULT_ORDER)
    if isinstance(order, bool) or not isinstance(order, int):
        problems.append(f"{where}.order: must be a whole number (lower runs first)")
        order = DEFAULT_ORDER
    stop = _flag(raw, "stop", False, where, problems)
    enabled = _flag(raw, "enabled", True, where, problems)
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: must be a string")
        description = ""
    conditions = _conditions(raw.get("when", {}), name, where, problems)
    actions = _actions(raw.get("then"), templates, template_names, webhooks, where, problems)
    if len(problems) > before:
        return None
    return Rule(
        name=name,
        position=index,
        order=order,
        stop=stop,
        enabled=enabled,
        description=description,
        conditions=tuple(conditions),
        actions=tuple(actions),
    )


def _rule_name(raw: Mapping[str, Any], index: int, where: str, names: dict[str, int], problems: list[str]) -> str:
    """The rule's name, remembered in ``names``; a stand-in (``#N``) when it has none."""
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}.name: required, a non-empty string")
        return f"#{index}"
    if len(name) > MAX_RULE_NAME:
        problems.append(f"{where}.name: at most {MAX_RULE_NAME} characters (it has {len(name)})")
    if name in names:
        problems.append(f"{where}.name: duplicate rule name {name!r} (also rules[{names[name]}])")
    else:
        names[name] = index
    return name


def _flag(raw: Mapping[str, Any], flag: str, default: bool, where: str, problems: list[str]) -> bool:
    value = raw.get(flag, default)
    if not isinstance(value, bool):
        problems.append(f"{where}.{flag}: must be true or false")
        return default
    return value


def _conditions(when: Any, rule_name: str, where: str, problems: list[str]) -> list[Condition]:
    if not isinstance(when, Mapping):
        problems.append(f"{where}.when: must be a table ([rules.when])")
        return []
    conditions, errors = compile_when(when, rule_name)
    problems.extend(f"{where}.when.{err.field}: {err}" for err in errors)
    return conditions


def _actions(
    then: Any,
    templates: Mapping[str, Any],
    template_names: set[str],
    webhooks: set[str],
    where: str,
    problems: list[str],
) -> list[ActionSpec]:
    if isinstance(then, Mapping):
        then = [then]
    if not isinstance(then, list) or not then:
        problems.append(f"{where}.then: at least one action is required ([[rules.then]] with action = ...)")
        return []
    actions: list[ActionSpec] = []
    for position, table in enumerate(then):
        at = f"{where}.then[{position}]"
        if not isinstance(table, Mapping):
            problems.append(f"{at}: must be a table")
            continue
        try:
            actions.append(compile_action(table, templates, template_names, webhooks))
        except ActionSpecError as err:
            problems.append(f"{at}.{err.field}: {err}")
    return actions


def _check_suppress_targets(rules: list[Rule], names: dict[str, int]) -> list[str]:
    """A suppress action naming a rule that does not exist is a typo, not a silent no-op."""
    from fnmatch import fnmatchcase

    problems = []
    for rule in rules:
        for position, spec in enumerate(rule.actions):
            for pattern in spec.options.get("rules", ()) if spec.kind == "suppress" else ():
                if not any(fnmatchcase(name, pattern) for name in names):
                    problems.append(
                        f"rules[{rule.position}].then[{position}].rules: no rule matches {pattern!r}"
                        f" (rules: {', '.join(names)})"
                    )
    return problems
