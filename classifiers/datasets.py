"""Readers for the labelled sentiment sets under ``data/sentiment`` (see its PROVENANCE.md)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from classifiers.base import LABELS, ClassifierError, Label, Language

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    label: Label
    language: Language
    source: str


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A named set: where it lives, how to read it, its metric and whether its licence allows commercial use."""

    name: str
    language: Language
    reader: Callable[[Path], list[Example]]
    role: str  # "train" or "dev"
    commercial: bool


def _label(raw: str, where: str) -> Label:
    label = raw.strip().lower()
    if label not in LABELS:
        raise ClassifierError(f"{where}: unknown label {raw!r}")
    return label  # type: ignore[return-value]


def _semeval(path: Path, source: str) -> list[Example]:
    examples = []
    for file in sorted(path.glob("*.tsv")):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split("\t")
            if len(fields) < 3 or fields[1] not in LABELS:
                continue
            text = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), "\t".join(fields[2:]))
            examples.append(Example(text.strip(), _label(fields[1], f"{file}:{number}"), "en", source))
    return examples


def read_semeval_pool(root: Path) -> list[Example]:
    return _semeval(root / "en/semeval2013-2016", "semeval2013-2016")


def read_tweeteval_val(root: Path) -> list[Example]:
    folder = root / "en/tweeteval-val"
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ClassifierError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    return [
        Example(text.strip(), LABELS[int(label)], "en", "tweeteval-val")
        for text, label in zip(texts, labels, strict=True)
    ]


def read_germeval_dev(root: Path) -> list[Example]:
    file = root / "de/germeval2017/dev.tsv"
    examples = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) >= 4:
            examples.append(Example(fields[1].strip(), _label(fields[3], f"{file}:{number}"), "de", "germeval2017-dev"))
    return examples


def read_germeval_train_twitter(root: Path) -> list[Example]:
    file = root / "de/germeval2017/train_twitter_subset_v1.4.tsv"
    with file.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return [
        Example(row[0].strip(), _label(row[2], f"{file}:{number}"), "de", "germeval2017-train-twitter")
        for number, row in enumerate(rows[1:], start=2)
        if len(row) >= 3
    ]


def _id_label_text(file: Path, source: str, skip_labels: Iterable[str] = ("mixed",)) -> list[Example]:
    examples = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines()[1:], start=2):
        fields = line.split("\t")
        if len(fields) < 3 or fields[1] in skip_labels:
            continue
        examples.append(Example(fields[2].strip(), _label(fields[1], f"{file}:{number}"), "de", source))
    return examples


def read_sb10k_train(root: Path) -> list[Example]:
    return _id_label_text(root / "de/sb10k/train.tsv", "sb10k-train")


def read_sb10k_dev(root: Path) -> list[Example]:
    return _id_label_text(root / "de/sb10k/dev.tsv", "sb10k-dev")


def read_potts_train(root: Path) -> list[Example]:
    return _id_label_text(root / "de/potts/train.tsv", "potts-train")


def read_potts_dev(root: Path) -> list[Example]:
    return _id_label_text(root / "de/potts/dev.tsv", "potts-dev")


def read_dai_labor(root: Path) -> list[Example]:
    file = root / "de/dai_labor/de_sentiment_agree2.tsv"
    examples = []
    for line in file.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0] in LABELS:
            examples.append(Example(fields[3].strip(), _label(fields[0], str(file)), "de", "dai-labor"))
    return examples


def read_one_million_posts(root: Path) -> list[Example]:
    file = root / "de/one_million_posts/million_pos_corpus.tsv"
    examples = []
    for line in file.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        if label in LABELS and text.strip():
            examples.append(Example(text.strip(), _label(label, str(file)), "de", "one-million-posts"))
    return examples


DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("semeval2013-2016", "en", read_semeval_pool, "train", False),
    DatasetSpec("germeval2017-train-twitter", "de", read_germeval_train_twitter, "train", False),
    DatasetSpec("sb10k-train", "de", read_sb10k_train, "train", False),
    DatasetSpec("potts-train", "de", read_potts_train, "train", True),
    DatasetSpec("dai-labor", "de", read_dai_labor, "train", False),
    DatasetSpec("one-million-posts", "de", read_one_million_posts, "train", False),
    DatasetSpec("tweeteval-val", "en", read_tweeteval_val, "dev", True),
    DatasetSpec("germeval2017-dev", "de", read_germeval_dev, "dev", False),
    DatasetSpec("sb10k-dev", "de", read_sb10k_dev, "dev", False),
    DatasetSpec("potts-dev", "de", read_potts_dev, "dev", True),
)
"""Every set the training and evaluation commands know. ``commercial`` is True only where the
licence clearly allows commercial use of a model trained on it (see data/sentiment/PROVENANCE.md)."""


def dataset(name: str) -> DatasetSpec:
    for spec in DATASETS:
        if spec.name == name:
            return spec
    raise ClassifierError(f"unknown data set {name!r}; known: {', '.join(spec.name for spec in DATASETS)}")


def load(name: str, root: Path) -> list[Example]:
    """Read one named set from the data directory ``root``."""
    spec = dataset(name)
    try:
        return spec.reader(root)
    except FileNotFoundError as err:
        raise ClassifierError(
            f"data set {name}: {err.filename} not found (is {root} the data/sentiment folder?)"
        ) from err


def normalise_for_matching(text: str) -> str:
    """The key used to find the same post in two sets (case, spacing and links ignored)."""
    text = re.sub(r"https?://\S+", "", text.lower())
    return re.sub(r"\W+", " ", text).strip()


def drop_overlap(train: list[Example], held_out: Iterable[Example]) -> list[Example]:
    """Remove training examples whose text also occurs in a held-out set, and duplicates within train."""
    seen = {normalise_for_matching(example.text) for example in held_out}
    kept = []
    for example in train:
        key = normalise_for_matching(example.text)
        if key and key not in seen:
            seen.add(key)
            kept.append(example)
    return kept
