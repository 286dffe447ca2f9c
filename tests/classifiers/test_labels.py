from __future__ import annotations

import pytest

from classifiers.base import ClassifierError
from classifiers.labels import normalise_labels


@pytest.mark.parametrize(
    ("id2label", "targets"),
    [
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, ("negative", "neutral", "positive")),
        ({0: "LABEL_0", 1: "LABEL_1"}, ("negative", "positive")),
        ({0: "negative", 1: "neutral", 2: "positive"}, ("negative", "neutral", "positive")),
        (
            {0: "positive", 1: "negative", 2: "neutral"},
            ("positive", "negative", "neutral"),
        ),  # oliverguhr's order
        ({0: "NEG", 1: "NEU", 2: "POS"}, ("negative", "neutral", "positive")),
        (
            {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"},
            ("negative",) * 2 + ("neutral",) + ("positive",) * 2,
        ),
        ({0: "1", 1: "2", 2: "3", 3: "4", 4: "5"}, ("negative",) * 2 + ("neutral",) + ("positive",) * 2),
        (
            {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3", 4: "LABEL_4"},
            ("negative",) * 2 + ("neutral",) + ("positive",) * 2,
        ),
    ],
)
def test_known_label_schemes(id2label: dict[int, str], targets: tuple[str, ...]) -> None:
    assert normalise_labels(id2label).targets == targets


def test_stars_are_summed_per_label() -> None:
    label_map = normalise_labels({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"})
    assert label_map.combine([0.3, 0.3, 0.2, 0.1, 0.1], neutral_below=0.7) == ("negative", 0.6)


def test_two_class_confident_and_unsure() -> None:
    label_map = normalise_labels({0: "NEGATIVE", 1: "POSITIVE"})
    assert label_map.combine([0.05, 0.95], neutral_below=0.7) == ("positive", 0.95)
    label, score = label_map.combine([0.45, 0.55], neutral_below=0.7)
    assert label == "neutral" and score == pytest.approx(0.9)


def test_unknown_labels_ask_for_an_override() -> None:
    with pytest.raises(ClassifierError, match=r"cannot tell what model label 'toxic'.*labels = "):
        normalise_labels({0: "toxic", 1: "positive"})


def test_labels_without_both_poles_are_rejected() -> None:
    with pytest.raises(ClassifierError, match="do not include both"):
        normalise_labels({0: "neutral", 1: "positive"})


def test_override_values_are_checked() -> None:
    with pytest.raises(ClassifierError, match="is not one of negative, neutral, positive"):
        normalise_labels({0: "a", 1: "b"}, {"a": "bad", "b": "positive"})
    assert normalise_labels({0: "a", 1: "b"}, {"0": "negative", "1": "positive"}).targets == (
        "negative",
        "positive",
    )
