"""Reply templates never leave an empty gap, write dates the reply language's way, and keep the load check."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from socialcrm.rules.templates import Missing, OrderStatus, check_template, render_source
from tests.rules import factories as f


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hallo {{ name }}, danke für Ihre Frage!", "Hallo, danke für Ihre Frage!"),
        ("Hi {{ name }}! Thanks.", "Hi! Thanks."),
        ("Ihre Bestellung ({{ name }}) ist unterwegs.", "Ihre Bestellung ist unterwegs."),
        ("Bestellung {{ name }} vom {{ name }} ist da.", "Bestellung vom ist da."),
        ("{{ name }} danke\nGruß {{ name }}", "danke\nGruß"),
        ("Hallo {{ name }} {{ name }}, danke", "Hallo, danke"),
        ("Hallo {{ name }}, danke", "Hallo Ida, danke"),
    ],
)
def test_a_missing_value_closes_up(source: str, expected: str) -> None:
    value = "Ida" if expected.startswith("Hallo Ida") else Missing("name")
    rendered = render_source(source, {"name": value})
    assert rendered.text == expected
    assert rendered.missing == (() if value == "Ida" else ("name",))


def test_none_and_empty_values_are_missing_too_never_the_word_none() -> None:
    rendered = render_source("Ticket {{ ticket_id }}: danke{{ x }}.", {"ticket_id": None, "x": ""})
    assert rendered.text == "Ticket: danke."


def test_dates_follow_the_reply_language() -> None:
    day = datetime(2026, 10, 1, 22, 30, tzinfo=UTC)
    assert render_source("vom {{ d }}", {"d": day, "language": "de"}).text == "vom 01.10.2026"
    assert render_source("of {{ d }}", {"d": day, "language": "en"}).text == "of 1 Oct 2026"


@pytest.mark.parametrize(
    ("shop_wrote", "german", "english"),
    [
        ("shipped", "versandt", "shipped"),
        ("wc-on-hold", "zurückgestellt", "on hold"),
        ("Out_for_Delivery", "in der Zustellung", "out for delivery"),
        ("Storniert", "storniert", "cancelled"),
        ("Warten auf Lieferant", "Warten auf Lieferant", "Warten auf Lieferant"),
    ],
)
def test_a_common_order_status_is_written_in_the_replys_language(shop_wrote: str, german: str, english: str) -> None:
    status = OrderStatus(shop_wrote)
    assert render_source("Stand: {{ s }}.", {"s": status, "language": "de"}).text == f"Stand: {german}."
    assert render_source("Status: {{ s }}.", {"s": status, "language": "en"}).text == f"Status: {english}."


def test_the_demo_greeting_without_an_author_reads_hallo_danke() -> None:
    """The demo's feed without authors wrote "Hallo , danke"; with no name the greeting goes without."""
    cfg = f.config(
        '[templates.question]\nde = "Hallo {{ author }}, danke für Ihre Frage!"\nen = "Hi {{ author }}, thanks!"'
    )
    rules = f.ruleset(cfg)
    assert rules.templates["question"].render("de", {"author": Missing("author")}) == (
        "de",
        "Hallo, danke für Ihre Frage!",
    )


def test_the_crm_variables_pass_the_load_check_and_typos_still_fail() -> None:
    source = (
        "{{ customer_name }}: {{ order_number }} {{ order_product }} {{ order_date }} {{ order_status }} "
        "{{ ticket_number }} {{ agent_name }}"
    )
    assert check_template(source) == []
    assert check_template("{{ order_nummer }}")[0].startswith("unknown variable 'order_nummer'")


def test_dates_are_the_day_in_the_zone_given() -> None:
    late = {"order_date": datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "language": "de"}  # 00:30 CEST on the 25th
    assert render_source("Bestellt am {{ order_date }}.", late).text == "Bestellt am 24.10.2026."
    berlin = ZoneInfo("Europe/Berlin")
    assert render_source("Bestellt am {{ order_date }}.", late, berlin).text == "Bestellt am 25.10.2026."
