"""The classifier contract: batched sentiment with a language, behind one protocol.

Classifiers are plain synchronous, CPU-bound objects; the daemon calls them in batches from a
worker thread so the event loop never waits on inference. They never import ``socialcrm``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

Label = Literal["negative", "neutral", "positive"]
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")
Language = str  # "de", "en" or "other" (ISO 639-1 where detection knows more)


@dataclass(frozen=True, slots=True)
class Sentiment:
    """One text's sentiment: a label, the classifier's confidence in it (0..1) and who said so."""

    label: Label
    score: float
    model: str

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown sentiment label {self.label!r}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"sentiment score {self.score} is outside 0..1")


@dataclass(frozen=True, slots=True)
class Analysis:
    """Sentiment and detected language of one text; ``vector``: its sentence vector where the classifier has one.

    The embedded classifier hands over the vector its sentiment heads read (float32), so heads for other
    labels reuse the same encoder pass instead of encoding the text again.
    """

    sentiment: Sentiment
    language: Language
    vector: Any = field(default=None, compare=False, repr=False)


class ClassifierError(Exception):
    """A classifier could not be built or could not run."""


@runtime_checkable
class Classifier(Protocol):
    """Anything that scores texts in batches."""

    kind: ClassVar[str]
    model_id: str

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """Return one Analysis per text, in order; ``languages`` skips detection where given."""
        ...


@runtime_checkable
class LaneClassifier(Protocol):
    """A classifier that runs best as ``lanes`` threads side by side, each prepared by ``prepare_lane``.

    Optional: a classifier without ``lanes`` runs on one thread. The daemon starts ``lanes`` threads,
    calls ``prepare_lane`` once on each before it classifies there, and gives each thread whole batches.
    """

    lanes: int

    def prepare_lane(self) -> None:
        """Set up the calling thread as one lane (e.g. torch on one core)."""
        ...


class ClassifierFactory(Protocol):
    """What an entry point in ``socialcrm.classifiers`` loads: ``cls(options)`` builds one."""

    kind: ClassVar[str]

    def __call__(self, options: Mapping[str, Any]) -> Classifier:
        """Build a classifier from its config options."""
