"""Every condition of [rules.when], table-driven over Facts (pure; no database)."""

from __future__ import annotations

from typing import Any

import pytest

from socialcrm.rules.facts import Facts
from tests.rules import factories as f

BASE: dict[str, Any] = {
    "source": "acme-forum",
    "source_type": "feed",
    "language": "de",
    "sentiment": "negative",
    "sentiment_score": 0.91,
    "text": "Meine Lieferung ist überfällig, wann kommt sie?",
    "customer_id": 7,
    "customer_ref": "K-7",
    "segment": "premium",
    "customer_tags": frozenset({"vip"}),
    "author_metrics": {"followers": 1500, "karma": 3},
    "ordered_products": frozenset({"widget pro"}),
}


def _rules(when: str) -> Any:
    toml = f"""
[[rules]]
name = "r"
[rules.when]
{when}
[[rules.then]]
action = "tag"
tags = ["hit"]
"""
    return f.ruleset(f.config(toml))


def _facts(**changes: Any) -> Facts:
    return Facts(**{**BASE, **changes})


CASES = [
    # when (TOML lines), fact changes, fires
    ('sentiment = ["negative"]', {}, True),
    ('sentiment = ["negative"]', {"sentiment": "positive"}, False),
    ('sentiment = "positive"', {"sentiment": "positive"}, True),
    ('sentiment = ["negative"]', {"sentiment": None}, False),
    ('sentiment = ["negative"]\nmin_score = 0.9', {}, True),
    ('sentiment = ["negative"]\nmin_score = 0.95', {}, False),
    ("max_score = 0.5", {"sentiment_score": 0.4}, True),
    ('sentiment = { labels = ["negative"], min_score = 0.8, max_score = 0.95 }', {}, True),
    ('sentiment = { labels = ["negative"], min_score = 0.95 }', {}, False),
    ('language = ["de", "en"]', {}, True),
    ('language = ["en"]', {}, False),
    ('language = "en"', {"language": "en", "text": "Where is my delivery?"}, True),
    ('source_type = ["feed", "reddit"]', {}, True),
    ('source_type = ["reddit"]', {}, False),
    ('source = ["acme-forum"]', {}, True),
    ('source = "other"', {}, False),
    ("query = 'lieferung AND ueberfaellig'", {}, True),
    ("query = 'delivery OR \"never arrived\"'", {"text": "The parcel never arrived", "language": "en"}, True),
    ("query = 'delivery AND NOT giveaway'", {"text": "Delivery giveaway!", "language": "en"}, False),
    ("regex = 'bestell(ung|nr)\\s*\\d+'", {"text": "Bestellung 12345 fehlt"}, True),
    ("regex = ['order #?[A-Z]-\\d+', 'refund']", {"text": "please REFUND me"}, True),
    ("regex = 'bestell(ung|nr)\\s*\\d+'", {}, False),
    ('customer = "linked"', {}, True),
    ('customer = "linked"', {"customer_is_prospect": True}, False),
    ('customer = "unknown"', {"customer_is_prospect": True}, True),
    ('customer = "unknown"', {"customer_id": None}, True),
    ('customer = "unknown"', {}, False),
    ('customer = "prospect"', {"customer_is_prospect": True}, True),
    ('customer = "any"', {"customer_id": None}, True),
    ('segment = ["premium", "b2b"]', {}, True),
    ('segment = "b2b"', {}, False),
    ('customer_tag = ["VIP"]', {}, True),
    ('customer_tag = "churn-risk"', {}, False),
    ("has_open_ticket = true", {"open_ticket_ids": (3,)}, True),
    ("has_open_ticket = true", {}, False),
    ("has_open_ticket = false", {}, True),
    ("consent_marketing = true", {"consent_marketing": True}, True),
    ("consent_marketing = true", {}, False),
    ("consent_marketing = true", {"consent_marketing": True, "customer_is_prospect": True}, False),
    ("consent_marketing = false", {}, True),
    ('ordered_product = ["Widget Pro"]', {}, True),
    ('ordered_product = "Gadget"', {}, False),
    ("author_metrics = { followers = 1000 }", {}, True),
    ("author_metrics = { followers = { min = 2000 } }", {}, False),
    ("author_metrics = { karma = { max = 5 } }", {}, True),
    ("author_metrics = { karma = 1 }", {"author_metrics": {}}, False),
    ('volume = { count = 3, window = "1h" }', {"volume": {"r#volume": 3}}, True),
    ('volume = { count = 3, window = "1h" }', {"volume": {"r#volume": 2}}, False),
    ('label = ["churn"]', {"labels": {"churn": 0.83}}, True),
    ('label = ["churn", "purchase-intent"]', {"labels": {"purchase-intent": 0.6}}, True),
    ('label = "churn"', {"labels": {"purchase-intent": 0.6}}, False),
    ('label = "churn"', {}, False),
    ('label = { labels = ["churn"], min_score = 0.9 }', {"labels": {"churn": 0.83}}, False),
    ('label = { labels = ["churn"], min_score = 0.8 }', {"labels": {"churn": 0.83}}, True),
]


@pytest.mark.parametrize(("when", "changes", "fires"), CASES, ids=[c[0][:48] for c in CASES])
def test_condition(when: str, changes: dict[str, Any], fires: bool) -> None:
    result = _rules(when).evaluate(_facts(**changes)).results[0]
    assert result.fired is fires
    assert result.explanation()["matched"] is fires


def test_explanation_names_each_condition_with_expected_and_found_values() -> None:
    rules = _rules('sentiment = ["negative"]\nlanguage = ["en"]\nquery = "lieferung OR versand"')
    explanation = rules.evaluate(_facts()).results[0].explanation()
    by_name = {c["condition"]: c for c in explanation["conditions"]}
    assert by_name["sentiment"] == {
        "condition": "sentiment",
        "matched": True,
        "expected": ["negative"],
        "actual": "negative",
    }
    assert by_name["language"]["matched"] is False and by_name["language"]["actual"] == "de"
    assert by_name["query"]["actual"] == ["lieferung"]


def test_rule_without_conditions_matches_every_mention() -> None:
    assert _rules("").evaluate(_facts(text="anything")).results[0].fired


_CUSTOMER_FACTS = ("customer_id", "customer_ref", "customer_name", "customer_is_prospect", "consent_marketing")
_CUSTOMER_FACTS += ("segment", "customer_tags", "open_ticket_ids", "ordered_products", "volume", "labels")


@pytest.mark.parametrize(("when", "changes", "fires"), CASES, ids=[c[0][:48] for c in CASES])
def test_what_may_act_before_the_customer_is_known_includes_whatever_fires(
    when: str, changes: dict[str, Any], fires: bool
) -> None:
    """The batch draws ids for the actions ``may_act`` and ``customer_allows`` let through: never fewer
    than evaluation fires, judged first on the mention alone, then with who its customer is."""
    rules, facts = _rules(when), _facts(**changes)
    own = Facts(**{k: v for k, v in {**BASE, **changes}.items() if k not in _CUSTOMER_FACTS})
    possible = rules.may_act(own, ("tag",))
    allowed = rules.customer_allows(facts, possible)
    if fires:
        assert possible == allowed == [("r", "tag")]
    assert rules.may_act(own, ("open_ticket",)) == []  # only the kinds asked for


def test_may_act_leaves_out_rules_the_mention_itself_rules_out() -> None:
    rules = _rules('sentiment = ["negative"]\nquery = "lieferung"\ncustomer = "linked"')
    own = _facts(customer_id=None, customer_ref=None)
    assert rules.may_act(own, ("tag",)) == [("r", "tag")]
    assert rules.may_act(_facts(sentiment="positive"), ("tag",)) == []
    assert rules.may_act(_facts(text="Alles gut"), ("tag",)) == []
    # Who the customer is (here a prospect) is judged once the batch has linked its mentions.
    assert rules.customer_allows(_facts(customer_is_prospect=True), [("r", "tag")]) == []
    assert rules.customer_allows(_facts(), [("r", "tag")]) == [("r", "tag")]
