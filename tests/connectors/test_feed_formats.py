"""Feed formats and charsets, served over HTTP from recorded real feeds and feedparser's corpus."""

from __future__ import annotations

import re

import aiohttp
import pytest

from connectors.base import MalformedResponseError
from connectors.feed_parse import parse_feed
from tests.connectors.test_feed_helpers import FEEDS, corpus_headers, feed_bytes, http, make_feed, serve
from tests.replay_server import ReplayServer

__all__ = ["http"]


@pytest.mark.parametrize(
    ("relative", "count", "title"),
    [
        (
            "real-world/guardian.rss",
            55,
            "Trump State of the Union address promised unity but emphasized discord",
        ),
        ("real-world/heise.atom", 15, "Java-Anwendungsserver: Red Hat gibt WildFly 10 frei"),
        ("real-world/feedburner.atom", 25, "AdWords and DFP Java client library will soon require Java 7+"),
        (
            "real-world/craigslist.rss",
            25,
            "Bright, Spacious Beautiful Victorian (oakland north / temescal) $4300 3bd 1930ft2",
        ),
        ("real-world/heraldsun.rss", 2, "The First Item"),
        ("feedparser/wellformed/rss090_item_title.xml", 1, "Item title"),
    ],
    ids=["rss2.0", "atom1.0-german", "atom1.0-blogger", "rss1.0-rdf", "rss0.92", "rss0.90"],
)
async def test_every_feed_format_gives_posts(
    replay: ReplayServer, http: aiohttp.ClientSession, relative: str, count: int, title: str
) -> None:
    batch = await make_feed(http, serve(replay, "/feed", relative)).fetch(None)
    assert len(batch.posts) == count and batch.problems == []
    assert batch.posts[0].title == title
    assert all(post.published_at.tzinfo is not None for post in batch.posts)


async def test_atom_gives_authors_and_utc_times(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    batch = await make_feed(http, serve(replay, "/feed", "real-world/feedburner.atom")).fetch(None)
    post = batch.posts[0]
    assert post.author_name == "Google Ads Developer Advisor"
    assert post.author_url == "http://www.blogger.com/profile/16700526826531306391"
    assert post.raw["author_email"] == "noreply@blogger.com"
    # <published>2016-06-03T07:38:00.000-07:00</published>
    assert post.published_at.isoformat() == "2016-06-03T14:38:00+00:00"
    assert "<" not in post.body and post.body.startswith("After November 2016, all releases of the")


async def test_an_empty_netscape_rss_091_with_doctype_is_an_empty_batch(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    batch = await make_feed(http, serve(replay, "/feed", "feedparser/wellformed/rss_version_091_netscape.xml")).fetch(
        None
    )
    assert batch.posts == [] and batch.problems == [] and batch.cursor


async def test_ill_formed_feed_with_entries_is_a_warning(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "feedparser/illformed/rss_item_link_corrupted_ampersands.xml")
    batch = await make_feed(http, url).fetch(None)
    assert [post.url for post in batch.posts] == ["http://link/get?a=1&b=2"]
    assert len(batch.problems) == 1 and "not well-formed" in batch.problems[0] and "1 entries" in batch.problems[0]


async def test_ill_formed_document_without_entries_is_an_error(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    url = serve(replay, "/feed", "feedparser/illformed/rss_empty_document.xml")
    with pytest.raises(MalformedResponseError, match="not a well-formed feed .*no element found"):
        await make_feed(http, url).fetch(None)


async def test_a_doctype_before_rss_is_stripped(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "feedparser/illformed/always_strip_doctype.xml")
    batch = await make_feed(http, url).fetch(None)
    assert batch.problems == []
    parsed = parse_feed(feed_bytes("feedparser/illformed/always_strip_doctype.xml"), None, 10)
    assert parsed["feed"]["title"] == "found" and parsed["bozo"] is None


async def test_a_plain_internal_entity_is_expanded_within_bounds(
    replay: ReplayServer, http: aiohttp.ClientSession
) -> None:
    url = serve(replay, "/feed", "feedparser/wellformed/entity_in_doctype.xml")
    batch = await make_feed(http, url).fetch(None)
    assert [post.external_id for post in batch.posts] == ["tag:example.com,2006-05-04:/blog/"]
    assert batch.problems == []


@pytest.mark.parametrize(
    ("relative", "content_type", "title", "text_start"),
    [
        ("miniflux/koi8r.xml", "application/rss+xml", "Первая новость", None),
        ("miniflux/koi8r-as-windows-1251.xml", "application/rss+xml", "Первая новость", None),
        (
            "feedparser/illformed/chardet-koi8r.xml",
            "text/xml",
            None,
            "Наверное, единственное, во что сегодня",
        ),
        (
            "real-world/encoding.rss",
            "application/rss+xml",
            "Mãe de utente é a nova presidente da Raríssimas",
            None,
        ),
        (
            "real-world/uolNoticias.rss",
            "text/xml",
            "Ibope: Bolsonaro perde de Haddad, Ciro e Alckmin em simulações",
            None,
        ),
        ("miniflux/utf8-incorrect-prolog.xml", "application/atom+xml", "Café", None),
        ("miniflux/invalid-prolog.xml", "application/atom+xml", "Café", None),
        ("feedparser/encoding/http_text_xml_charset_2.xml", "text/xml", "Foo", "This is a £“test.”"),
        ("feedparser/encoding/euc-kr-item.xml", "application/rss+xml", None, "년"),
        ("feedparser/encoding/utf-16le-bom.xml", "application/rss+xml", None, None),
    ],
    ids=[
        "koi8-r",
        "windows-1251",
        "koi8-r-undeclared",
        "iso-8859-1",
        "latin-undeclared",
        "utf8-declared-as-latin1",
        "utf8-declared-invalid",
        "http-charset-windows-1252",
        "euc-kr",
        "utf-16-bom",
    ],
)
async def test_charsets_decode_to_the_right_text(
    replay: ReplayServer,
    http: aiohttp.ClientSession,
    relative: str,
    content_type: str,
    title: str | None,
    text_start: str | None,
) -> None:
    url = serve(replay, "/feed", relative, content_type)
    batch = await make_feed(http, url).fetch(None)
    assert batch.problems == []
    post = batch.posts[0] if batch.posts else None
    if title is not None:
        assert post is not None and post.title is not None and post.title.startswith(title)
    if text_start is not None:
        assert post is not None and post.body.startswith(text_start)
    for post in batch.posts:
        assert "\ufffd" not in (post.title or "") + post.body
        assert not re.search("[ÃÐÑ][\u0080-\u00bf]|â€", (post.title or "") + post.body), "UTF-8 read as Latin-1"


@pytest.mark.parametrize(
    ("relative", "title"),
    [
        ("miniflux/iso-8859-1.xml", "Café"),
        ("miniflux/windows-1252-incorrect-prolog.xml", "Euro €"),
        ("miniflux/invalid-prolog.xml", "테스트 피드"),
        ("miniflux/utf8-incorrect-prolog.xml", "테스트 피드"),
        ("miniflux/koi8r.xml", "Пример RSS ленты"),
        ("miniflux/koi8r-as-windows-1251.xml", "Пример RSS ленты"),
        ("feedparser/encoding/http_i18n.xml", "Iñtërnâtiônàlizætiøn"),
    ],
)
def test_feed_titles_decode_despite_wrong_prologs(relative: str, title: str) -> None:
    body = feed_bytes(relative)
    parsed = parse_feed(body, corpus_headers(body).get("Content-type"), 10)
    assert parsed["ok"] and parsed["feed"]["title"] == title and parsed["bozo"] is None


def test_latin1_bytes_in_a_feed_that_declares_utf8_are_kept() -> None:
    parsed = parse_feed(feed_bytes("miniflux/iso88591_utf8_mismatch.xml"), None, 10)
    assert parsed["ok"] and parsed["encoding"] == "utf-8+windows-1252" and parsed["bozo"] is None


ENCODING_CORPUS = sorted(p.name for p in (FEEDS / "feedparser" / "encoding").glob("*.xml"))
ILL_FORMED_XML = {"bozo_double-encoded-html.xml", "bozo_invalid-bytes-with-bom.xml"}


@pytest.mark.parametrize("name", ENCODING_CORPUS)
def test_feedparser_encoding_corpus_parses_strictly(name: str) -> None:
    """Every case of feedparser's encoding suite (BOMs, UTF-16/32, HTTP charset vs prolog, bogus labels)."""
    body = feed_bytes(f"feedparser/encoding/{name}")
    parsed = parse_feed(body, corpus_headers(body).get("Content-type"), 10)
    assert parsed["ok"] and parsed["version"], parsed
    if name in ILL_FORMED_XML:
        assert parsed["bozo"] is not None
    else:
        assert parsed["bozo"] is None, parsed["bozo"]
    if name != "encoding_attribute_crash_2.xml":  # this one spells out &#65533; itself
        assert all("\ufffd" not in (entry["title"] or "") + entry["text"] for entry in parsed["entries"])


def test_feedparser_encoding_corpus_is_complete() -> None:
    assert len(ENCODING_CORPUS) == 82
