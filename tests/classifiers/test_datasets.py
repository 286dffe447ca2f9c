"""The readers of data/sentiment and the metrics they are scored with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.base import ClassifierError
from classifiers.datasets import DATASETS, Example, drop_overlap, load
from classifiers.metrics import score_report
from classifiers.text import prepare

DATA = Path(__file__).resolve().parents[2] / "data" / "sentiment"


@pytest.mark.parametrize("spec", DATASETS, ids=lambda spec: spec.name)
def test_every_set_reads_with_three_labels(spec) -> None:
    examples = load(spec.name, DATA)
    assert len(examples) > 500
    assert {e.label for e in examples} == {"negative", "neutral", "positive"}
    assert all(e.text and e.language == spec.language for e in examples)


def test_semeval_unicode_escapes_are_decoded() -> None:
    texts = [e.text for e in load("semeval2013-2016", DATA)]
    assert not any("\\u2019" in text for text in texts)


def test_drop_overlap_removes_held_out_texts_and_duplicates() -> None:
    train = [
        Example("Great service! http://t.co/x", "positive", "en", "a"),
        Example("great service", "positive", "en", "a"),
        Example("Bad train", "negative", "en", "a"),
    ]
    held_out = [Example("BAD train!!", "negative", "en", "b")]
    assert [e.text for e in drop_overlap(train, held_out)] == ["Great service! http://t.co/x"]


def test_unknown_set_and_missing_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="unknown data set 'imdb'"):
        load("imdb", DATA)
    with pytest.raises(ClassifierError, match="sb10k-train: .*train.tsv not found"):
        load("sb10k-train", tmp_path)


def test_metrics() -> None:
    gold = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    report = score_report(gold, predicted)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_prepare_masks_links_and_handles() -> None:
    assert prepare("@DB_Bahn  Zug\nfällt aus https://t.co/abc") == "@user Zug fällt aus http"
    assert len(prepare("x" * 100_000)) == 4000
