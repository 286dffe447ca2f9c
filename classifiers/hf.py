"""Any Hugging Face sequence-classification model (local path or hub id) as a sentiment classifier."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from classifiers.base import Analysis, ClassifierError, Language, Sentiment
from classifiers.labels import LabelMap, normalise_labels
from classifiers.language import resolve_languages

logger = logging.getLogger(__name__)

_DEFAULTS: dict[str, Any] = {
    "batch_size": 32,
    "max_length": 256,
    "neutral_below": 0.7,
    "prefix": "",
    "revision": None,
    "local_files_only": False,
    "threads": None,
    "labels": None,
}


def _looks_like_path(model: str) -> bool:
    # Hub ids are "name" or "owner/name"; anything starting like a filesystem path is a path.
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().exists()


class TransformersClassifier:
    """Sentiment from a transformers model: batched, length-bucketed, truncating, labels normalised.

    Options: ``model`` (required: directory or hub id), ``batch_size``, ``max_length`` (tokens),
    ``neutral_below`` (two-class models: below this confidence the text is neutral), ``prefix``
    (prepended to every text, e.g. "query: "), ``revision``, ``local_files_only``, ``threads``
    (torch intra-op threads), ``labels`` (raw label or index -> negative|neutral|positive).
    """

    kind: ClassVar[str] = "transformers"

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = set(options) - set(_DEFAULTS) - {"model"}
        if unknown:
            raise ClassifierError(
                f"unknown transformers classifier option(s) {', '.join(sorted(unknown))}; "
                f"known: model, {', '.join(sorted(_DEFAULTS))}"
            )
        settings = {**_DEFAULTS, **options}
        model = settings.get("model")
        if not isinstance(model, str) or not model.strip():
            raise ClassifierError('the transformers classifier needs the option model = "<directory or hub id>"')
        for key in ("batch_size", "max_length"):
            if not isinstance(settings[key], int) or settings[key] < 1:
                raise ClassifierError(f"classifier option {key} must be a positive integer, got {settings[key]!r}")
        self.batch_size: int = settings["batch_size"]
        self.neutral_below = float(settings["neutral_below"])
        self.prefix = str(settings["prefix"])
        location = str(Path(model).expanduser()) if _looks_like_path(model) else model
        if _looks_like_path(model) and not Path(location).is_dir():
            raise ClassifierError(f"model directory {location} does not exist")
        self._tokenizer, self._model = self._load(location, settings)
        self.max_length = min(settings["max_length"], self._tokenizer.model_max_length or settings["max_length"])
        id2label = {int(key): value for key, value in self._model.config.id2label.items()}
        self.label_map: LabelMap = normalise_labels(id2label, settings["labels"])
        revision = settings["revision"] or getattr(self._model.config, "_commit_hash", None)
        self.model_id = f"{model}@{revision}" if revision else model
        logger.info("Loaded sentiment model %s (%d labels)", self.model_id, len(id2label))

    @staticmethod
    def _load(location: str, settings: Mapping[str, Any]) -> tuple[Any, Any]:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as err:
            raise ClassifierError(f"the transformers classifier needs torch and transformers: {err}") from err
        if settings["threads"]:
            torch.set_num_threads(int(settings["threads"]))
        common = {"revision": settings["revision"], "local_files_only": bool(settings["local_files_only"])}
        try:
            tokenizer = AutoTokenizer.from_pretrained(location, **common)
            model = AutoModelForSequenceClassification.from_pretrained(location, **common)
        except (OSError, ValueError) as err:
            raise ClassifierError(f"could not load sentiment model {location!r}: {err}") from err
        model.eval()
        return tokenizer, model

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """Return one Analysis per text, in order."""
        resolved = resolve_languages(texts, languages)
        sentiments = self.sentiments(texts)
        return [Analysis(sentiment, language) for sentiment, language in zip(sentiments, resolved, strict=True)]

    def sentiments(self, texts: Sequence[str]) -> list[Sentiment]:
        """Score texts in batches of similar length (less padding), returning them in input order."""
        import torch

        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        results: list[Sentiment | None] = [None] * len(texts)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                encoded = self._tokenizer(
                    [self.prefix + texts[index] for index in chunk],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                logits = self._model(**encoded).logits
                probabilities = torch.softmax(logits.float(), dim=-1).tolist()
                for index, row in zip(chunk, probabilities, strict=True):
                    label, score = self.label_map.combine(row, self.neutral_below)
                    results[index] = Sentiment(label, score, self.model_id)
        return [result for result in results if result is not None]
