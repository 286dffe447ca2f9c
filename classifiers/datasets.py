"""Readers for the labelled sentiment sets under ``data/sentiment`` (see its PROVENANCE.md)."""

from __future__ import annotations

import csv
import hashlib
import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.base import LABELS, ClassifierError, Label, Language

_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_MATCH_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+")
_NON_WORD = re.compile(r"[\W_]+")
_PLACEHOLDERS = frozenset({"http", "https", "rt"})


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled text."""

    text: str
    label: Label
    language: Language
    source: str


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A named set: how to read it, its role, whether its licence allows commercial use, and that licence."""

    name: str
    language: Language
    reader: Callable[[Path], list[Example]]
    role: str  # "train", "tune" or "dev"
    commercial: bool
    licence: str


def _unescape(text: str) -> str:
    """Decode the ``\\uXXXX`` escapes SemEval's and TweetEval's files write for non-ASCII characters."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text)


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
            text = _unescape("\t".join(fields[2:]))
            examples.append(Example(text.strip(), _label(fields[1], f"{file}:{number}"), "en", source))
    return examples


def read_semeval_pool(root: Path) -> list[Example]:
    """The SemEval 2013-2016 English tweets (training pool)."""
    return _semeval(root / "en/semeval2013-2016", "semeval2013-2016")


def read_tweeteval_val(root: Path) -> list[Example]:
    """The TweetEval validation tweets (English development set)."""
    folder = root / "en/tweeteval-val"
    texts = (folder / "val_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / "val_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ClassifierError(f"{folder}: {len(texts)} texts but {len(labels)} labels")
    return [
        Example(_unescape(text).strip(), LABELS[int(label)], "en", "tweeteval-val")
        for text, label in zip(texts, labels, strict=True)
    ]


def read_germeval_dev(root: Path) -> list[Example]:
    """The GermEval 2017 development posts (German customer feedback on Deutsche Bahn)."""
    file = root / "de/germeval2017/dev.tsv"
    examples = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) >= 4:
            examples.append(Example(fields[1].strip(), _label(fields[3], f"{file}:{number}"), "de", "germeval2017-dev"))
    return examples


def read_germeval_train_twitter(root: Path) -> list[Example]:
    """The GermEval 2017 training subset taken from Twitter."""
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
    """The SB10k German tweets, training split."""
    return _id_label_text(root / "de/sb10k/train.tsv", "sb10k-train")


def read_sb10k_dev(root: Path) -> list[Example]:
    """The SB10k German tweets, development split."""
    return _id_label_text(root / "de/sb10k/dev.tsv", "sb10k-dev")


def read_potts_train(root: Path) -> list[Example]:
    """The PotTS German tweets, training split."""
    return _id_label_text(root / "de/potts/train.tsv", "potts-train")


def read_potts_dev(root: Path) -> list[Example]:
    """The PotTS German tweets, development split."""
    return _id_label_text(root / "de/potts/dev.tsv", "potts-dev")


def read_dai_labor(root: Path) -> list[Example]:
    """The DAI-Labor German tweets on which annotators agreed."""
    file = root / "de/dai_labor/de_sentiment_agree2.tsv"
    examples = []
    for line in file.read_text(encoding="utf-8").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) >= 4 and fields[0] in LABELS:
            examples.append(Example(fields[3].strip(), _label(fields[0], str(file)), "de", "dai-labor"))
    return examples


def read_one_million_posts(root: Path) -> list[Example]:
    """The One Million Posts corpus's German forum posts with a sentiment label."""
    file = root / "de/one_million_posts/million_pos_corpus.tsv"
    examples = []
    for line in file.read_text(encoding="utf-8").splitlines():
        label, _, text = line.partition("\t")
        if label in LABELS and text.strip():
            examples.append(Example(text.strip(), _label(label, str(file)), "de", "one-million-posts"))
    return examples


def _bucket(text: str, buckets: int) -> int:
    """A stable pseudo-random bucket of a text, the same for every copy of it (hashes the matching key)."""
    digest = hashlib.sha256(normalise_for_matching(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % buckets


def fold_of(text: str, folds: int) -> int:
    """The cross-validation fold of a text (every copy of a text in the same fold; independent of the halves)."""
    digest = hashlib.sha256(("fold:" + normalise_for_matching(text)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % folds


TUNE_BUCKETS = 25  # one pool tweet in 25 (~1,900) is kept out of training to make choices on


def read_semeval_tune(root: Path) -> list[Example]:
    """The English tuning split: one SemEval pool tweet in 25 (each text once), none in TweetEval validation."""
    taken = {normalise_for_matching(example.text) for example in read_tweeteval_val(root)}
    examples = []
    for example in read_semeval_pool(root):
        key = normalise_for_matching(example.text)
        if key not in taken and _bucket(example.text, TUNE_BUCKETS) == 0:
            taken.add(key)
            examples.append(Example(example.text, example.label, "en", "semeval2013-2016-tune"))
    return examples


def _half(examples: list[Example], half: int, source: str) -> list[Example]:
    return [Example(e.text, e.label, e.language, source) for e in examples if _bucket(e.text, 2) == half]


def read_germeval_dev_tune(root: Path) -> list[Example]:
    """Half of GermEval 2017 dev (by a hash of the text): in-domain training and choices of the research set."""
    return _half(read_germeval_dev(root), 0, "germeval2017-dev-tune")


def read_germeval_dev_report(root: Path) -> list[Example]:
    """The other half of GermEval 2017 dev: German long-post figures are reported on it, never trained on."""
    return _half(read_germeval_dev(root), 1, "germeval2017-dev-report")


_TWITTER = "tweet texts under Twitter's terms"
_SEMEVAL = f"shared-task data, no licence granting more than research use; {_TWITTER}"
_TWEETEVAL = f"SemEval 2013-2016 tweets and labels, as SemEval's terms; {_TWITTER}"
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("semeval2013-2016", "en", read_semeval_pool, "train", False, _SEMEVAL),
    DatasetSpec("germeval2017-train-twitter", "de", read_germeval_train_twitter, "train", False, "CC BY-NC 4.0"),
    DatasetSpec("sb10k-train", "de", read_sb10k_train, "train", False, f"no licence stated for the corpus; {_TWITTER}"),
    DatasetSpec("potts-train", "de", read_potts_train, "train", True, f"MIT; {_TWITTER}"),
    DatasetSpec("dai-labor", "de", read_dai_labor, "train", False, "no licence stated: research only"),
    DatasetSpec("one-million-posts", "de", read_one_million_posts, "train", False, "CC BY-NC-SA 4.0"),
    DatasetSpec("semeval2013-2016-tune", "en", read_semeval_tune, "tune", False, _SEMEVAL),
    DatasetSpec("germeval2017-dev-tune", "de", read_germeval_dev_tune, "tune", False, "CC BY-NC 4.0"),
    DatasetSpec("tweeteval-val", "en", read_tweeteval_val, "dev", False, _TWEETEVAL),
    DatasetSpec("germeval2017-dev-report", "de", read_germeval_dev_report, "dev", False, "CC BY-NC 4.0"),
    DatasetSpec("germeval2017-dev", "de", read_germeval_dev, "dev", False, "CC BY-NC 4.0"),
    DatasetSpec("sb10k-dev", "de", read_sb10k_dev, "dev", False, f"no licence stated for the corpus; {_TWITTER}"),
    DatasetSpec("potts-dev", "de", read_potts_dev, "dev", True, f"MIT; {_TWITTER}"),
)
"""Every set the training and evaluation commands know. ``commercial`` is True only where the
licence clearly allows commercial use of a model trained on it (reasoning: data/sentiment/PROVENANCE.md).
Roles: "train" sets are training data; choices (offsets, settings) are made on "tune" sets; figures
are reported on "dev" sets. A set that is used for training is never scored as if it were not
(``classifier eval`` marks in-sample texts)."""


def dataset(name: str) -> DatasetSpec:
    """The data set called ``name``; ClassifierError naming the known ones otherwise."""
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
    """The key that finds the same post in two sets, whatever each set's clean-up did to it.

    TweetEval replaced @handles with ``@user`` and links with ``http`` (or dropped them); SemEval's
    files keep both and escape non-ASCII as ``\\uXXXX``; other sets differ in case, spacing,
    punctuation, HTML entities and a leading ``RT``. The key decodes escapes and entities, folds
    case and Unicode forms, drops handles, links and those placeholders, and keeps letters and
    digits only. A text with no letters or digits (emoji only) keys on its folded characters.
    """
    text = unicodedata.normalize("NFKC", html.unescape(_unescape(text))).casefold()
    text = _MATCH_NOISE.sub(" ", text)
    key = " ".join(word for word in _NON_WORD.split(text) if word and word not in _PLACEHOLDERS)
    return key or " ".join(text.split())


def _fingerprint(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(normalise_for_matching(text).encode("utf-8"), digest_size=4).digest(), "big")


def fingerprints(texts: Iterable[str]) -> np.ndarray:
    """Sorted unique 32-bit hashes of the texts' matching keys: how a model file remembers its training texts.

    With ~100,000 training texts a text it never saw matches by chance with probability ~2e-5.
    """
    return np.array(sorted({_fingerprint(text) for text in texts}), dtype=np.uint32)


def seen_in(texts: Sequence[str], known: np.ndarray) -> np.ndarray:
    """For each text, whether its fingerprint is among ``known`` (a sorted array from ``fingerprints``)."""
    if len(known) == 0 or not texts:
        return np.zeros(len(texts), dtype=bool)
    own = np.array([_fingerprint(text) for text in texts], dtype=np.uint32)
    positions = np.clip(np.searchsorted(known, own), 0, len(known) - 1)
    return np.asarray(known[positions] == own)


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
