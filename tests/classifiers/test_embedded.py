"""The offline default classifier with the adapters shipped in the package."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.base import Classifier, ClassifierError
from classifiers.embedded import EmbeddedClassifier

pytestmark = pytest.mark.model

CLEAR = [
    ("Der Service war wirklich super, vielen Dank für die schnelle Hilfe!", "de", "positive"),
    ("Die Bahn ist schon wieder zu spät, das ist einfach nur schrecklich.", "de", "negative"),
    ("Mein Paket ist immer noch nicht da und niemand antwortet. Unverschämt!", "de", "negative"),
    ("Ich bin total begeistert von der neuen App, alles funktioniert perfekt.", "de", "positive"),
    ("Thanks for the quick help, your support team is great!", "en", "positive"),
    ("Worst customer service ever, I want a refund now.", "en", "negative"),
    ("My order arrived broken and nobody answers my emails.", "en", "negative"),
    ("I love the new update, it works perfectly!", "en", "positive"),
    ("The store opens at 9am on Monday.", "en", "neutral"),
]


@pytest.fixture(scope="module")
def classifier() -> EmbeddedClassifier:
    return EmbeddedClassifier({})


@pytest.fixture(scope="module")
def research() -> EmbeddedClassifier:
    return EmbeddedClassifier({"licence": "research"})


def test_the_research_set_gets_clearly_labelled_german_and_english_right(research: EmbeddedClassifier) -> None:
    results = research.analyse([text for text, _, _ in CLEAR])
    assert [(r.language, r.sentiment.label) for r in results] == [(lang, label) for _, lang, label in CLEAR]
    assert all(r.sentiment.score > 0.5 for r in results)
    assert all(r.sentiment.model == research.model_id for r in results)


@pytest.mark.xfail(
    strict=True,
    reason="known weakness of the commercial set (MODEL_CARD.md, Limitations): it calls 'My order arrived "
    "broken and nobody answers my emails.' neutral; strict, so an improved set makes this fail until the "
    "card and this mark are updated",
)
def test_gets_clearly_labelled_german_and_english_right(classifier: EmbeddedClassifier) -> None:
    results = classifier.analyse([text for text, _, _ in CLEAR])
    assert [(r.language, r.sentiment.label) for r in results] == [(lang, label) for _, lang, label in CLEAR]
    assert all(r.sentiment.score > 0.5 for r in results)
    assert all(r.sentiment.model == classifier.model_id for r in results)
    assert isinstance(classifier, Classifier)


def test_order_and_results_do_not_depend_on_batching(classifier: EmbeddedClassifier) -> None:
    texts = [text for text, _, _ in CLEAR] + ["kurz", "ok " * 400]
    together = classifier.analyse(texts)
    one_by_one = [classifier.analyse([text])[0] for text in texts]
    assert [r.sentiment.label for r in together] == [r.sentiment.label for r in one_by_one]
    assert [r.sentiment.score for r in together] == pytest.approx([r.sentiment.score for r in one_by_one], abs=0.02)


def test_other_languages_and_empty_input(classifier: EmbeddedClassifier) -> None:
    [french] = classifier.analyse(["Le service était excellent, merci beaucoup !"])
    assert (french.language, french.sentiment.label) == ("other", "positive")
    assert classifier.analyse([]) == []


def test_one_pass_gives_sentiment_and_sentence_vectors(classifier: EmbeddedClassifier) -> None:
    texts = [text for text, _, _ in CLEAR]
    analyses, vectors = classifier.analyse_with_vectors(texts)
    assert vectors.shape == (len(texts), classifier.vector_size) and vectors.dtype == np.float32
    assert [a.sentiment.label for a in analyses] == [a.sentiment.label for a in classifier.analyse(texts)]
    alone = classifier.sentence_vectors(texts[:1])[0]
    assert np.allclose(alone, vectors[0], atol=0.05 * float(np.abs(vectors[0]).max()))
    assert classifier.sentence_vectors([]).shape == (0, classifier.vector_size)
    # each Analysis carries its own row, so heads for custom labels reuse this pass
    assert all(np.array_equal(a.vector, v) for a, v in zip(analyses, vectors, strict=True))
    assert all(a.vector is not None and a.vector.shape == (classifier.vector_size,) for a in classifier.analyse(texts))


def test_a_light_head_on_the_sentence_vectors_learns_another_label(classifier: EmbeddedClassifier) -> None:
    """What custom labels will do: a logistic-regression head on the vectors, trained in a moment."""
    from classifiers.heads import fit_linear_head

    cancel = [
        "Ich kündige meinen Vertrag zum Monatsende.",
        "Please cancel my subscription today.",
        "Wie kann ich mein Abo kündigen?",
        "I want to close my account and leave.",
    ]
    other = [
        "Wann öffnet der Laden am Samstag?",
        "Great coffee this morning!",
        "Die neue App sieht gut aus.",
        "Where can I find the user manual?",
    ]
    vectors = classifier.sentence_vectors(cancel + other)
    head = fit_linear_head(vectors, np.array([1] * 4 + [0] * 4), 2, l2=1e-2)
    unseen = classifier.sentence_vectors(["Bitte kündigen Sie meinen Vertrag.", "Nice weather in Berlin today."])
    assert head.logits(unseen).argmax(axis=1).tolist() == [1, 0]


def test_the_licence_option_picks_a_packaged_set(classifier: EmbeddedClassifier) -> None:
    assert (classifier.set_name, classifier.model_id.split("@")[0]) == ("commercial", "e5-small-sentiment-commercial")
    assert classifier.licence.startswith("MIT")
    assert len(classifier.training_fingerprints) > 1000
    research = EmbeddedClassifier({"licence": "research"})
    assert research.set_name == "research" and "non-commercial" in research.licence
    assert research.model_id != classifier.model_id
    with pytest.raises(ClassifierError, match="licence must be one of commercial, research"):
        EmbeddedClassifier({"licence": "free"})


def test_bad_options_are_named() -> None:
    with pytest.raises(ClassifierError, match="precision must be one of"):
        EmbeddedClassifier({"precision": "fp8"})
    with pytest.raises(ClassifierError, match="unknown default classifier option"):
        EmbeddedClassifier({"colour": "red"})
    with pytest.raises(ClassifierError, match="adapter file .* does not exist"):
        EmbeddedClassifier({"model": "/nonexistent/adapters.safetensors"})
