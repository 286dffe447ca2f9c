"""The reproducible recipes behind ``socialcrm classifier train`` and ``eval``: which data, which steps.

Two recipes make the two packaged adapter sets: ``commercial`` trains only on sets whose licence
allows commercial use, ``research`` on every set. Each names the sets it is reported on; those
are never trained or tuned on (tests/classifiers/test_recipe.py proves the overlap is zero after
``normalise_for_matching``), and ``classifier eval`` marks any text a model was trained on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifiers.adapter_sets import LICENCES
from classifiers.adapters import AdapterConfig, load_adapters, save_adapters
from classifiers.base import LABELS, Classifier, ClassifierError
from classifiers.datasets import Example, dataset, drop_overlap, fingerprints, load, seen_in
from classifiers.heads import LinearHead, fit_linear_head
from classifiers.language import resolve_languages
from classifiers.metrics import score_report
from classifiers.training import TrainSettings, tune_offsets

logger = logging.getLogger(__name__)

# The metric each language is judged by in its shared task: SemEval-2017 4A and GermEval 2017 B.
METRIC_BY_LANGUAGE = {"en": "macro_recall", "de": "accuracy"}
DEFAULT_METRIC = "accuracy"  # micro-F1 for single-label classification
FOLDS = 5


@dataclass(frozen=True)
class Recipe:
    """The data one adapter set is made from and reported on, and the licence that follows from it."""

    name: str
    licence: str
    train: tuple[str, ...]  # in-domain sets first: of two copies of a text, the first is kept
    reports: tuple[str, ...]  # figures are reported on these; never trained or tuned on
    tune: Mapping[str, str]  # language -> the set whose held-out predictions set its logit offsets
    repeat: Mapping[str, float] = field(default_factory=dict)  # weight of an example of that set
    balanced: tuple[str, ...] = ("en",)  # languages whose heads weigh classes equally (macro metrics)
    cross_lingual: Mapping[str, str] = field(default_factory=dict)  # language -> language whose examples train it
    pool_layers: tuple[int, ...] = ()  # encoder layers whose mean-pooled states the heads read; () = the last
    l2: float = 1e-3  # L2 penalty of the heads (on standardised vectors)

    def metric(self, language: str) -> str:
        """The metric this recipe reports and tunes on for a language."""
        return METRIC_BY_LANGUAGE.get(language, DEFAULT_METRIC)


RECIPES: dict[str, Recipe] = {
    # Only PotTS (MIT) allows commercial use; its German tweets also train the English head (the
    # encoder is multilingual). No English set here grants more than research use: see MODEL_CARD.md.
    "commercial": Recipe(
        name="commercial",
        licence="MIT (trained on the PotTS corpus, MIT; see LICENSE.md)",
        train=("potts-train",),
        reports=("tweeteval-val", "germeval2017-dev", "germeval2017-dev-report", "sb10k-dev", "potts-dev"),
        tune={},
        cross_lingual={"en": "de"},
        pool_layers=(10,),
        l2=1e-2,
    ),
    "research": Recipe(
        name="research",
        licence="CC BY-NC-SA 4.0, research and non-commercial use only (see LICENSE.md)",
        train=(
            "germeval2017-dev-tune",
            "germeval2017-train-twitter",
            "sb10k-train",
            "potts-train",
            "dai-labor",
            "one-million-posts",
            "semeval2013-2016",
        ),
        reports=("tweeteval-val", "germeval2017-dev-report", "sb10k-dev", "potts-dev"),
        tune={"en": "semeval2013-2016-tune"},
        repeat={"germeval2017-dev-tune": 2.0},
    ),
}
assert set(RECIPES) == set(LICENCES)


def recipe(name: str) -> Recipe:
    """The recipe of one packaged set, by licence name."""
    if name not in RECIPES:
        raise ClassifierError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


@dataclass
class TrainPlan:
    """What to train on and how; ``recipe`` and the defaults reproduce a packaged set."""

    data_root: Path
    output: Path
    recipe: str = "commercial"
    mode: str = "heads"  # "heads": frozen encoder (or --adapters), fit heads; "adapters": LoRA + heads (GPU)
    adapters: Path | None = None  # LoRA adapters to encode with (heads mode); None: the frozen encoder
    extra: Sequence[Example] = ()
    extra_repeat: int = 3
    limit: int | None = None  # examples per set, for quick trials
    hold_out: Sequence[str] = ()  # sets kept out of training besides the recipe's reports
    cross_validate: Sequence[str] = ()  # trained sets to report out-of-fold figures for
    cache: Path | None = Path(".cache/sentiment")
    pool_layers: tuple[int, ...] = ()  # () = the recipe's
    l2: float | None = None  # None = the recipe's
    max_length: int = 128
    precision: str = "auto"
    settings: TrainSettings = field(default_factory=TrainSettings)


def _limited(examples: list[Example], limit: int | None) -> list[Example]:
    return examples if limit is None else examples[:limit]


def held_out_sets(plan: TrainPlan) -> list[str]:
    """The sets no training text may match: the recipe's reports, its untrained tune sets, ``hold_out``."""
    chosen = recipe(plan.recipe)
    names = [*chosen.reports, *chosen.tune.values(), *plan.hold_out]
    return [name for name in dict.fromkeys(names) if name not in chosen.train or name in plan.hold_out]


def training_examples(plan: TrainPlan) -> list[Example]:
    """The recipe's training examples: every text that matches a held-out set dropped, duplicates once."""
    chosen = recipe(plan.recipe)
    held_out = [example for name in held_out_sets(plan) for example in _limited(load(name, plan.data_root), None)]
    train: list[Example] = []
    for name in chosen.train:
        if name not in plan.hold_out:
            train.extend(_limited(load(name, plan.data_root), plan.limit))
    train.extend(plan.extra)
    kept = drop_overlap(train, held_out)
    languages = resolve_languages([e.text for e in kept], [e.language for e in kept])
    return [
        Example(e.text, e.label, language if language in ("de", "en") else "en", e.source)
        for e, language in zip(kept, languages, strict=True)
    ]


def example_weights(examples: Sequence[Example], chosen: Recipe, extra_repeat: int) -> np.ndarray:
    """How much each example counts: in-domain sets and people's corrections more than once."""
    repeat = {**chosen.repeat, "corrections": float(extra_repeat)}
    return np.array([repeat.get(example.source, 1.0) for example in examples], dtype=np.float32)


def _base_config(plan: TrainPlan, chosen: Recipe) -> tuple[AdapterConfig, dict[str, torch.Tensor]]:
    """The encoder part: a frozen e5, or the LoRA adapters of ``plan.adapters`` merged into it."""
    layers = plan.pool_layers or chosen.pool_layers
    if plan.adapters is None:
        return AdapterConfig(pool_layers=layers, max_length=plan.max_length), {}
    config, tensors = load_adapters(plan.adapters)
    lora = {name: value for name, value in tensors.items() if name.startswith("lora.")}
    config.pool_layers = layers or config.pool_layers
    config.max_length = plan.max_length
    config.record = {}
    return config, lora


def _vectors(plan: TrainPlan, config: AdapterConfig, lora: Mapping[str, torch.Tensor]) -> Any:
    from classifiers.e5 import packaged_weights_path
    from classifiers.embedded import SentenceEncoder
    from classifiers.features import VectorCache, encoder_key

    encoder = SentenceEncoder(config, lora, precision=plan.precision)
    key = encoder_key(config, lora, encoder, packaged_weights_path())
    return VectorCache(encoder, key, plan.cache)


def _encode_by_source(cache: Any, examples: Sequence[Example]) -> np.ndarray:
    """Vectors of examples, cached per source set (so a changed set re-encodes only itself)."""
    result = np.zeros((len(examples), cache.encoder.vector_size), dtype=np.float32)
    by_source: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        by_source.setdefault(example.source, []).append(index)
    for source, indexes in by_source.items():
        result[indexes] = cache.vectors(source, [examples[index].text for index in indexes])
    return result


def _labels(examples: Sequence[Example]) -> np.ndarray:
    return np.array([LABELS.index(example.label) for example in examples], dtype=np.int64)


def fit_heads(
    vectors: np.ndarray, examples: Sequence[Example], weights: np.ndarray, chosen: Recipe, languages: Sequence[str]
) -> dict[str, LinearHead]:
    """One logistic-regression head per language on its own examples (or another's, see ``cross_lingual``)."""
    labels = _labels(examples)
    own = np.array([example.language for example in examples])
    heads = {}
    for language in languages:
        selected = own == chosen.cross_lingual.get(language, language)
        if not selected.any():
            raise ClassifierError(f"no {language} training examples")
        heads[language] = fit_linear_head(
            vectors[selected],
            labels[selected],
            3,
            weights=weights[selected],
            l2=chosen.l2,
            balanced=language in chosen.balanced,
        )
    return heads


def out_of_fold_logits(
    vectors: np.ndarray, examples: Sequence[Example], weights: np.ndarray, chosen: Recipe, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Logits for the examples of one trained set, each from heads fitted without its fold: (indexes, logits)."""
    from classifiers.datasets import fold_of

    indexes = np.array([i for i, example in enumerate(examples) if example.source == source])
    if len(indexes) == 0:
        raise ClassifierError(f"{source} is not among the training examples")
    language = examples[indexes[0]].language
    folds = np.array([fold_of(examples[i].text, FOLDS) for i in indexes])
    logits = np.zeros((len(indexes), 3), dtype=np.float32)
    for fold in range(FOLDS):
        test = indexes[folds == fold]
        if len(test) == 0:
            continue
        keep = np.ones(len(examples), dtype=bool)
        keep[test] = False
        kept = [example for example, flag in zip(examples, keep, strict=True) if flag]
        head = fit_heads(vectors[keep], kept, weights[keep], chosen, [language])[language]
        logits[folds == fold] = head.logits(vectors[test])
    return indexes, logits


def run_training(plan: TrainPlan) -> dict[str, Any]:
    """Train a set's heads (or adapters and heads), tune logit offsets, save; returns the training record."""
    started = time.monotonic()
    chosen = recipe(plan.recipe)
    if plan.mode == "adapters":
        return _run_adapter_training(plan, chosen, started)
    if plan.mode != "heads":
        raise ClassifierError(f"unknown training mode {plan.mode!r} (heads or adapters)")
    examples = training_examples(plan)
    languages = ("en", "de")
    if plan.l2 is not None:
        chosen = replace(chosen, l2=plan.l2)
    config, lora = _base_config(plan, chosen)
    cache = _vectors(plan, config, lora)
    logger.info("Encoding %d training examples (cached in %s)", len(examples), plan.cache or "memory")
    vectors = _encode_by_source(cache, examples)
    weights = example_weights(examples, chosen, plan.extra_repeat)
    heads = fit_heads(vectors, examples, weights, chosen, languages)
    offsets = {language: np.zeros(3, dtype=np.float32) for language in languages}
    tuning: dict[str, Any] = {}
    for language, tune_set in chosen.tune.items():
        if tune_set in plan.hold_out:
            continue
        if tune_set in chosen.train:  # trained on: tune on out-of-fold predictions
            indexes, logits = out_of_fold_logits(vectors, examples, weights, chosen, tune_set)
            gold = _labels([examples[i] for i in indexes])
        else:
            tune_examples = _limited(load(tune_set, plan.data_root), plan.limit)
            logits = heads[language].logits(cache.vectors(tune_set, [e.text for e in tune_examples]))
            gold = _labels(tune_examples)
        offsets[language], tuned = tune_offsets(logits, gold, chosen.metric(language))
        before = score_report(gold, logits.argmax(axis=1))[chosen.metric(language)]
        tuning[language] = {"set": tune_set, "before": round(before, 4), "after": round(tuned, 4)}
    cross_validated = {}
    for name in plan.cross_validate:
        indexes, logits = out_of_fold_logits(vectors, examples, weights, chosen, name)
        language = examples[indexes[0]].language
        gold = _labels([examples[i] for i in indexes])
        report = score_report(gold, (logits + offsets[language]).argmax(axis=1))
        cross_validated[name] = {key: round(value, 4) for key, value in report.items()}
    sources: dict[str, float] = {}  # examples per set as they count (in-domain sets and corrections more)
    for example, weight in zip(examples, weights, strict=True):
        sources[example.source] = sources.get(example.source, 0) + float(weight)
    config.set_name = chosen.name if not plan.extra and not plan.hold_out and plan.limit is None else ""
    config.licence = chosen.licence
    config.record = {
        "recipe": chosen.name,
        "mode": plan.mode,
        "encoder": "frozen e5-small" if plan.adapters is None else f"e5-small + adapters of {plan.adapters.name}",
        "pool_layers": list(config.pooled_layers),
        "l2": chosen.l2,
        "examples": {name: round(count) for name, count in sources.items()},
        "held_out": held_out_sets(plan),
        "offsets_tuned_on": tuning,
        "cross_validated": cross_validated,
        "seconds": round(time.monotonic() - started, 1),
    }
    tensors: dict[str, torch.Tensor] = dict(lora)
    for language in languages:
        tensors[f"head.{language}.weight"] = torch.from_numpy(heads[language].weight)
        tensors[f"head.{language}.bias"] = torch.from_numpy(heads[language].bias)
        tensors[f"offset.{language}"] = torch.from_numpy(offsets[language])
    tensors["record.fingerprints"] = torch.from_numpy(fingerprints(e.text for e in examples).view(np.int32))
    config.languages = languages
    save_adapters(plan.output, config, tensors)
    return config.record


def _run_adapter_training(plan: TrainPlan, chosen: Recipe, started: float) -> dict[str, Any]:
    """LoRA adapters and heads trained together (the GPU route); offsets tuned on the English tune set."""
    from classifiers.e5 import E5File, load_tokenizer, packaged_weights_path
    from classifiers.training import build_net, encode, predict_logits, train

    examples = training_examples(plan)
    weights = example_weights(examples, chosen, plan.extra_repeat)
    repeated = [example for example, weight in zip(examples, weights, strict=True) for _ in range(round(weight))]
    config = AdapterConfig(max_length=plan.max_length)
    net = build_net(E5File(packaged_weights_path()), config)
    tokenizer = load_tokenizer()
    learned = train(net, config, encode(tokenizer, repeated, config), plan.settings)
    net.heads.load(learned)
    tune_set = chosen.tune["en"]
    tune_examples = _limited(load(tune_set, plan.data_root), plan.limit)
    dev = encode(tokenizer, tune_examples, config)
    offsets, tuned = tune_offsets(predict_logits(net, dev, device=plan.settings.device), dev.labels, "macro_recall")
    learned["offset.en"] = torch.tensor(offsets)
    learned["record.fingerprints"] = torch.from_numpy(fingerprints(e.text for e in examples).view(np.int32))
    sources: dict[str, int] = {}
    for example in examples:
        sources[example.source] = sources.get(example.source, 0) + 1
    config.set_name = ""
    config.licence = chosen.licence
    config.record = {
        "recipe": chosen.name,
        "mode": "adapters",
        "examples": sources,
        "held_out": held_out_sets(plan),
        "offsets_tuned_on": {"en": {"set": tune_set, "after": round(tuned, 4)}},
        "seconds": round(time.monotonic() - started, 1),
    }
    save_adapters(plan.output, config, learned)
    return config.record


def evaluate_classifier(
    classifier: Classifier, data_root: Path, names: Sequence[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Score a classifier on development sets; one row per set with its primary metric first.

    Where the classifier knows its training texts (``training_fingerprints``, written by
    ``classifier train``), each row says how many of the set's texts it was trained on
    (``in_sample``) and adds the figures on the rest (``clean``): only those are honest.
    """
    from classifiers.datasets import DATASETS

    known = getattr(classifier, "training_fingerprints", None)
    rows = []
    for spec in DATASETS:
        if (names and spec.name not in names) or (not names and spec.role != "dev"):
            continue
        examples = _limited(load(spec.name, data_root), limit)
        started = time.monotonic()
        analyses = classifier.analyse([e.text for e in examples], [e.language for e in examples])
        seconds = time.monotonic() - started
        gold = np.array([LABELS.index(e.label) for e in examples])
        predicted = np.array([LABELS.index(a.sentiment.label) for a in analyses])
        metric = METRIC_BY_LANGUAGE.get(spec.language, DEFAULT_METRIC)
        report = score_report(gold, predicted)
        row: dict[str, Any] = {
            "set": spec.name,
            "role": spec.role,
            "examples": len(examples),
            "metric": metric,
            "value": round(report[metric], 4),
            "accuracy": round(report["accuracy"], 4),
            "macro_recall": round(report["macro_recall"], 4),
            "macro_f1": round(report["macro_f1"], 4),
            "texts_per_second": round(len(examples) / seconds, 1) if seconds else None,
            "in_sample": None,
        }
        if known is not None:
            seen = seen_in([e.text for e in examples], known)
            row["in_sample"] = int(seen.sum())
            if seen.any() and not seen.all():
                clean = score_report(gold[~seen], predicted[~seen])
                row["clean"] = {"examples": int((~seen).sum()), "value": round(clean[metric], 4)}
        rows.append(row)
    return rows


def describe_sets(names: Sequence[str]) -> list[tuple[str, str, bool]]:
    """(name, licence, commercial use allowed) of named sets, for records and the model card."""
    return [(name, dataset(name).licence, dataset(name).commercial) for name in names]
