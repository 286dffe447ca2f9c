"""The actions of ``[[rules.then]]``, compiled and checked at load time (no database here).

open_ticket (team, priority), draft_reply (template), tag (tags, target), set_priority (priority),
notify (webhook, message), suppress (rules, actions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from socialcrm.models.vocabulary import PRIORITIES
from socialcrm.rules.templates import CompiledTemplate

ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "open_ticket": ("team", "priority", "assignee"),
    "draft_reply": ("template", "assignee"),
    "tag": ("tags", "target"),
    "set_priority": ("priority",),
    "notify": ("webhook", "message"),
    "suppress": ("rules", "actions"),
}
TAG_TARGETS = ("mention", "customer")


class ActionSpecError(ValueError):
    """An action table is invalid; ``field`` is the key inside the action it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ActionSpec:
    """One configured action of one rule."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    template: CompiledTemplate | None = None

    def describe(self) -> dict[str, Any]:
        """The action as shown in explanations and backtests."""
        return {"action": self.kind, **{k: v for k, v in self.options.items()}}


# What the columns the options end up in hold: ticket.team, ticket/draft assignee, replydraft.template.
MAX_LENGTHS = {"team": 64, "assignee": 64, "template": 128}


def _text(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ActionSpecError(field_name, "must be a non-empty string")
    limit = MAX_LENGTHS.get(field_name)
    if limit is not None and len(value.strip()) > limit:
        raise ActionSpecError(field_name, f"at most {limit} characters (it has {len(value.strip())})")
    return value.strip()


def _names(field_name: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise ActionSpecError(field_name, "must be a non-empty string or list of strings")
    return [v.strip() for v in items]


def _priority(value: Any) -> str:
    if value not in PRIORITIES:
        raise ActionSpecError("priority", f"unknown priority {value!r} (allowed: {', '.join(PRIORITIES)})")
    return str(value)


def compile_action(
    raw: Mapping[str, Any],
    templates: Mapping[str, CompiledTemplate],
    template_names: set[str],
    webhooks: set[str],
) -> ActionSpec:
    """Check one ``[[rules.then]]`` table and return its spec; raise ActionSpecError naming the field."""
    kind = raw.get("action")
    if kind not in ACTION_KEYS:
        raise ActionSpecError("action", f"unknown action {kind!r} (allowed: {', '.join(ACTION_KEYS)})")
    allowed = ACTION_KEYS[kind]
    for key in raw:
        if key != "action" and key not in allowed:
            raise ActionSpecError(key, f"unknown key for {kind} (allowed: {', '.join(allowed)})")
    options: dict[str, Any] = {}
    template = None
    if kind == "open_ticket":
        options["priority"] = _priority(raw.get("priority", "normal"))
        if "team" in raw:
            options["team"] = _text("team", raw["team"])
        if "assignee" in raw:
            options["assignee"] = _text("assignee", raw["assignee"])
    elif kind == "draft_reply":
        name = _text("template", raw.get("template"))
        if name not in template_names:
            known = ", ".join(sorted(template_names)) or "none defined"
            raise ActionSpecError("template", f"no template {name!r} in [templates] (defined: {known})")
        template = templates.get(name)  # None when the template itself has problems (reported there)
        options["template"] = name
        if "assignee" in raw:
            options["assignee"] = _text("assignee", raw["assignee"])
    elif kind == "tag":
        options["tags"] = _names("tags", raw.get("tags"))
        target = raw.get("target", "mention")
        if target not in TAG_TARGETS:
            raise ActionSpecError("target", f"must be one of: {', '.join(TAG_TARGETS)}")
        options["target"] = target
    elif kind == "set_priority":
        options["priority"] = _priority(raw.get("priority"))
    elif kind == "notify":
        name = _text("webhook", raw.get("webhook"))
        if name not in webhooks:
            known = ", ".join(sorted(webhooks)) or "none defined"
            raise ActionSpecError("webhook", f"no [[webhooks]] entry named {name!r} (defined: {known})")
        options["webhook"] = name
        if "message" in raw:
            options["message"] = _text("message", raw["message"])
    elif kind == "suppress":
        if "rules" in raw:
            options["rules"] = _names("rules", raw["rules"])
        if "actions" in raw:
            actions = _names("actions", raw["actions"])
            unknown = [a for a in actions if a not in ACTION_KEYS or a == "suppress"]
            if unknown:
                allowed_kinds = ", ".join(k for k in ACTION_KEYS if k != "suppress")
                raise ActionSpecError("actions", f"unknown action {unknown[0]!r} (allowed: {allowed_kinds})")
            options["actions"] = actions
    return ActionSpec(kind=kind, options=options, template=template)
