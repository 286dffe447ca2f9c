"""The starter labels' quality and the cost of custom labels: figures for the README, nothing asserted.

Usage: python bench/bench_labels.py [--features vectors|words|both] [--licence commercial|research]

For each starter label (socialcrm/labelling/starter_labels.toml: churn, purchase-intent; German and
English) it prints precision and recall
- cross-validated on the starter examples (what the web app and ``socialcrm labels train`` show),
- on held-out texts written apart from them (bench/data/labels_heldout.toml), never trained on,
per language and together, with the head trained on every starter example. Features: the default
classifier's sentence vectors, and hashed words (the fallback with the lexicon classifier). It also
times training (cross-validation plus the final fit, encoding included) and the head alone per 1,000 posts
(the pipeline reuses the classifier's vectors, so that is what a label adds per post with vectors).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tomllib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STARTER = REPO / "socialcrm" / "labelling" / "starter_labels.toml"
HELD_OUT = REPO / "bench" / "data" / "labels_heldout.toml"


def _figures(scores: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, object]:
    predicted = scores >= threshold
    truth = targets.astype(bool)
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    return {
        "precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "positives": int(truth.sum()),
        "negatives": int((~truth).sum()),
    }


def _language(texts: list[str]) -> list[str]:
    from classifiers.language import resolve_languages

    return list(resolve_languages(texts, None))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", choices=["vectors", "words", "both"], default="both")
    parser.add_argument("--licence", choices=["commercial", "research"], default="commercial")
    args = parser.parse_args()

    from socialcrm.labelling.features import Features, SentenceFeatures, WordFeatures
    from socialcrm.labelling.training import train

    starter = tomllib.loads(STARTER.read_text(encoding="utf-8"))
    held = tomllib.loads(HELD_OUT.read_text(encoding="utf-8"))
    kinds: list[Features] = []
    if args.features in ("vectors", "both"):
        from classifiers.embedded import EmbeddedClassifier

        kinds.append(SentenceFeatures(EmbeddedClassifier({"licence": args.licence})))
    if args.features in ("words", "both"):
        kinds.append(WordFeatures())
    print(json.dumps({"load_average": [round(x, 2) for x in os.getloadavg()]}))
    for features in kinds:
        for name, table in starter.items():
            texts = table["positive"] + table["negative"]
            positive = [True] * len(table["positive"]) + [False] * len(table["negative"])
            threshold = float(table.get("threshold", 0.5))
            started = time.monotonic()
            trained = train(texts, positive, features, threshold)
            seconds = time.monotonic() - started
            targets = np.asarray(positive, dtype=np.int64)
            result: dict[str, object] = {
                "label": name,
                "features": features.key,
                "cross_validated": {
                    **_figures(trained.held_out_scores, targets, threshold),
                    "folds": trained.estimate.folds,
                },
                "train_seconds": round(seconds, 1),
            }
            h_texts = held[name]["positive"] + held[name]["negative"]
            h_targets = np.asarray([1] * len(held[name]["positive"]) + [0] * len(held[name]["negative"]))
            h_scores = trained.head.scores(features.of(h_texts))
            result["held_out"] = _figures(h_scores, h_targets, threshold)
            languages = np.asarray(_language(h_texts))
            for language in ("de", "en"):
                mask = languages == language
                result[f"held_out_{language}"] = _figures(h_scores[mask], h_targets[mask], threshold)
            print(json.dumps(result))
        vectors = features.of(["Ich kündige meinen Vertrag, das reicht mir jetzt."] * 1000)
        started = time.monotonic()
        for _ in range(10):
            trained.head.scores(vectors)
        print(
            json.dumps(
                {"features": features.key, "predict_ms_per_1000_posts": round((time.monotonic() - started) * 100, 2)}
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
