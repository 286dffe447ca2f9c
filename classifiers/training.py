"""Train and evaluate the embedded model: LoRA adapters on e5 plus per-language heads (CPU or GPU)."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from classifiers.adapters import AdapterConfig, LoRALinear, SentimentHeads, attach_lora, lora_tensors, mean_pool
from classifiers.base import LABELS, ClassifierError
from classifiers.datasets import Example
from classifiers.e5 import PAD_ID, E5File, WordEmbeddings, build_encoder
from classifiers.metrics import score_report
from classifiers.text import prepare

logger = logging.getLogger(__name__)


@dataclass
class TrainSettings:
    """Optimisation settings; the defaults made the shipped adapters (see MODEL_CARD.md)."""

    epochs: float = 3.0
    batch_size: int = 64
    lora_learning_rate: float = 6e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    balanced_languages: tuple[str, ...] = ("en",)  # class-weighted loss: macro-recall is their metric
    seed: int = 13
    train_lora: bool = True
    device: str = "cpu"
    log_every: int = 200
    time_limit_s: float | None = None
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Encoded:
    """Token ids, label indexes and language indexes of a set of examples."""

    ids: list[list[int]]
    labels: np.ndarray
    languages: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def encode(
    tokenizer: Any,
    examples: Sequence[Example],
    config: AdapterConfig,
    remap: Callable[[list[int]], list[int]] | None = None,
) -> Encoded:
    """Tokenise examples as the classifier will at inference (prefix, cleaning, truncation)."""
    encodings = tokenizer.encode_batch([config.prefix + prepare(example.text) for example in examples])
    ids = [_truncate(encoding.ids, config.max_length) for encoding in encodings]
    if remap is not None:
        ids = [remap(row) for row in ids]
    language_index = {language: index for index, language in enumerate(config.languages)}
    return Encoded(
        ids,
        np.array([LABELS.index(example.label) for example in examples], dtype=np.int64),
        np.array([language_index.get(example.language, 0) for example in examples], dtype=np.int64),
    )


def _truncate(ids: list[int], max_length: int) -> list[int]:
    # keep <s> ... and the closing </s>, as the tokenizer's own truncation would
    return ids if len(ids) <= max_length else ids[: max_length - 1] + [ids[-1]]


class SentimentNet(nn.Module):
    """Word embeddings (numpy, 4-bit) -> e5 encoder -> mean pooling -> per-language head."""

    def __init__(self, encoder: nn.Module, embeddings: WordEmbeddings, heads: SentimentHeads) -> None:
        super().__init__()
        self.encoder = encoder
        self.embeddings = embeddings
        self.heads = heads

    def batch(self, rows: Sequence[list[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pad token-id rows to one length: the ids and the attention mask on ``device``."""
        length = max(len(row) for row in rows)
        ids = np.full((len(rows), length), PAD_ID, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for index, row in enumerate(rows):
            ids[index, : len(row)] = row
            mask[index, : len(row)] = 1
        vectors = torch.from_numpy(self.embeddings.lookup(ids))
        dtype = next(self.encoder.parameters()).dtype  # bf16 when the encoder was converted for speed
        return vectors.to(device, dtype=dtype, non_blocking=True), torch.from_numpy(mask).to(device, non_blocking=True)

    def pooled(self, vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean-pooled sentence vectors of the encoder's last layer, as float32."""
        hidden = self.encoder(inputs_embeds=vectors, attention_mask=mask).last_hidden_state
        return mean_pool(hidden, mask).float()


def build_net(file: E5File, config: AdapterConfig, embeddings: WordEmbeddings | None = None) -> SentimentNet:
    """The trainable sentiment network: the encoder's layers, word embeddings and per-language heads."""
    encoder = build_encoder(file, config.layers)
    heads = SentimentHeads(file.header.hidden, config.languages)
    return SentimentNet(encoder, embeddings or WordEmbeddings(file), heads)


def _batches(data: Encoded, size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length: sort within random pools of 50 batches."""
    order = list(range(len(data)))
    rng.shuffle(order)
    pool = size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda index: len(data.ids[index]))
        batches.extend(chunk[offset : offset + size] for offset in range(0, len(chunk), size))
    rng.shuffle(batches)
    return batches


def _class_weights(data: Encoded, languages: tuple[str, ...], balanced: tuple[str, ...]) -> torch.Tensor:
    weights = torch.ones(len(languages), 3)
    for index, language in enumerate(languages):
        if language not in balanced:
            continue
        counts = np.bincount(data.labels[data.languages == index], minlength=3).astype(np.float64)
        if counts.min() > 0:
            weights[index] = torch.tensor(counts.sum() / (3 * counts), dtype=torch.float32)
    return weights


def train(net: SentimentNet, config: AdapterConfig, data: Encoded, settings: TrainSettings) -> dict[str, torch.Tensor]:
    """Train adapters (when ``settings.train_lora``) and heads; returns the tensors to save."""
    if len(data) == 0:
        raise ClassifierError("no training examples")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    device = settings.device
    wrapped: dict[str, LoRALinear] = attach_lora(net.encoder, config) if settings.train_lora else {}
    if not settings.train_lora:
        for parameter in net.encoder.parameters():
            parameter.requires_grad = False
    net.to(device)
    groups: list[dict[str, Any]] = [{"params": list(net.heads.parameters()), "lr": settings.head_learning_rate}]
    if wrapped:
        lora_parameters = [p for module in wrapped.values() for p in (module.a, module.b)]
        groups.append({"params": lora_parameters, "lr": settings.lora_learning_rate})
    optimiser = torch.optim.AdamW(groups, weight_decay=settings.weight_decay)
    steps_per_epoch = math.ceil(len(data) / settings.batch_size)
    total = max(1, int(steps_per_epoch * settings.epochs))
    warmup = max(1, int(total * settings.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    class_weights = _class_weights(data, config.languages, settings.balanced_languages).to(device)
    autocast_device, use_bf16 = _autocast(device)
    started, step, running = time.monotonic(), 0, 0.0
    net.train()
    while step < total:
        for batch in _batches(data, settings.batch_size, rng):
            if step >= total:
                break
            vectors, mask = net.batch([data.ids[index] for index in batch], device)
            labels = torch.from_numpy(data.labels[batch]).to(device)
            languages = torch.from_numpy(data.languages[batch]).to(device)
            with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=use_bf16):
                pooled = net.pooled(vectors, mask)
            logits = net.heads(pooled, languages)
            losses = nn.functional.cross_entropy(logits.float(), labels, reduction="none")
            weights = class_weights[languages, labels]
            loss = (losses * weights).sum() / weights.sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_([p for group in groups for p in group["params"]], 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            if step % settings.log_every == 0 or step == total:
                elapsed = time.monotonic() - started
                logger.info("step %d/%d loss %.4f (%.0f examples/s)", step, total, running, step * len(batch) / elapsed)
            if settings.time_limit_s and time.monotonic() - started > settings.time_limit_s:
                logger.warning("training stopped by its time limit after %d of %d steps", step, total)
                total = step
                break
    net.eval()
    return {**lora_tensors(wrapped), **net.heads.tensors()}


def _autocast(device: str) -> tuple[str, bool]:
    """bf16 autocast on GPUs and on CPUs that compute bf16 natively (~2.5x faster there), else fp32."""
    if device.startswith("cuda"):
        return "cuda", True
    from classifiers.embedded import cpu_has_fast_bf16

    return "cpu", cpu_has_fast_bf16()


def predict_logits(net: SentimentNet, data: Encoded, batch_size: int = 64, device: str = "cpu") -> np.ndarray:
    """Logits (after offsets) for every example, in order."""
    net.eval()
    order = sorted(range(len(data)), key=lambda index: len(data.ids[index]))
    result = np.zeros((len(data), 3), dtype=np.float32)
    autocast_device, use_bf16 = _autocast(device)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            vectors, mask = net.batch([data.ids[index] for index in batch], device)
            with torch.autocast(autocast_device, dtype=torch.bfloat16, enabled=use_bf16):
                pooled = net.pooled(vectors, mask)
            languages = torch.from_numpy(data.languages[batch]).to(device)
            result[batch] = net.heads(pooled, languages).float().cpu().numpy()
    return result


def tune_offsets(logits: np.ndarray, labels: np.ndarray, metric: str) -> tuple[np.ndarray, float]:
    """Logit offsets for negative and positive (neutral fixed at 0) that maximise ``metric`` on dev data."""
    grid = np.round(np.arange(-1.5, 1.51, 0.1), 2)
    best, best_value = np.zeros(3, dtype=np.float32), -1.0
    for negative in grid:
        for positive in grid:
            offsets = np.array([negative, 0.0, positive], dtype=np.float32)
            value = score_report(labels, (logits + offsets).argmax(axis=1))[metric]
            if value > best_value + 1e-9:
                best, best_value = offsets, value
    return best, best_value


def evaluate(net: SentimentNet, sets: Mapping[str, Encoded], device: str = "cpu") -> dict[str, dict[str, float]]:
    """Accuracy (= micro-F1), macro recall and macro F1 of each named set."""
    return {
        name: score_report(data.labels, predict_logits(net, data, device=device).argmax(axis=1))
        for name, data in sets.items()
    }
