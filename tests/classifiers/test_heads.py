"""Logistic-regression heads on sentence vectors."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.heads import fit_linear_head


def blobs(seed: int, per_class: int = 200, shift: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * shift
    vectors = np.concatenate([centre + rng.normal(size=(per_class, 16)) for centre in centres])
    scale = np.linspace(0.01, 100, 16)  # badly scaled features: the fit standardises them
    return (vectors * scale).astype(np.float32), np.repeat(np.arange(3), per_class)


def test_a_head_separates_classes_it_was_not_shown_the_examples_of() -> None:
    train, train_labels = blobs(0)
    head = fit_linear_head(train, train_labels, 3)
    rng = np.random.default_rng(1)
    index = rng.permutation(len(train))[:100]
    noisy = train[index] * (1 + 0.01 * rng.normal(size=train[index].shape)).astype(np.float32)
    assert (head.logits(noisy).argmax(axis=1) == train_labels[index]).mean() > 0.95
    assert head.weight.shape == (3, 16) and head.bias.shape == (3,)


def test_balanced_and_weighted_fits_shift_decisions_towards_rare_classes() -> None:
    vectors, labels = blobs(2, shift=0.4)  # overlapping classes
    keep = (labels != 0) | (np.arange(len(labels)) % 10 == 0)  # class 0 is rare
    plain = fit_linear_head(vectors[keep], labels[keep], 3)
    balanced = fit_linear_head(vectors[keep], labels[keep], 3, balanced=True)
    weighted = fit_linear_head(vectors[keep], labels[keep], 3, weights=np.where(labels[keep] == 0, 10.0, 1.0))
    rare_plain = (plain.logits(vectors).argmax(axis=1) == 0).sum()
    assert (balanced.logits(vectors).argmax(axis=1) == 0).sum() > rare_plain
    assert (weighted.logits(vectors).argmax(axis=1) == 0).sum() > rare_plain


def test_fits_are_deterministic_and_refuse_empty_input() -> None:
    vectors, labels = blobs(3)
    first, second = fit_linear_head(vectors, labels, 3), fit_linear_head(vectors, labels, 3)
    assert np.array_equal(first.weight, second.weight)
    with pytest.raises(ValueError, match="no examples"):
        fit_linear_head(vectors[:0], labels[:0], 3)
