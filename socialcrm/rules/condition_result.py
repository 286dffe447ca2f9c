"""What a rule condition reports: its result on one mention, its compile error, and the protocol it follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from socialcrm.rules.facts import Facts


class ConditionError(ValueError):
    """A condition's value is invalid; ``field`` is the key under ``when`` it concerns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """The outcome of one condition on one mention: the explanation's building block."""

    name: str
    matched: bool
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        """The result as stored in a decision's explanation."""
        return {
            "condition": self.name,
            "matched": self.matched,
            "expected": self.expected,
            "actual": self.actual,
        }


class Condition(Protocol):
    """What every condition offers: a name for explanations and a pure check."""

    @property
    def name(self) -> str:
        """The name shown in explanations (the key under ``when``)."""
        ...

    def check(self, facts: Facts) -> ConditionResult:
        """Whether ``facts`` meet the condition, with what was expected and found; no I/O."""
        ...
