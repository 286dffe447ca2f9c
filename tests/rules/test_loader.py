"""Compiling rules: every problem as rules[N].field at config load, ordering, stop, suppress, templates."""

from __future__ import annotations

import pytest

from socialcrm.config import parse_config
from socialcrm.errors import ConfigError
from socialcrm.rules.facts import Facts
from tests.rules import factories as f


def _when(condition: str) -> str:
    return f'[[rules]]\nname = "a"\n[rules.when]\n{condition}\n[[rules.then]]\naction = "tag"\ntags = ["x"]'


def _problems(toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(toml)
    return caught.value.problems


BROKEN = [
    ('[[rules]]\n[[rules.then]]\naction = "tag"\ntags = ["x"]', "rules[0].name: required"),
    (
        '[[rules]]\nname = "a"\norder = "first"\n[[rules.then]]\naction = "tag"\ntags = ["x"]',
        "rules[0].order: must be a whole number",
    ),
    (
        '[[rules]]\nname = "a"\nstop = "yes"\n[[rules.then]]\naction = "tag"\ntags = ["x"]',
        "rules[0].stop: must be true or false",
    ),
    (
        '[[rules]]\nname = "a"\nwhen_ = 1\n[[rules.then]]\naction = "tag"\ntags = ["x"]',
        "rules[0].when_: unknown key (allowed: name, order, stop, enabled, description, when, then)",
    ),
    (
        _when('sentiment = ["angry"]'),
        "rules[0].when.sentiment: unknown value 'angry' (allowed: negative, neutral, positive)",
    ),
    (
        _when('query = "(lieferung OR"'),
        "rules[0].when.query: query ends where a term was expected",
    ),
    (
        _when('regex = "(unclosed"'),
        "rules[0].when.regex: invalid regular expression",
    ),
    (
        _when('customer = "known"'),
        "rules[0].when.customer: must be one of: linked, unknown, prospect, any",
    ),
    (
        _when('mood = "bad"'),
        "rules[0].when.mood: unknown condition (allowed:",
    ),
    (
        _when('volume = { count = 0, window = "1h" }'),
        "rules[0].when.volume.count: must be a whole number of at least 1",
    ),
    (
        _when('volume = { count = 5, window = "soon" }'),
        "rules[0].when.volume.window: not a duration",
    ),
    (
        _when('has_open_ticket = "yes"'),
        "rules[0].when.has_open_ticket: must be true or false",
    ),
    ('[[rules]]\nname = "a"', "rules[0].then: at least one action is required"),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "close_ticket"',
        "rules[0].then[0].action: unknown action 'close_ticket' (allowed: open_ticket, draft_reply, tag,",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "open_ticket"\npriority = "asap"',
        "rules[0].then[0].priority: unknown priority 'asap' (allowed: low, normal, high, urgent)",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "open_ticket"\nqueue = "x"',
        "rules[0].then[0].queue: unknown key for open_ticket (allowed: team, priority, assignee)",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "draft_reply"\ntemplate = "missing"',
        "rules[0].then[0].template: no template 'missing' in [templates] (defined: none defined)",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "notify"\nwebhook = "slack"',
        "rules[0].then[0].webhook: no [[webhooks]] entry named 'slack'",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "suppress"\nrules = ["nonexistent"]',
        "rules[0].then[0].rules: no rule matches 'nonexistent'",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "suppress"\nactions = ["reply"]',
        "rules[0].then[0].actions: unknown action 'reply'",
    ),
    (
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "tag"\ntags = ["x"]\n'
        '[[rules]]\nname = "a"\n[[rules.then]]\naction = "tag"\ntags = ["y"]',
        "rules[1].name: duplicate rule name 'a' (also rules[0])",
    ),
    (  # the rule columns of decisions, tickets, drafts and action keys hold 128 characters
        f'[[rules]]\nname = "{"r" * 129}"\n[[rules.then]]\naction = "tag"\ntags = ["x"]',
        "rules[0].name: at most 128 characters (it has 129)",
    ),
    (
        f'[[rules]]\nname = "a"\n[[rules.then]]\naction = "open_ticket"\nteam = "{"t" * 65}"',
        "rules[0].then[0].team: at most 64 characters (it has 65)",
    ),
]


@pytest.mark.parametrize(("toml", "expected"), BROKEN, ids=[b[1][:40] for b in BROKEN])
def test_broken_rule_is_a_startup_error_naming_the_field(toml: str, expected: str) -> None:
    problems = _problems(toml)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    problems = _problems(
        '[[rules]]\nname = "a"\n[rules.when]\nsentiment = "bad"\nlanguage = 5\n'
        '[[rules.then]]\naction = "nope"\n'
        '[[rules]]\nname = "b"\norder = 1.5\n[[rules.then]]\naction = "tag"\ntags = ["x"]\n'
    )
    prefixes = sorted(p.split(":")[0] for p in problems)
    assert prefixes == [
        "rules[0].then[0].action",
        "rules[0].when.language",
        "rules[0].when.sentiment",
        "rules[1].order",
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hallo {{ autor }}", "templates.t.de: unknown variable 'autor' (known: agent_name, author, author_name,"),
        ("Hallo {{ customer.vorname }}", "templates.t.de: unknown variable 'customer.vorname'"),
        ("Hallo {{ author", "templates.t.de: syntax error on line 1:"),
        ("{{ author.__class__.__mro__ }}", "templates.t.de: "),
    ],
)
def test_template_problems_are_config_errors_not_send_errors(template: str, expected: str) -> None:
    toml = f'[templates.t]\nde = "{template}"\nen = "Hi {{{{ author }}}}"\n'
    problems = _problems(toml)
    assert any(p.startswith(expected) for p in problems), problems


def test_template_variables_render_in_sandbox() -> None:
    cfg = f.config(
        "[templates.t]\nen = \"Hi {{ customer_name }} ({{ customer.customer_ref }}), re: {{ title|default('-') }}\""
    )
    rules = f.ruleset(cfg)
    language, text = rules.templates["t"].render(
        "de",
        {
            "customer_name": "Ann",
            "customer": {"customer_ref": "K-1"},
            "title": "Late",
        },
    )
    assert (language, text) == ("en", "Hi Ann (K-1), re: Late")


def _names(rules_toml: str, **facts: object) -> list[tuple[str, bool, str | None]]:
    rules = f.ruleset(f.config(rules_toml))
    evaluation = rules.evaluate(Facts(source="s", source_type="feed", text="Wo bleibt meine Lieferung?", **facts))
    return [(r.rule.name, r.fired, r.skipped) for r in evaluation.results]


def _rule(
    name: str,
    *,
    order: int | None = None,
    stop: bool = False,
    then: str = 'action = "tag"\ntags = ["x"]',
    when: str = "",
    enabled: bool = True,
) -> str:
    lines = ["[[rules]]", f'name = "{name}"']
    if order is not None:
        lines.append(f"order = {order}")
    if stop:
        lines.append("stop = true")
    if not enabled:
        lines.append("enabled = false")
    if when:
        lines += ["[rules.when]", when]
    lines += ["[[rules.then]]", then]
    return "\n".join(lines) + "\n"


def test_rules_run_by_order_then_file_position() -> None:
    toml = _rule("late", order=50) + _rule("first-in-file") + _rule("early", order=5) + _rule("second-in-file")
    assert [n for n, *_ in _names(toml)] == ["early", "late", "first-in-file", "second-in-file"]


def test_stop_ends_evaluation_once_the_rule_fires() -> None:
    toml = _rule("vip", order=1, stop=True, when='customer_tag = "vip"') + _rule("generic", order=2)
    assert _names(toml, customer_tags=frozenset({"vip"})) == [
        ("vip", True, None),
        ("generic", False, "rule 'vip' fired with stop = true"),
    ]
    assert _names(toml) == [("vip", False, None), ("generic", True, None)]


def test_suppress_silences_later_rules_and_action_kinds() -> None:
    toml = (
        _rule(
            "no-offer-after-purchase",
            order=1,
            when='ordered_product = "Widget Pro"',
            then='action = "suppress"\nrules = ["offer-*"]',
        )
        + _rule(
            "no-marketing-reply-with-open-complaint",
            order=2,
            when="has_open_ticket = true",
            then='action = "suppress"\nactions = ["draft_reply"]',
        )
        + _rule("offer-widget-pro", order=3, then='action = "tag"\ntags = ["offer"]')
        + _rule("answer", order=4, then='action = "draft_reply"\ntemplate = "t"')
        + '[templates.t]\nen = "Hi"\n'
    )
    rules = f.ruleset(f.config(toml))
    base = {"source": "s", "source_type": "feed", "text": "Widget Pro?"}
    plain = rules.evaluate(Facts(**base))
    assert [r.fired for r in plain.results] == [False, False, True, True]
    bought = rules.evaluate(Facts(**base, ordered_products=frozenset({"widget pro"}), open_ticket_ids=(1,)))
    offer, answer = bought.results[2], bought.results[3]
    assert (offer.fired, offer.skipped) == (False, "suppressed by rule 'no-offer-after-purchase'")
    assert answer.fired and answer.actions == ()
    assert (
        answer.explanation()["suppressed_actions"][0]["by"]
        == "suppressed by rule 'no-marketing-reply-with-open-complaint'"
    )


def test_disabled_rule_never_fires_but_is_explained() -> None:
    assert _names(_rule("off", enabled=False)) == [("off", False, "rule is disabled")]
