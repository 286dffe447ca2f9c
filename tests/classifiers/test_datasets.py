"""The readers of data/sentiment and the metrics they are scored with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classifiers.base import ClassifierError
from classifiers.datasets import (
    DATASETS,
    Example,
    drop_overlap,
    fingerprints,
    fold_of,
    load,
    normalise_for_matching,
    seen_in,
)
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
        Example("@DB_Bahn Zug fällt aus https://t.co/abc", "negative", "de", "a"),
        Example("🙄🙄", "negative", "de", "a"),
    ]
    held_out = [
        Example("BAD train!!", "negative", "en", "b"),
        Example("@user  zug FÄLLT aus http", "negative", "de", "b"),
        Example("🙄", "negative", "de", "b"),
    ]
    assert [e.text for e in drop_overlap(train, held_out)] == ["Great service! http://t.co/x", "🙄🙄"]


@pytest.mark.parametrize(
    ("raw", "tweeteval"),
    [
        ("@Microsoft how about you make a system", "@user how about you make a system"),
        ("dear @Microsoft the new Office is great http://t.co/x", "dear @user the new Office is great"),
        ("Rui En\\u2019s ex boyfriend\\u002c framed", "Rui En’s ex boyfriend, framed"),
        ("RT @fan: So   EXCITED &amp; ready!!", "So excited & ready"),
        ("Ich  bin\nbegeistert ☺", "ich bin begeistert ☺"),
    ],
)
def test_normalised_text_matches_across_the_sets_conventions(raw: str, tweeteval: str) -> None:
    assert normalise_for_matching(raw) == normalise_for_matching(tweeteval)


def test_different_texts_keep_different_keys() -> None:
    assert normalise_for_matching("not good") != normalise_for_matching("good")
    assert normalise_for_matching("🙂") != normalise_for_matching("🙁")


def test_fingerprints_know_the_training_texts() -> None:
    known = fingerprints(["Great service!", "@DB Zug fällt aus", "Great service"])
    assert len(known) == 2 and list(known) == sorted(known)
    seen = seen_in(["GREAT service", "@user zug fällt aus http", "something else", "fällt aus"], known)
    assert seen.tolist() == [True, True, False, False]
    assert seen_in(["x"], fingerprints([])).tolist() == [False]


def test_folds_keep_copies_together_and_are_balanced() -> None:
    assert fold_of("Der Zug ist spät", 5) == fold_of("der zug ist SPÄT!", 5)
    texts = [e.text for e in load("sb10k-dev", DATA)]
    counts = np.bincount([fold_of(text, 5) for text in texts], minlength=5)
    assert counts.min() > 0.15 * len(texts)


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
