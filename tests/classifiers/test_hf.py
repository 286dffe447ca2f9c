"""The transformers backend, loading tiny models built and saved here exactly as a downloaded one is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

from classifiers.base import Classifier, ClassifierError
from classifiers.hf import TransformersClassifier

WORDS = "[PAD] [UNK] [CLS] [SEP] the train is late again great service thanks zug ist zu spät danke".split()


def save_tiny_model(directory: Path, id2label: dict[int, str], favourite: int | None = None) -> Path:
    """A 1-layer BERT with random weights; ``favourite`` biases the head towards one output."""
    vocab = {word: index for index, word in enumerate(WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    config = BertConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={label: index for index, label in id2label.items()},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    if favourite is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            model.classifier.bias[favourite] = 8.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


THREE = {0: "negative", 1: "neutral", 2: "positive"}


def test_loads_a_saved_model_and_scores_every_text_in_order(tmp_path: Path) -> None:
    classifier = TransformersClassifier({"model": str(save_tiny_model(tmp_path, THREE)), "batch_size": 2})
    assert isinstance(classifier, Classifier)
    texts = ["the train is late again", "great service thanks", "", "der zug ist zu spät", "danke"]
    results = classifier.analyse(texts, ["en", "en", None, "de", "de"])
    assert len(results) == len(texts)
    for analysis in results:
        assert analysis.sentiment.label in ("negative", "neutral", "positive")
        assert 0.0 <= analysis.sentiment.score <= 1.0
        assert analysis.sentiment.model.startswith(str(tmp_path))
    assert [r.language for r in results][:2] == ["en", "en"]


def test_batching_and_length_bucketing_do_not_change_results(tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path, THREE))
    texts = [
        "great",
        "the train is late again " * 3,
        "thanks",
        "zug ist zu spät danke great service",
        "the",
    ] * 3
    one_by_one = TransformersClassifier({"model": model, "batch_size": 1}).sentiments(texts)
    batched = TransformersClassifier({"model": model, "batch_size": 4}).sentiments(texts)
    assert [s.label for s in one_by_one] == [s.label for s in batched]
    assert [s.score for s in one_by_one] == pytest.approx([s.score for s in batched], abs=1e-4)


def test_truncates_texts_longer_than_the_model_accepts(tmp_path: Path) -> None:
    classifier = TransformersClassifier({"model": str(save_tiny_model(tmp_path, THREE)), "max_length": 512})
    assert classifier.max_length == 64  # capped by the tokenizer's model_max_length
    [result] = classifier.sentiments(["the train is late again " * 2000])
    assert result.label in ("negative", "neutral", "positive")


@pytest.mark.parametrize(
    ("id2label", "favourite", "expected"),
    [
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, 0, "negative"),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, 2, "positive"),
        ({0: "Negative", 1: "Neutral", 2: "Positive"}, 1, "neutral"),
        ({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, 1, "negative"),
        ({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, 2, "neutral"),
        ({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, 4, "positive"),
        ({0: "NEGATIVE", 1: "POSITIVE"}, 1, "positive"),
        ({0: "NEGATIVE", 1: "POSITIVE"}, 0, "negative"),
    ],
)
def test_normalises_the_labels_of_a_saved_model(
    tmp_path: Path, id2label: dict[int, str], favourite: int, expected: str
) -> None:
    classifier = TransformersClassifier({"model": str(save_tiny_model(tmp_path, id2label, favourite))})
    [result] = classifier.sentiments(["great service thanks"])
    assert result.label == expected
    assert result.score > 0.9


def test_an_unsure_two_class_model_says_neutral(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path, {0: "NEGATIVE", 1: "POSITIVE"}, favourite=0)
    with torch.no_grad():  # equal logits: 50/50
        reloaded = BertForSequenceClassification.from_pretrained(model)
        reloaded.classifier.bias.zero_()
        reloaded.save_pretrained(model)
    [result] = TransformersClassifier({"model": str(model)}).sentiments(["the train"])
    assert result.label == "neutral"
    assert result.score == pytest.approx(1.0)


def test_label_override_for_a_model_with_unusual_labels(tmp_path: Path) -> None:
    model = str(save_tiny_model(tmp_path, {0: "angry", 1: "calm", 2: "happy"}, favourite=2))
    with pytest.raises(ClassifierError, match="cannot tell what model label 'angry'"):
        TransformersClassifier({"model": model})
    classifier = TransformersClassifier(
        {"model": model, "labels": {"angry": "negative", "calm": "neutral", "happy": "positive"}}
    )
    assert classifier.sentiments(["danke"])[0].label == "positive"


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="model directory .*nothing-here does not exist"):
        TransformersClassifier({"model": str(tmp_path / "nothing-here")})


def test_a_directory_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierError, match="could not load sentiment model"):
        TransformersClassifier({"model": str(tmp_path)})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs the option model"),
        ({"model": "x", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"model": "x", "colour": "red"}, "unknown transformers classifier option"),
    ],
)
def test_bad_options_are_named(options: dict[str, object], message: str) -> None:
    with pytest.raises(ClassifierError, match=message):
        TransformersClassifier(options)
