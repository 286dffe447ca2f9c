"""The word-list classifier runs in the feed parser processes: the daemon stores what it would have computed itself.

Real feeds on 127.0.0.1 polled through the Runtime into SQLite and PostgreSQL, once with the parsers
classifying (more than one core) and once without (one core): the stored language, sentiment, score
and classifier of every mention are the same, for German, English and other posts, posts with and
without a title, a declared language, and text past ``max_text_chars``.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from classifiers.lexicon import LexiconClassifier
from classifiers.portable import analyse_entries, analysis_of, portable_recipe
from connectors import RawPost
from socialcrm import runtime as runtime_module
from socialcrm.classifying import Classification
from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import Mention
from socialcrm.runtime import Runtime
from socialcrm.storable import storable_post
from tests.feeds import TEXTS
from tests.replay_server import Canned, ReplayServer

DEMO_FEEDS = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds"
OTHER = [
    "Le service client ne répond jamais, c'est décevant.",
    "Servicio excelente, muy rápido, ¡gracias!",
    "",  # a title alone
    "Sehr gut! " * 40,  # past max_text_chars: read only in part
    "not bad at all :)",
    "Lieferung kaputt 😡 nie wieder",
]


def atom_feed() -> bytes:
    """Entries in many languages, some with a declared language, one without a title."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    entries = []
    for i, text in enumerate([*TEXTS, *OTHER]):
        title = "" if i % 5 == 4 else f"<title>Post {i} {'Ärger' if i % 3 == 0 else 'news'}</title>"
        lang = ' xml:lang="de-AT"' if i % 4 == 1 else (' xml:lang="fr"' if i == len(TEXTS) else "")
        entries.append(
            f"<entry>{title}<id>urn:post:{i}</id><link href='https://blog.example/{i}'/>"
            f"<updated>{(start + timedelta(minutes=i)).isoformat()}</updated>"
            f"<content type='text'{lang}>{text.format(n=i)}</content></entry>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>'
        f"<id>urn:blog</id><updated>{start.isoformat()}</updated>{''.join(entries)}</feed>"
    ).encode()


def config_for(base: str, database_url: str, run: str, in_parsers: bool = True, threshold: float = 0.2) -> str:
    sources = "".join(
        f'[[sources]]\nname = "{run}-{name}"\ntype = "feed"\nurl = "{base}/{path}"\n'
        for name, path in (("blog", "blog.atom"), ("forum", "forum.atom"), ("comments", "comments.xml"))
    )
    return f"""
[database]
url = "{database_url}"
[classifier]
kind = "lexicon"
threshold = {threshold}
[daemon]
max_text_chars = 120
classify_in_parsers = {str(in_parsers).lower()}
{sources}"""


async def poll(
    replay: ReplayServer, database_url: str, run: str, in_parsers: bool = True
) -> tuple[list[tuple[Any, ...]], bool]:
    """What ``run``'s sources stored: (source, id, classification) per mention; and whether the daemon classified."""
    config = parse_config(config_for(replay.base_url, database_url, run, in_parsers))
    db = Database(database_url)
    runtime = await Runtime.open(config, db=db, lazy_classifier=True)
    try:
        results = await runtime.poll_once()
        assert [r.error for r in results] == [None, None, None]
        loaded = runtime.classification.loaded
    finally:
        await runtime.close()
    try:
        with db.read() as session:
            rows = session.exec(
                select(
                    Mention.source,
                    Mention.external_id,
                    Mention.language,
                    Mention.sentiment,
                    Mention.sentiment_score,
                    Mention.classifier,
                )
                .where(col(Mention.source).startswith(f"{run}-"))
                .order_by(col(Mention.source), col(Mention.external_id))
            ).all()
            return [(row[0].removeprefix(f"{run}-"), *row[1:]) for row in rows], loaded
    finally:
        db.dispose()


@pytest.fixture
def feeds(replay: ReplayServer) -> ReplayServer:
    replay.add("GET", "/blog.atom", Canned(200, atom_feed(), {"Content-Type": "application/atom+xml"}))
    replay.add_file("GET", "/forum.atom", DEMO_FEEDS / "coffee-forum.atom", "application/atom+xml")
    replay.add_file("GET", "/comments.xml", DEMO_FEEDS / "acme-blog-comments.xml", "application/rss+xml")
    return replay


async def test_the_parsers_classify_as_the_daemon_would(
    feeds: ReplayServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    beside, parsers_classified = await poll(feeds, database_url, "beside")
    assert not parsers_classified  # every post came classified: the daemon never even built its classifier

    alone, daemon_classified = await poll(feeds, database_url, "alone", in_parsers=False)
    assert daemon_classified

    monkeypatch.setattr(runtime_module, "usable_cpus", lambda: 1)  # one core: the parsers have none to spare
    one_core, one_core_classified = await poll(feeds, database_url, "one-core")
    assert one_core_classified and one_core == alone

    assert beside == alone
    demo = (DEMO_FEEDS / "coffee-forum.atom").read_text().count("<entry>")
    demo += (DEMO_FEEDS / "acme-blog-comments.xml").read_text().count("<item>")
    assert len(beside) == len(TEXTS) + len(OTHER) + demo
    assert {row[2] for row in beside} == {"de", "en", "other"}
    assert {row[3] for row in beside} == {"negative", "neutral", "positive"}
    assert {row[5] for row in beside} == {"lexicon-v1"}


async def test_runtimes_in_one_process_each_classify_in_the_parsers_with_their_own_recipe(
    feeds: ReplayServer, database_url: str
) -> None:
    """A runtime opened or closed beside another (a worker, a one-shot command in tests) leaves its hook alone."""
    runtimes = []
    for run, threshold, in_parsers in (("first", 0.2, True), ("second", 0.35, True), ("third", 0.2, False)):
        config = parse_config(config_for(feeds.base_url, database_url, run, in_parsers, threshold))
        runtimes.append(await Runtime.open(config, db=Database(database_url), lazy_classifier=True))
    first, second, third = runtimes
    try:
        await third.close()  # its feeds had no hook; closing it must not take the others' away
        for runtime in (first, second):
            assert [r.error for r in await runtime.poll_once()] == [None, None, None]
            assert not runtime.classification.loaded  # every verdict came from the parsers, under this recipe
    finally:
        await first.close()
        await second.close()


def test_a_verdict_counts_only_for_the_recipe_that_made_it() -> None:
    recipe = portable_recipe("lexicon", {"threshold": 0.2}, 120)
    assert recipe is not None
    (verdict,) = analyse_entries(recipe, [("Title", "Sehr ärgerlich, nie wieder!", None)])
    analysis = analysis_of(verdict, recipe)
    assert analysis is not None and analysis.sentiment.label == "negative" and analysis.language == "de"
    assert analysis_of(verdict, portable_recipe("lexicon", {"threshold": 0.3}, 120)) is None
    assert analysis_of(verdict, portable_recipe("lexicon", {"threshold": 0.2}, 121)) is None
    assert analysis_of(verdict, None) is None and analysis_of(None, recipe) is None
    assert portable_recipe("embedded", {}, 120) is None  # a model is classified by the daemon


def test_cleaning_a_posts_text_drops_what_was_computed_from_it() -> None:
    post = RawPost(
        source="blog",
        external_id="e1",
        url="https://blog.example/1",
        author_handle=None,
        title="Bad\x00title",
        body="Text",
        published_at=datetime(2026, 11, 1, tzinfo=UTC),
        prepared=("key", "neutral", 0.5, "lexicon-v1", "en"),
    )
    assert storable_post(post).prepared is None
    clean = dataclasses.replace(post, title="Good title")
    assert storable_post(clean) is clean and clean.prepared is not None


async def test_the_daemon_classifies_only_what_came_without_a_verdict_of_its_recipe() -> None:
    recipe = portable_recipe("lexicon", {}, 4000)
    other = portable_recipe("lexicon", {"threshold": 0.5}, 4000)
    assert recipe is not None and other is not None
    texts = ["Sehr ärgerlich, nie wieder!", "Great coffee, love it", "Bericht über die Messe", "not bad"]
    hints = [None, "en", None, None]
    verdicts = analyse_entries(recipe, [(None, texts[0], None)]) + analyse_entries(other, [(None, texts[2], None)])
    classification = Classification(LexiconClassifier({}), portable=recipe)
    found = await classification.analyse_posts(texts, hints, [verdicts[0], None, verdicts[1], "junk"])
    assert found == LexiconClassifier({}).analyse(texts, hints)
