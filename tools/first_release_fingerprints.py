"""Turn the first release's adapters into the packaged research set, with the fingerprints of its training texts.

The first release trained LoRA adapters and heads on a GPU (classifiers/MODEL_CARD.md) after a
de-duplication that missed most overlaps (it compared lower-cased text with @handles kept, while
TweetEval writes @user). This replays that de-duplication exactly, so the file can say which texts
it was trained on and ``socialcrm classifier eval`` can mark in-sample texts. Usage:

    .venv/bin/python tools/first_release_fingerprints.py FIRST_RELEASE.safetensors OUTPUT.safetensors
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import torch

from classifiers.adapters import load_adapters, save_adapters
from classifiers.datasets import fingerprints, load
from classifiers.recipe import RECIPES

DATA = Path(__file__).resolve().parents[1] / "data" / "sentiment"
TRAIN_SETS = [
    "semeval2013-2016",
    "germeval2017-train-twitter",
    "sb10k-train",
    "potts-train",
    "dai-labor",
    "one-million-posts",
]
EXPECTED_EXAMPLES = 77_101  # the count the first release's file records (GermEval dev counted twice)


def first_release_key(text: str) -> str:
    """The first release's matching key: lower case, links dropped, non-word runs as one space."""
    text = re.sub(r"https?://\S+", "", text.lower())
    return re.sub(r"\W+", " ", text).strip()


def first_release_training_texts() -> list[str]:
    """Every text the first release trained on, in its order (its TweetEval reader kept \\uXXXX escapes)."""
    folder = DATA / "en/tweeteval-val"
    tweeteval = [line.strip() for line in (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()]
    germeval_dev = [example.text for example in load("germeval2017-dev", DATA)]
    other_dev = [example.text for name in ("sb10k-dev", "potts-dev") for example in load(name, DATA)]
    seen = {first_release_key(text) for text in tweeteval + germeval_dev + other_dev}
    kept = []
    for name in TRAIN_SETS:
        for example in load(name, DATA):
            key = first_release_key(example.text)
            if key and key not in seen:
                seen.add(key)
                kept.append(example.text)
    if len(kept) + 2 * len(germeval_dev) != EXPECTED_EXAMPLES:
        raise SystemExit(f"replay gives {len(kept) + 2 * len(germeval_dev)} examples, not {EXPECTED_EXAMPLES}")
    return kept + germeval_dev


def main() -> None:
    source, output = Path(sys.argv[1]), Path(sys.argv[2])
    config, tensors = load_adapters(source)
    texts = first_release_training_texts()
    config.set_name = "research"
    config.licence = RECIPES["research"].licence
    config.record = {
        "recipe": "first release (LoRA and heads trained together on one GPU, 3 epochs, 230 s)",
        "examples": EXPECTED_EXAMPLES,
        "note": "trained on all of GermEval 2017 dev and on 744 TweetEval validation tweets: "
        "classifier eval marks them in-sample",
        "first_release_metrics": config.record.get("metrics", {}),
    }
    tensors["record.fingerprints"] = torch.from_numpy(fingerprints(texts).view(np.int32))
    save_adapters(output, config, tensors)
    print(f"Wrote {output}: {len(texts)} distinct training texts fingerprinted")


if __name__ == "__main__":
    main()
