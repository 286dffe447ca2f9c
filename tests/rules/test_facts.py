"""build_facts reads what the rules need: open tickets, orders, segment and tags, volume spikes."""

from __future__ import annotations

from datetime import timedelta

from tests.rules import factories as f

SPIKE = """
[[rules]]
name = "spike"
[rules.when]
query = "ausfall OR outage OR down"
volume = { count = 3, window = "1h" }
[[rules.then]]
action = "tag"
tags = ["spike"]

[[rules]]
name = "negative-spike"
[rules.when]
volume = { count = 2, window = "30m", sentiment = ["negative"], source_type = "reddit" }
[[rules.then]]
action = "tag"
tags = ["negative-spike"]

[[rules]]
name = "loyal-offer"
[rules.when]
ordered_product = "Wasserkocher"
has_open_ticket = false
segment = "premium"
customer_tag = "newsletter"
[[rules.then]]
action = "tag"
tags = ["offer"]
"""


def test_volume_spike_counts_matching_mentions_in_the_window(db) -> None:
    cfg = f.config(SPIKE)
    rules = f.ruleset(cfg)
    with db.write() as session:
        times = [f.NOW - timedelta(minutes=m) for m in (90, 40, 20, 0)]
        texts = ["Totaler Ausfall seit heute", "Service is down again", "Wieder ein AUSFALL", "outage!!"]
        posts = [
            f.mention(session, text, published_at=at, source_type="reddit", sentiment="negative")
            for text, at in zip(texts, times, strict=True)
        ]
        f.mention(session, "Alles gut hier", published_at=f.NOW - timedelta(minutes=5))
        counts = []
        for post in posts:
            evaluation = f.process(session, post, cfg, rules)
            counts.append((evaluation.results[0].conditions[-1].actual, evaluation.results[0].fired))
        tags = [post.tags for post in posts]
    # each window ends at the mention's own time: the 90-minute-old post counts only for the next one
    assert counts == [(1, False), (2, False), (2, False), (3, True)]
    assert tags[-1] == ["spike", "negative-spike"]
    assert tags[1] == []  # two negative reddit posts within 30 minutes only from the third post on
    assert tags[2] == ["negative-spike"]


def test_customer_facts_orders_tickets_segment_tags(db) -> None:
    cfg = f.config(SPIKE)
    rules = f.ruleset(cfg)
    with db.write() as session:
        kim = f.customer(session, "K-1", "Kim", handles={"feed": "kim"}, segment="premium", tags=["Newsletter"])
        f.order(session, "A-1", kim.id, ["Wasserkocher", "Entkalker"])
        first = f.mention(session, "Tolles Produkt", author="kim")
        evaluation = f.process(session, first, cfg, rules)
        offer = evaluation.results[2]
        assert offer.fired, offer.explanation()
        assert {c.name: c.actual for c in offer.conditions}["ordered_product"] == ["wasserkocher"]
        from socialcrm.services import tickets

        tickets.open_ticket(session, subject="x", customer_id=kim.id, thread_key="other")
        evaluation = f.process(session, f.mention(session, "Noch was", author="kim"), cfg, rules)
        offer = evaluation.results[2]
        assert not offer.fired
        assert {c.name: c.matched for c in offer.conditions}["has_open_ticket"] is False
