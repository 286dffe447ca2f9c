"""LoRA adapters: training-time wrapping and load-time merging compute the same function."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel

from classifiers.adapters import (
    AdapterConfig,
    SentimentHeads,
    attach_lora,
    load_adapters,
    lora_tensors,
    merge_lora,
    save_adapters,
)
from classifiers.base import ClassifierError


def tiny_encoder() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=10, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    return BertModel(config, add_pooling_layer=False).eval()


def test_merged_adapters_equal_the_wrapped_forward(tmp_path: Path) -> None:
    torch.manual_seed(1)
    config = AdapterConfig(layers=2, rank=4, alpha=8.0)
    inputs = torch.randn(3, 5, 32)
    wrapped_encoder = tiny_encoder()
    wrapped = attach_lora(wrapped_encoder, config, dropout=0.0)
    assert len(wrapped) == 2 * 6
    with torch.no_grad():
        for module in wrapped.values():
            module.b.normal_(std=0.2)  # B starts at zero; make the update visible
    heads = SentimentHeads(32, config.languages)
    save_adapters(tmp_path / "a.safetensors", config, {**lora_tensors(wrapped), **heads.tensors()})
    with torch.no_grad():
        expected = wrapped_encoder(inputs_embeds=inputs).last_hidden_state

    loaded_config, tensors = load_adapters(tmp_path / "a.safetensors")
    assert loaded_config.rank == 4 and loaded_config.languages == ("en", "de")
    plain = tiny_encoder()
    assert merge_lora(plain, tensors, loaded_config) == 12
    with torch.no_grad():
        merged = plain(inputs_embeds=inputs).last_hidden_state
    assert torch.allclose(merged, expected, atol=2e-2)  # fp16 storage
    assert not torch.allclose(tiny_encoder()(inputs_embeds=inputs).last_hidden_state, expected, atol=2e-2)


def test_heads_pick_the_head_of_each_language() -> None:
    heads = SentimentHeads(4, ("en", "de"), dropout=0.0)
    with torch.no_grad():
        heads.heads["en"].weight.zero_()
        heads.heads["en"].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
        heads.heads["de"].weight.zero_()
        heads.heads["de"].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    logits = heads(torch.zeros(2, 4), torch.tensor([0, 1]))
    assert logits.argmax(dim=1).tolist() == [2, 0]


def test_a_foreign_file_is_rejected(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ClassifierError, match="is not a socialcrm-e5-sentiment-1 adapter file"):
        load_adapters(tmp_path / "other.safetensors")
    with pytest.raises(ClassifierError, match="does not exist"):
        load_adapters(tmp_path / "missing.safetensors")
