"""LoRA adapters and per-language sentiment heads on the e5 encoder: the few MB this project ships.

An adapter file (safetensors) holds ``lora.<module>.a``/``.b`` low-rank updates of the encoder's
linear layers, ``head.<language>.weight``/``.bias`` (3 outputs: negative, neutral, positive) and
``offset.<language>`` (logit offsets tuned on development data), with JSON metadata: encoder
layers, rank, alpha, text prefix, max tokens and the training record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from classifiers.base import ClassifierError

LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
FORMAT = "socialcrm-e5-sentiment-1"


@dataclass
class AdapterConfig:
    """How the adapters were built; stored in the file so loading needs nothing else."""

    layers: int = 12
    rank: int = 16
    alpha: float = 32.0
    prefix: str = "query: "
    max_length: int = 128
    languages: tuple[str, ...] = ("en", "de")
    record: dict[str, Any] = field(default_factory=dict)
    pool_layers: tuple[int, ...] = ()  # layers whose mean-pooled states the heads read; () = the last
    licence: str = ""  # the licence of these weights, which follows from the training data
    set_name: str = ""  # "commercial" or "research" for the packaged sets (the recipe they were made by)

    @property
    def scale(self) -> float:
        """The LoRA update's scale, alpha divided by the rank."""
        return self.alpha / self.rank

    @property
    def pooled_layers(self) -> tuple[int, ...]:
        """The encoder layers (1 = first) read by the heads, side by side."""
        return self.pool_layers or (self.layers,)


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update ``B @ A * scale``."""

    def __init__(self, base: nn.Linear, rank: int, scale: float, dropout: float = 0.1) -> None:
        super().__init__()
        self.base = base
        for parameter in self.base.parameters():
            parameter.requires_grad = False
        self.a = nn.Parameter(torch.empty(rank, base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.scale = scale
        self.dropout = nn.Dropout(dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """The frozen layer's output plus the low-rank update."""
        update = self.dropout(inputs) @ self.a.t() @ self.b.t()
        return self.base(inputs) + update * self.scale


def _parent(root: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    *path, last = dotted.split(".")
    module = root
    for part in path:
        module = getattr(module, part)
    return module, last


def lora_module_names(encoder: nn.Module) -> list[str]:
    """The names of the encoder's linear layers that get adapters."""
    return [
        name
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear) and name.startswith("encoder.layer.") and name.split(".", 3)[3] in LORA_TARGETS
    ]


def attach_lora(encoder: nn.Module, config: AdapterConfig, dropout: float = 0.1) -> dict[str, LoRALinear]:
    """Freeze the encoder and wrap each target linear layer in a LoRALinear (for training)."""
    for parameter in encoder.parameters():
        parameter.requires_grad = False
    wrapped: dict[str, LoRALinear] = {}
    for name in lora_module_names(encoder):
        parent, attribute = _parent(encoder, name)
        adapter = LoRALinear(getattr(parent, attribute), config.rank, config.scale, dropout)
        setattr(parent, attribute, adapter)
        wrapped[name] = adapter
    return wrapped


def lora_tensors(wrapped: Mapping[str, LoRALinear]) -> dict[str, torch.Tensor]:
    """The trained LoRA matrices as float32 CPU tensors, named lora.<layer>.a and .b."""
    return {
        **{f"lora.{name}.a": module.a.detach().float().cpu() for name, module in wrapped.items()},
        **{f"lora.{name}.b": module.b.detach().float().cpu() for name, module in wrapped.items()},
    }


def merge_lora(encoder: nn.Module, tensors: Mapping[str, torch.Tensor], config: AdapterConfig) -> int:
    """Add the adapters into the encoder's weights in place (for inference); returns how many merged."""
    merged = 0
    with torch.no_grad():
        for name in lora_module_names(encoder):
            a, b = tensors.get(f"lora.{name}.a"), tensors.get(f"lora.{name}.b")
            if a is None or b is None:
                continue
            parent, attribute = _parent(encoder, name)
            linear: nn.Linear = getattr(parent, attribute)
            linear.weight += (b.float() @ a.float()) * config.scale
            merged += 1
    return merged


class SentimentHeads(nn.Module):
    """One linear layer per language from the pooled sentence vector to 3 logits."""

    offsets: torch.Tensor

    def __init__(self, hidden: int, languages: tuple[str, ...], dropout: float = 0.1) -> None:
        super().__init__()
        self.languages = languages
        self.heads = nn.ModuleDict({language: nn.Linear(hidden, 3) for language in languages})
        self.register_buffer("offsets", torch.zeros(len(languages), 3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, pooled: torch.Tensor, language_index: torch.Tensor) -> torch.Tensor:
        """Logits from the head of each row's language, plus that language's offsets."""
        pooled = self.dropout(pooled)
        stacked = torch.stack([self.heads[language](pooled) for language in self.languages], dim=1)
        picked = stacked[torch.arange(pooled.shape[0], device=pooled.device), language_index]
        return picked + self.offsets[language_index]

    def head(self, language: str) -> nn.Linear:
        """The linear head of one language."""
        module = self.heads[language]
        assert isinstance(module, nn.Linear)
        return module

    def tensors(self) -> dict[str, torch.Tensor]:
        """The heads' weights, biases and offsets as float32 CPU tensors, named per language."""
        result: dict[str, torch.Tensor] = {}
        for index, language in enumerate(self.languages):
            result[f"head.{language}.weight"] = self.head(language).weight.detach().float().cpu()
            result[f"head.{language}.bias"] = self.head(language).bias.detach().float().cpu()
            result[f"offset.{language}"] = self.offsets[index].detach().float().cpu()
        return result

    def load(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Copy saved heads, biases and offsets (as written by ``tensors``) into this module."""
        with torch.no_grad():
            for index, language in enumerate(self.languages):
                self.head(language).weight.copy_(tensors[f"head.{language}.weight"])
                self.head(language).bias.copy_(tensors[f"head.{language}.bias"])
                self.offsets[index].copy_(tensors[f"offset.{language}"])


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """e5's pooling: the mean over all tokens of each text, <s> and </s> included."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def save_adapters(path: Path, config: AdapterConfig, tensors: Mapping[str, torch.Tensor]) -> None:
    """Write adapters and heads as fp16 safetensors (integer tensors as they are) with the config as metadata."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    packed = {
        name: (tensor.to(torch.float16) if tensor.is_floating_point() else tensor).contiguous()
        for name, tensor in tensors.items()
    }
    metadata = {"format": FORMAT, "config": json.dumps(asdict(config), sort_keys=True)}
    save_file(packed, str(path), metadata=metadata)


def load_adapters(path: Path) -> tuple[AdapterConfig, dict[str, torch.Tensor]]:
    """Read an adapter file written by save_adapters."""
    from safetensors import safe_open

    if not path.is_file():
        raise ClassifierError(f"adapter file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (OSError, ValueError, RuntimeError) as err:
        raise ClassifierError(f"cannot read adapter file {path}: {err}") from err
    if metadata.get("format") != FORMAT:
        raise ClassifierError(f"{path} is not a {FORMAT} adapter file (format {metadata.get('format')!r})")
    raw = json.loads(metadata["config"])
    known = {item.name for item in fields(AdapterConfig)}
    config = AdapterConfig(**{key: value for key, value in raw.items() if key in known})
    config.languages = tuple(config.languages)
    config.pool_layers = tuple(config.pool_layers)
    tensors = {name: tensor.float() if tensor.is_floating_point() else tensor for name, tensor in tensors.items()}
    return config, tensors
