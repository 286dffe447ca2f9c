"""The rules' query language on German and English texts."""

from __future__ import annotations

import pytest

from socialcrm.rules.query import QuerySyntaxError, parse_query

CASES = [
    # query, text, expected
    ("lieferung", "Meine LIEFERUNG ist weg", True),
    ("lieferung", "Die Lieferungen kamen", False),  # whole words only
    ("liefer*", "Die Lieferungen kamen", True),  # unless a prefix is asked for
    ("ueberfaellig", "Die Rechnung ist überfällig!", True),  # umlaut-aware both ways
    ("überfällig", "Rechnung ueberfaellig", True),
    ("strasse", "Lieferadresse: Hauptstraße 5", False),
    ("hauptstrasse", "Lieferadresse: Hauptstraße 5", True),  # ß = ss
    ("cafe", "Great café, slow delivery", True),  # accents dropped
    ('"never arrived"', "My parcel never arrived.", True),
    ('"never arrived"', "It arrived, never again", False),  # a phrase keeps its order
    ('"nie angekommen"', "Paket ist NIE   angekommen", True),
    ("delivery AND late", "delivery was late", True),
    ("delivery late", "delivery was late", True),  # side by side means AND
    ("delivery late", "delivery was fine", False),
    ("refund OR erstattung", "Ich will eine Erstattung", True),
    ("NOT gewinnspiel", "Tolles Gewinnspiel", False),
    ("(lieferung OR versand) AND NOT gewinnspiel", "Versand dauert ewig", True),
    ("(lieferung OR versand) AND NOT gewinnspiel", "Versand beim Gewinnspiel", False),
    ("a OR b AND c", "a only", True),  # AND binds tighter than OR
    ("(a OR b) AND c", "a only", False),
    ("wie OR wann OR warum OR how OR when OR why", "Wann kommt mein Paket?", True),
    ("wie OR wann OR warum OR how OR when OR why", "Thanks, all good.", False),
    ("not", "this is not fine", True),  # lower-case operators are plain words
    ("order-123", "Re: order 123 missing", True),  # punctuation splits words like in the text
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES)
def test_query_matches(query: str, text: str, expected: bool) -> None:
    assert parse_query(query).matches_text(text) is expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty query"),
        ("   ", "empty query"),
        ("delivery AND", "ends where a term was expected"),
        ("(delivery OR late", "parenthesis opened at character 1 is never closed"),
        ("delivery )", "unexpected ')' at character 10"),
        ('"never arrived', "unterminated quote at character 1"),
        ("OR delivery", "operator OR at character 1"),
        ("lieferung AND NOT", "ends where a term was expected"),
        ('""', "empty phrase"),
        ("!!!", "has no letters or digits"),
    ],
)
def test_query_syntax_errors_say_where(query: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(query)


def test_found_terms_are_the_evidence() -> None:
    query = parse_query('(lieferung OR versand OR "never arrived") AND NOT gewinnspiel')
    from socialcrm.rules.text import words

    assert query.found_terms(words("Versand? My parcel never arrived")) == ["versand", '"never arrived"']
