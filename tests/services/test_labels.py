"""Custom labels: defining, marking examples, honest cross-validated estimates, predicting and back-labelling."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest
from sqlmodel import select

from socialcrm.errors import ConflictError, InvalidInputError, NotFoundError
from socialcrm.labelling.features import WORDS_KEY, WordFeatures, vectors_key
from socialcrm.labelling.predict import ActiveLabel, predict
from socialcrm.labelling.training import LabelHead, cross_validated_scores, fit_head
from socialcrm.models import AuditEntry, CustomLabel, MentionLabel
from socialcrm.services import label_predictions, labels
from socialcrm.services.labels import LabelInput
from tests.rules import factories as f

CHURN = [
    "I am cancelling my contract today",
    "Ich kündige meinen Vertrag zum Monatsende",
    "switching to another provider, goodbye",
    "Ich wechsle zu einem anderen Anbieter",
    "please close my account, I am leaving",
]
OTHER = [
    "where is my parcel, it is late",
    "Wo bleibt mein Paket?",
    "the new app is great, thanks",
    "Die neue App ist super",
    "what are your opening hours",
]


def _starter() -> dict[str, object]:
    text = resources.files("socialcrm.labelling").joinpath("starter_labels.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_names_are_checked_and_taken_names_refused(db) -> None:
    with db.write() as session:
        label = labels.define(session, LabelInput("Churn ", "Churn signal"), actor="anna")
        assert label.name == "churn" and label.enabled is False
        with pytest.raises(ConflictError, match="exists already"):
            labels.define(session, LabelInput("churn"), actor="anna")
        for bad in ("", "bug report", "-x", "ä"):
            with pytest.raises(InvalidInputError, match="label name"):
                labels.define(session, LabelInput(bad), actor="anna")
        with pytest.raises(InvalidInputError, match="threshold"):
            labels.define(session, LabelInput("other", threshold=1.5), actor="anna")
        with pytest.raises(NotFoundError):
            labels.by_name(session, "nope")


def test_a_label_is_switched_on_only_once_trained(db) -> None:
    with db.write() as session:
        label = labels.define(session, LabelInput("churn"), actor="anna")
        assert label.id is not None
        with pytest.raises(ConflictError, match="not trained yet"):
            labels.set_enabled(session, label.id, True, actor="anna")
        label_id = label.id
    with db.write() as session:
        for text in CHURN:
            labels.add_text(session, label_id, text, True, actor="anna")
        for text in OTHER[:2]:
            labels.add_text(session, label_id, text, False, actor="anna")
    with pytest.raises(InvalidInputError, match="it has 5 and 2"):
        labels.train_label(db, label_id, WordFeatures(), actor="anna")


def test_training_estimates_on_every_example_and_says_on_how_many(db) -> None:
    with db.write() as session:
        label_id = labels.define(session, LabelInput("churn"), actor="anna").id
        assert label_id is not None
        mentions = [f.mention(session, text, external_id=f"m{i}") for i, text in enumerate(CHURN + OTHER)]
        for mention, positive in zip(mentions, [True] * 5 + [False] * 5, strict=True):
            assert mention.id is not None
            labels.mark_mention(session, label_id, mention.id, positive, actor="anna")
        # marking again changes the mark instead of adding a second example
        assert mentions[0].id is not None
        labels.mark_mention(session, label_id, mentions[0].id, False, actor="anna")
        labels.mark_mention(session, label_id, mentions[0].id, True, actor="anna")
        labels.add_text(session, label_id, "I will terminate my subscription", True, actor="anna")
    label = labels.train_label(db, label_id, WordFeatures(), actor="anna")
    assert (label.positives, label.negatives, label.cv_folds) == (6, 5, 5)
    assert label.features == WORDS_KEY and label.head is not None
    assert label.cv_recall is not None  # precision stays None while no held-out example scores positive
    with db.write() as session:
        assert labels.set_enabled(session, label_id, True, actor="anna").enabled
    with db.read() as session:
        actions = [e.action for e in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["label.define", "label.train", "label.enable"]
        rows = labels.examples(session, label_id)
        assert len(rows) == 11 and rows[0].text == "I will terminate my subscription"


def test_erased_mentions_drop_out_of_training(db) -> None:
    with db.write() as session:
        label_id = labels.define(session, LabelInput("churn"), actor="anna").id
        assert label_id is not None
        mention = f.mention(session, "cancel my contract", external_id="gone")
        assert mention.id is not None
        labels.mark_mention(session, label_id, mention.id, True, actor="anna")
        labels.add_text(session, label_id, "kept", False, actor="anna")
        mention.erased_at = mention.published_at
        session.add(mention)
    with db.read() as session:
        assert labels.training_examples(session, label_id) == [labels.Example("kept", False)]


def test_cross_validation_never_scores_an_example_with_a_head_that_saw_it() -> None:
    # Random features with random targets: a head fitted on all of it separates them perfectly,
    # but examples it did not see are scored at chance. An estimate on training data would say ~100%.
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 200)).astype(np.float32)
    targets = rng.permutation(np.array([1] * 30 + [0] * 30))
    in_sample = fit_head(features, targets).scores(features) >= 0.5
    assert (in_sample == targets.astype(bool)).mean() == 1.0
    scores, folds = cross_validated_scores(features, targets)
    assert folds == 5
    assert 0.25 < ((scores >= 0.5) == targets.astype(bool)).mean() < 0.75


def test_a_head_survives_the_database_as_bytes() -> None:
    head = LabelHead(np.array([0.5, -1.25, 3.0], dtype=np.float32), -0.75)
    again = LabelHead.from_bytes(head.to_bytes())
    assert np.array_equal(again.weight, head.weight) and again.bias == head.bias


def test_predict_uses_the_classifiers_vectors_and_skips_heads_for_other_features() -> None:
    words_head = fit_head(WordFeatures().of(CHURN + OTHER), np.array([1] * 5 + [0] * 5))
    vector_head = LabelHead(np.array([1.0, 0.0], dtype=np.float32), 0.0)
    active = [
        ActiveLabel(1, "churn", 0.5, words_head, WORDS_KEY),
        ActiveLabel(2, "loud", 0.5, vector_head, vectors_key("e5@1")),
        ActiveLabel(3, "old", 0.5, vector_head, vectors_key("e5@0")),
    ]
    texts = ["I am cancelling my contract, switching provider", "the app is great", "kein Vektor"]
    vectors = [np.array([5.0, 0.0]), np.array([-5.0, 0.0]), None]
    found, skipped = predict(active, texts, vectors=vectors, vectors_key=vectors_key("e5@1"))
    assert [[p.name for p in row] for row in found] == [["churn", "loud"], [], []]
    assert skipped == ["old"]
    assert 0.5 <= found[0][0].score <= 1.0


def _trained_active_label(db) -> int:
    with db.write() as session:
        label_id = labels.define(session, LabelInput("churn"), actor="anna").id
        assert label_id is not None
        for text in CHURN:
            labels.add_text(session, label_id, text, True, actor="anna")
        for text in OTHER:
            labels.add_text(session, label_id, text, False, actor="anna")
    labels.train_label(db, label_id, WordFeatures(), actor="anna")
    with db.write() as session:
        labels.set_enabled(session, label_id, True, actor="anna")
    return label_id


def test_backfill_labels_existing_mentions_a_bounded_page_at_a_time(db) -> None:
    label_id = _trained_active_label(db)
    with db.write() as session:
        ids = [f.mention(session, text, external_id=f"b{i}").id for i, text in enumerate(CHURN + OTHER)]
        # a stale prediction is replaced by back-labelling
        session.add(MentionLabel(mention_id=ids[-1], label_id=label_id, score=0.99))
    with db.read() as session:
        active = label_predictions.active_labels(session)
    first = label_predictions.backfill(db, active, None, limit=6, actor="anna")
    assert first.mentions == 6 and first.next_before == ids[4]
    second = label_predictions.backfill(db, active, None, before_id=first.next_before, limit=6, actor="anna")
    assert second.mentions == 4 and second.next_before is None
    with db.read() as session:
        labelled = set(session.exec(select(MentionLabel.mention_id).where(MentionLabel.label_id == label_id)))
        by_mention = label_predictions.labels_of(session, ids)
    assert ids[-1] not in labelled  # "what are your opening hours" is no churn signal
    assert labelled and labelled <= set(ids[:5])
    assert all(set(found) == {"churn"} for found in by_mention.values())


def test_switched_off_labels_are_not_applied_or_shown(db) -> None:
    label_id = _trained_active_label(db)
    with db.write() as session:
        mention_id = f.mention(session, "cancelling my contract").id
        assert mention_id is not None
        session.add(MentionLabel(mention_id=mention_id, label_id=label_id, score=0.9))
    with db.write() as session:
        labels.set_enabled(session, label_id, False, actor="anna")
    with db.read() as session:
        assert label_predictions.active_labels(session) == []
        assert label_predictions.labels_of(session, [mention_id]) == {}


def test_starter_labels_import_once_with_examples_in_both_languages(db) -> None:
    document = _starter()
    with db.write() as session:
        added = labels.import_labels(session, document, actor="cli")
    assert set(added) == {"churn", "purchase-intent"}
    assert all(positive >= 20 and negative >= 20 for positive, negative in added.values())
    with db.write() as session:
        again = labels.import_labels(session, document, actor="cli")
        assert again == {"churn": (0, 0), "purchase-intent": (0, 0)}
        churn = labels.by_name(session, "churn")
        assert churn.id is not None
        texts = [e.text for e in labels.training_examples(session, churn.id)]
        assert any("kündige" in t for t in texts) and any("cancelling" in t for t in texts)
    with db.write() as session, pytest.raises(InvalidInputError, match=r"\[x\].positive"):
        labels.import_labels(session, {"x": {"positive": "not a list"}}, actor="cli")
    with db.read() as session:
        assert session.exec(select(CustomLabel).where(CustomLabel.name == "x")).first() is None


def test_the_enricher_reads_the_classifiers_vectors_and_stores_labels_with_the_mention(db, caplog) -> None:
    from classifiers.base import Analysis, Sentiment
    from connectors import RawPost
    from socialcrm.pipeline import NewPost
    from socialcrm.services.label_enricher import LabelEnricher

    with db.write() as session:
        loud = CustomLabel(
            name="loud",
            enabled=True,
            head=LabelHead(np.array([1.0, 0.0], dtype=np.float32), 0.0).to_bytes(),
            features=vectors_key("e5@1"),
        )
        stale = CustomLabel(
            name="stale", enabled=True, head=loud.head, features=vectors_key("e5@0")
        )  # trained for another classifier
        session.add_all([loud, stale])
    now = f.NOW

    def item(text: str, vector: list[float]) -> NewPost:
        post = RawPost("acme-forum", text, "https://x.example/" + text, "a", None, text, now)
        return NewPost(post, Analysis(Sentiment("neutral", 0.9, "e5@1"), "en", np.array(vector, dtype=np.float32)))

    items = [item("shout", [6.0, 0.0]), item("whisper", [-6.0, 0.0])]
    enricher = LabelEnricher(db)
    enricher.enrich(items)
    assert [[p.name for p in i.extra["labels"]] for i in items] == [["loud"], []]
    assert "Label stale was trained for another classifier" in caplog.text
    with db.write() as session:
        mentions = [f.mention(session, i.post.body, external_id=i.post.external_id) for i in items]
        enricher.store(session, list(zip(items, mentions, strict=True)))
        ids = [m.id for m in mentions]
    with db.read() as session:
        assert label_predictions.labels_of(session, ids) == {ids[0]: {"loud": 0.9975}}  # sigmoid(6)


def test_a_persons_export_holds_the_labels_of_their_mentions(db) -> None:
    from socialcrm.services.privacy import export_person

    cfg = f.config("")
    with db.write() as session:
        f.customer(session, "K-77", "Erika Muster", handles={"feed": "erika"})
        mention = f.mention(session, "I am cancelling my contract", author="erika", source_type="feed")
        f.process(session, mention, cfg, f.ruleset(cfg))
        label = labels.define(session, LabelInput("churn"), actor="anna")
        assert label.id is not None and mention.id is not None
        labels.mark_mention(session, label.id, mention.id, True, actor="anna")
        session.add(MentionLabel(mention_id=mention.id, label_id=label.id, score=0.8))
    with db.write() as session:
        document = export_person(session, "K-77", actor="dpo")
    assert [(row["mention_id"], row["score"]) for row in document["custom_labels"]] == [(mention.id, 0.8)]
    assert [row["positive"] for row in document["label_examples"]] == [True]


async def test_a_new_post_gets_its_labels_before_the_rules_run(db) -> None:
    # The pipeline as the daemon runs it: classify, predict labels, store, then link and rules.
    from classifiers.lexicon import LexiconClassifier
    from connectors import Batch, RawPost
    from socialcrm.models import TicketMention
    from socialcrm.pipeline import Pipeline
    from socialcrm.services.label_enricher import LabelEnricher

    _trained_active_label(db)
    cfg = f.config(
        '[[sources]]\nname = "acme-forum"\ntype = "feed"\nurl = "https://forum.example/feed"\n'
        '[[rules]]\nname = "churn-ticket"\n[rules.when]\nlabel = ["churn"]\n'
        '[[rules.then]]\naction = "open_ticket"\npriority = "high"\n'
    )
    pipeline = Pipeline(cfg, db, LexiconClassifier(), f.ruleset(cfg), enrichers=[LabelEnricher(db)])
    posts = [
        RawPost("acme-forum", "p1", "https://forum.example/1", "a", None, "I am cancelling my contract today", f.NOW),
        RawPost("acme-forum", "p2", "https://forum.example/2", "b", None, "what are your opening hours", f.NOW),
    ]
    result = await pipeline.process(cfg.sources[0], Batch(posts=posts, cursor=None))
    assert result.new == 2 and result.tickets == 1
    with db.read() as session:
        labelled = label_predictions.labels_of(session, result.mention_ids)
        ticket_mentions = list(session.exec(select(TicketMention.mention_id)))
    assert set(labelled) == {result.mention_ids[0]} and "churn" in labelled[result.mention_ids[0]]
    assert ticket_mentions == [result.mention_ids[0]]
