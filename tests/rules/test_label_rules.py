"""Rules on custom labels: ``[rules.when] label = [...]`` reads the labels stored for a mention and explains them."""

from __future__ import annotations

import pytest
from sqlmodel import select

from socialcrm.errors import ConfigError
from socialcrm.models import CustomLabel, Decision, MentionLabel, Ticket
from socialcrm.rules.explain import explain_mention, format_explanation
from tests.rules import factories as f

RULE = """
[[rules]]
name = "churn-ticket"
[rules.when]
label = ["churn"]
[[rules.then]]
action = "open_ticket"
priority = "high"
"""


def test_a_rule_on_a_label_fires_for_mentions_that_have_it_and_explains_the_score(db) -> None:
    cfg = f.config(RULE)
    rules = f.ruleset(cfg)
    assert rules.needs_labels
    with db.write() as session:
        churn = CustomLabel(name="churn", enabled=True, head=b"\0" * 8, features="words-v1")
        off = CustomLabel(name="purchase-intent", enabled=False, head=b"\0" * 8, features="words-v1")
        session.add_all([churn, off])
        leaving = f.mention(session, "I am cancelling my contract", external_id="a")
        staying = f.mention(session, "Where is my parcel?", external_id="b")
        session.flush()
        assert churn.id and off.id and leaving.id and staying.id
        session.add(MentionLabel(mention_id=leaving.id, label_id=churn.id, score=0.87))
        session.add(MentionLabel(mention_id=leaving.id, label_id=off.id, score=0.7))  # switched off: ignored
        session.flush()
        fired = f.process(session, leaving, cfg, rules).results[0]
        missed = f.process(session, staying, cfg, rules).results[0]
        leaving_id = leaving.id
    assert fired.fired and not missed.fired
    condition = fired.explanation()["conditions"][0]
    assert condition == {"condition": "label", "matched": True, "expected": ["churn"], "actual": {"churn": 0.87}}
    with db.read() as session:
        assert len(session.exec(select(Ticket)).all()) == 1
        assert session.exec(select(Decision).where(Decision.mention_id == leaving_id)).first() is not None
        lines = format_explanation(explain_mention(session, leaving_id, rules))
    assert "  ok   label: expected [churn]; found churn=0.87" in lines


THEN = '[[rules.then]]\naction = "tag"\ntags = ["x"]\n'


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ('label = ["Bug Report"]', "rules[0].when.label: 'bug report' is not a label name"),
        ("label = []", "rules[0].when.label: must be a non-empty string or list of strings"),
        ('label = { names = ["churn"] }', "rules[0].when.label.names: unknown key"),
        ("label = { min_score = 0.5 }", "rules[0].when.label.labels: required"),
        ('label = { labels = ["churn"], min_score = 2 }', "rules[0].when.label.min_score: must lie between 0 and 1"),
    ],
)
def test_label_conditions_are_checked_when_the_config_loads(when: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        f.ruleset(f.config(f'[[rules]]\nname = "r"\n[rules.when]\n{when}\n{THEN}'))
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_rules_without_labels_do_not_read_them() -> None:
    assert not f.ruleset(f.config()).needs_labels


def test_the_labels_rules_name_and_which_of_them_are_not_switched_on(db) -> None:
    from socialcrm.services.label_predictions import RuleLabelProblem, rule_label_problems

    lead = RULE.replace("churn-ticket", "lead").replace('["churn"]', '["purchase-intent", "upsell"]')
    rules = f.ruleset(f.config(RULE + lead))
    assert rules.label_names == ["churn", "purchase-intent", "upsell"]
    assert rules.labels_by_rule == {"churn-ticket": ["churn"], "lead": ["purchase-intent", "upsell"]}
    with db.write() as session:
        session.add(CustomLabel(name="churn", enabled=True, head=b"\0" * 8, features="words-v1"))
        session.add(CustomLabel(name="purchase-intent", enabled=False))
    with db.read() as session:
        assert rule_label_problems(session, rules.labels_by_rule) == [
            RuleLabelProblem("lead", "purchase-intent", defined=True),
            RuleLabelProblem("lead", "upsell", defined=False),
        ]


async def test_the_daemon_warns_at_start_with_the_rule_and_the_label(db, caplog: pytest.LogCaptureFixture) -> None:
    from socialcrm.runtime import Runtime

    lead = RULE.replace("churn-ticket", "lead").replace('["churn"]', '["purchase-intent"]')
    cfg = f.config(f'[database]\nurl = "{db.url}"\n[classifier]\nkind = "lexicon"\n{RULE}{lead}')
    with db.write() as session:
        session.add(CustomLabel(name="churn", enabled=True, head=b"\0" * 8, features="words-v1"))
    with caplog.at_level("WARNING", logger="socialcrm.runtime"):
        runtime = await Runtime.open(cfg, db=db)
        await runtime.close()
    assert [r.getMessage() for r in caplog.records if r.name == "socialcrm.runtime"] == [
        "rule 'lead' names the label 'purchase-intent', which is not defined: it matches nothing"
    ]
