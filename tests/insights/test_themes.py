"""Themes from realistic German and English complaints: phrases, not the brand's words, stop words or boilerplate."""

from __future__ import annotations

from socialcrm.config import parse_config
from socialcrm.insights import themes
from socialcrm.insights.themes import Post, configured_brand_terms, mentions_phrase, negative_themes

# A WordPress comment feed titles every entry "Kommentar zu …"; a forum signs every post off.
BLOG_NEGATIVE = [
    "Kommentar zu Acme Herbstaktion. Meine Lieferung kam kaputt an, die Acme-Maschine hat einen Riss.",
    "Kommentar zu Acme Herbstaktion. Schon wieder Lieferung kaputt! Und der Kundenservice antwortet nicht.",
    "Kommentar zu Neue Acme Bohnen. Die Rückerstattung dauert jetzt drei Wochen, unmöglich.",
    "Kommentar zu Neue Acme Bohnen. Warte seit Wochen auf meine Rückerstattung.",
    "Kommentar zu Acme Herbstaktion. Lieferungen kommen kaputt an, der Karton war nass.",
    "Kommentar zu Acme Herbstaktion. Der Kundenservice antwortet nicht auf meine Mails.",
]
BLOG_OTHER = [
    "Kommentar zu Acme Herbstaktion. Tolle Aktion, gleich zwei Packungen bestellt.",
    "Kommentar zu Neue Acme Bohnen. Schmeckt kräftig, gefällt mir.",
    "Kommentar zu Neue Acme Bohnen. Gibt es die Bohnen auch gemahlen?",
    "Kommentar zu Acme Herbstaktion. Danke für den Gutschein!",
    "Kommentar zu Acme Herbstaktion. Wann endet die Aktion?",
    "Kommentar zu Neue Acme Bohnen. Probiere ich nächste Woche.",
]
FORUM_NEGATIVE = [
    "The Acme grinder broke after two weeks and support never answered. Posted in Barista Forum",
    "Refund still pending for my Acme order, support never answered either. Posted in Barista Forum",
    "My acmeshop order arrived damaged, the box was crushed. Posted in Barista Forum",
    "Second order arrived damaged too. Refund still pending. Posted in Barista Forum",
    "@acme_support why does the refund take a month? Posted in Barista Forum",
]
FORUM_OTHER = [
    "Anyone tried the new Acme beans with an espresso machine? Posted in Barista Forum",
    "Great crema with the Acme dark roast. Posted in Barista Forum",
    "Which grinder setting do you use for the Acme beans? Posted in Barista Forum",
    "Shipping was quick this time. Posted in Barista Forum",
    "Loving the autumn blend. Posted in Barista Forum",
]


def _posts() -> list[Post]:
    posts = []
    for source, texts, negative in (
        ("acme-blog", BLOG_NEGATIVE, True),
        ("acme-blog", BLOG_OTHER, False),
        ("barista-forum", FORUM_NEGATIVE, True),
        ("barista-forum", FORUM_OTHER, False),
    ):
        posts.extend(Post(len(posts) + 1, source, text, negative) for text in texts)
    return posts


def _words(found: list[themes.Theme]) -> set[str]:
    return {themes.fold(word) for theme in found for word in theme.phrase.split()}


def test_brand_boilerplate_and_stop_words_stay_out_and_complaints_come_through():
    brand = configured_brand_terms(["Acme"], [])
    found = negative_themes(_posts(), brand)
    phrases = {theme.phrase: theme.mentions for theme in found}
    # Pairs skip stop words and words under four letters ("Lieferung kam kaputt", "support never answered").
    assert phrases["Lieferung kaputt"] == 2
    assert phrases["Kundenservice antwortet"] == 2
    assert phrases["Rückerstattung"] == 2
    assert phrases["support answered"] == 2
    assert phrases["arrived damaged"] == 2
    assert phrases["Refund pending"] == 2
    words = _words(found)
    # The brand, in compounds too; the comment feed's and the forum's boilerplate; stop words; handles.
    assert not words & {"acme", "acmemaschine", "acmeshop", "kommentar", "posted", "barista", "forum"}
    assert not words & {"der", "die", "und", "the", "after", "meine", "acme_support"}


def test_brand_terms_come_from_what_the_sources_listen_for():
    config = parse_config(
        """
[insights]
brand_terms = ["Acme GmbH"]

[[sources]]
name = "r-coffee"
type = "reddit"
subreddits = ["barista"]
keywords = ["acmeco"]
query = "acme grinder"
client_id = "id"
user_agent = "linux:test:v1 (by /u/someone)"
"""
    )
    brand = configured_brand_terms(config.insights.brand_terms, [s.options for s in config.sources])
    assert {"acme", "gmbh", "barista", "acmeco", "grinder"} <= brand
    assert "grinder" not in _words(negative_themes(_posts(), brand))


def test_umlauts_compounds_and_plurals_count_as_one_theme():
    posts = [
        Post(1, "s", "Die Rückgabe klappt nicht", True),
        Post(2, "s", "Rueckgabe klappt nicht, schon wieder", True),
        Post(3, "s", "Kunden-Service hilft nicht", True),
        Post(4, "s", "Der Kundenservice hilft nicht", True),
        Post(5, "s", "Lieferungen verspätet", True),
        Post(6, "s", "Lieferung verspätet", True),
    ]
    found = {theme.phrase: theme.mentions for theme in negative_themes(posts)}
    assert found["Rückgabe klappt"] == 2  # shown as most people spelled it (the first on a tie)
    assert found["Kunden-Service hilft"] == 2
    assert found["Lieferungen verspätet"] == 2
    assert len(found) == 3


def test_each_theme_lists_example_mentions_newest_first():
    found = negative_themes(_posts(), configured_brand_terms(["acme"], []))
    theme = next(t for t in found if t.phrase == "Lieferung kaputt")
    assert [post.id for post in theme.examples] == [1, 2]
    assert all(mentions_phrase(post.text, theme.phrase) for post in theme.examples)


def test_words_everyone_uses_are_no_negative_theme():
    posts = [Post(i, "s", "Kaffee schmeckt bitter", True) for i in range(3)]
    posts += [Post(10 + i, "s", "Kaffee schmeckt großartig", False) for i in range(6)]
    phrases = {theme.phrase for theme in negative_themes(posts)}
    assert "Kaffee schmeckt bitter" not in phrases  # only pairs and words
    assert "schmeckt bitter" in phrases and "Kaffee" not in phrases and "Kaffee schmeckt" not in phrases


def test_a_phrase_matches_the_way_it_was_counted():
    assert mentions_phrase("Meine Lieferungen sind kaputt.", "Lieferung kaputt")
    assert not mentions_phrase("Lieferung. Kaputt war nichts.", "Lieferung kaputt")
    assert not mentions_phrase("Kundenservice gut", "Lieferung")
