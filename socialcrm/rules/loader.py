"""Compile ``[[rules]]`` and ``[templates]`` into a RuleSet, reporting ``rules[N].field`` problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from socialcrm.errors import ConfigError


def compile_rules(
    rules: Sequence[Mapping[str, Any]], templates: Mapping[str, Mapping[str, str]], *, webhooks: set[str]
) -> list[Mapping[str, Any]]:
    """Validate the rules; the full engine replaces this with a compiled RuleSet."""
    problems = [f"rules[{i}].name: required" for i, rule in enumerate(rules) if not rule.get("name")]
    if problems:
        raise ConfigError(problems)
    return list(rules)
