"""A label's head: logistic regression on features of the marked examples, and its cross-validated precision/recall.

The estimate is honest by construction: every example is scored by a head fitted without it
(stratified k-fold, k = min(5, positives, negatives)), and the figures say how many examples they rest
on. The head that is stored is then fitted on all examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from socialcrm.labelling.features import Features, sigmoid

MIN_EACH = 3  # positives and negatives needed to train (and to estimate with at least 3 folds)
MAX_FOLDS = 5
L2 = 1e-2  # fixed in advance, not tuned on the starter examples the README reports on
ITERATIONS = 100


@dataclass(frozen=True, slots=True)
class LabelHead:
    """``score = sigmoid(features @ weight + bias)``: the probability that a text has the label."""

    weight: np.ndarray  # float32 (features,)
    bias: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Scores (0..1) of feature rows."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)
        return sigmoid(np.asarray(features, dtype=np.float32) @ self.weight + self.bias)

    def to_bytes(self) -> bytes:
        """The weights then the bias, float32 little-endian (how the database keeps a head)."""
        return np.concatenate([self.weight, [self.bias]]).astype("<f4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> LabelHead:
        """The head ``to_bytes`` wrote."""
        values = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if len(values) < 2:
            raise ValueError("a stored label head is empty")
        return cls(values[:-1].copy(), float(values[-1]))


@dataclass(frozen=True, slots=True)
class Estimate:
    """Precision and recall at a threshold, from scores of examples no head saw while being fitted."""

    precision: float | None  # None when nothing was predicted positive
    recall: float | None
    true_positives: int
    false_positives: int
    false_negatives: int
    positives: int
    negatives: int
    folds: int

    @property
    def examples(self) -> int:
        """How many examples the estimate rests on."""
        return self.positives + self.negatives


@dataclass(frozen=True, slots=True)
class Trained:
    """A head fitted on every example, with the cross-validated estimate and the out-of-fold scores."""

    head: LabelHead
    estimate: Estimate
    features_key: str
    held_out_scores: np.ndarray


def fit_head(features: np.ndarray, targets: np.ndarray) -> LabelHead:
    """Fit the head on feature rows and 0/1 targets (classes weighed equally, whatever their counts)."""
    # Imported here: the fit runs on torch, which every process that only predicts (a worker, the
    # daemon with the word-list classifier) would otherwise load at start (~5 CPU s).
    from classifiers.heads import fit_linear_head

    rows = np.asarray(features, dtype=np.float32)
    # Only columns that vary among the examples can carry weight: hashed words leave most columns empty,
    # and fitting on the others alone is many times faster.
    used = np.flatnonzero(rows.std(axis=0) > 0)
    linear = fit_linear_head(rows[:, used], targets.astype(np.int64), 2, l2=L2, balanced=True, iterations=ITERATIONS)
    weight = np.zeros(rows.shape[1], dtype=np.float32)
    weight[used] = linear.weight[1] - linear.weight[0]
    return LabelHead(weight, float(linear.bias[1] - linear.bias[0]))


def folds_for(targets: np.ndarray, folds: int) -> np.ndarray:
    """The fold of each example: positives and negatives each dealt round-robin in a fixed shuffled order."""
    assignment = np.zeros(len(targets), dtype=np.int64)
    rng = np.random.default_rng(20261201)
    for value in (0, 1):
        members = np.flatnonzero(targets == value)
        members = members[rng.permutation(len(members))]
        assignment[members] = np.arange(len(members)) % folds
    return assignment


def cross_validated_scores(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, int]:
    """Each example's score from a head fitted on the other folds, and how many folds there were."""
    positives, negatives = int(targets.sum()), int(len(targets) - targets.sum())
    folds = min(MAX_FOLDS, positives, negatives)
    if folds < 2:
        raise ValueError("cross-validation needs at least two positive and two negative examples")
    assignment = folds_for(targets, folds)
    scores = np.zeros(len(targets), dtype=np.float32)
    for fold in range(folds):
        held = assignment == fold
        head = fit_head(features[~held], targets[~held])
        scores[held] = head.scores(features[held])
    return scores, folds


def estimate_at(scores: np.ndarray, targets: np.ndarray, threshold: float, folds: int) -> Estimate:
    """Precision and recall of ``scores >= threshold`` against the targets."""
    predicted = scores >= threshold
    truth = targets.astype(bool)
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    return Estimate(
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / (tp + fn) if tp + fn else None,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
        positives=int(truth.sum()),
        negatives=int((~truth).sum()),
        folds=folds,
    )


def check_counts(positives: int, negatives: int) -> None:
    """Raise ValueError unless there are enough examples of each kind to train and estimate."""
    if positives < MIN_EACH or negatives < MIN_EACH:
        raise ValueError(
            f"a label needs at least {MIN_EACH} examples that have it and {MIN_EACH} that have not; "
            f"it has {positives} and {negatives}"
        )


def train(texts: Sequence[str], positive: Sequence[bool], features: Features, threshold: float) -> Trained:
    """Cross-validate on the examples, then fit the head on all of them (CPU, seconds)."""
    targets = np.asarray(positive, dtype=np.int64)
    check_counts(int(targets.sum()), int(len(targets) - targets.sum()))
    rows = features.of(texts)
    scores, folds = cross_validated_scores(rows, targets)
    return Trained(fit_head(rows, targets), estimate_at(scores, targets, threshold, folds), features.key, scores)
