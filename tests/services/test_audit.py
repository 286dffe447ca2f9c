"""The audit log's vocabulary: every action the code records is one of the names written in services.audit."""

from __future__ import annotations

import ast
from pathlib import Path

from socialcrm.services.audit import AUDIT_ACTIONS

ROOT = Path(__file__).resolve().parents[2] / "socialcrm"


def _recorded_actions() -> dict[str, list[str]]:
    """Each action passed to ``audit.record`` or ``record_many`` (both arms of a conditional), and where."""
    found: dict[str, list[str]] = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            if node.func.attr not in ("record", "record_many"):
                continue
            if not (isinstance(node.func.value, ast.Name) and node.func.value.id == "audit") or len(node.args) < 3:
                continue
            action = node.args[2]
            arms = [action.body, action.orelse] if isinstance(action, ast.IfExp) else [action]
            for arm in arms:
                where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                assert isinstance(arm, ast.Constant) and isinstance(arm.value, str), f"{where}: not a written name"
                found.setdefault(arm.value, []).append(where)
    return found


def test_every_recorded_action_is_in_the_vocabulary_and_every_name_is_used() -> None:
    recorded = _recorded_actions()
    assert len(AUDIT_ACTIONS) == len(set(AUDIT_ACTIONS))
    assert {a: w for a, w in recorded.items() if a not in AUDIT_ACTIONS} == {}
    assert [a for a in AUDIT_ACTIONS if a not in recorded] == []
