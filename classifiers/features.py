"""Sentence vectors of labelled sets for training heads: computed once per encoder, cached on disk.

Encoding is the slow part of training (minutes to hours on a CPU); fitting heads on the vectors
takes seconds. The cache is keyed by everything that changes a vector (encoder weights, merged
adapters, pooled layers, prefix, token limit, precision) and by the exact texts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.adapters import AdapterConfig
from classifiers.embedded import SentenceEncoder

logger = logging.getLogger(__name__)


def encoder_key(config: AdapterConfig, tensors: Mapping[str, Any], encoder: SentenceEncoder, weights: Path) -> str:
    """A digest of everything that decides the vectors an encoder produces."""
    digest = hashlib.sha256()
    described = {
        "layers": config.layers,
        "pool_layers": list(encoder.pool_layers),
        "prefix": config.prefix,
        "max_length": encoder.max_length,
        "precision": encoder.precision,
        "weights": [weights.name, weights.stat().st_size],
    }
    digest.update(json.dumps(described, sort_keys=True).encode())
    for name in sorted(tensors):
        if name.startswith("lora."):
            digest.update(name.encode())
            digest.update(tensors[name].float().numpy().tobytes())
    return digest.hexdigest()[:16]


class VectorCache:
    """Vectors of named text lists, from one encoder; stored under ``folder`` (None: kept in memory only)."""

    def __init__(self, encoder: SentenceEncoder, key: str, folder: Path | None) -> None:
        self.encoder = encoder
        self.folder = folder / key if folder else None
        self._memory: dict[str, np.ndarray] = {}

    def vectors(self, name: str, texts: Sequence[str]) -> np.ndarray:
        """Float32 vectors of ``texts`` (rows in order), encoding only what no earlier run cached."""
        digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
        handle = f"{name}-{len(texts)}-{digest}"
        if handle in self._memory:
            return self._memory[handle]
        path = self.folder / f"{handle}.npy" if self.folder else None
        if path is not None and path.is_file():
            vectors = np.load(path).astype(np.float32)
        else:
            started = time.monotonic()
            # stored as float16; rounded the same way when fresh, so a rerun fits the same heads
            vectors = self.encoder.vectors(texts).astype(np.float16).astype(np.float32)
            logger.info("Encoded %s: %d texts in %.0f s", name, len(texts), time.monotonic() - started)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial.npy")
                np.save(partial, vectors.astype(np.float16))
                partial.replace(path)
        self._memory[handle] = vectors
        return vectors
