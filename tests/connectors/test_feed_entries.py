"""What a feed entry becomes: stable ids, comment threads, plain text, UTC dates, the entry cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from connectors.feed_entries import entries_to_posts, stable_entry_id, thread_of, web_url
from connectors.feed_text import html_to_text
from tests.connectors.test_feed_helpers import FEEDS, http, make_feed, serve
from tests.replay_server import ReplayServer

__all__ = ["http"]


@pytest.mark.parametrize("relative", ["real-world/uolNoticias.rss", "real-world/encoding.rss"])
async def test_entries_without_ids_get_the_same_ids_on_every_fetch(
    replay: ReplayServer, http: aiohttp.ClientSession, relative: str
) -> None:
    first = await make_feed(http, serve(replay, "/a", relative)).fetch(None)
    second = await make_feed(http, serve(replay, "/b", relative)).fetch(None)
    ids = [post.external_id for post in first.posts]
    assert ids == [post.external_id for post in second.posts]
    assert len(set(ids)) == len(ids) > 10
    assert all(
        external_id.startswith("sha256:") and post.raw["id_from"] == "hash"
        for external_id, post in zip(ids, first.posts, strict=True)
    )


async def test_feeds_with_ids_keep_them(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    batch = await make_feed(http, serve(replay, "/feed", "real-world/craigslist.rss")).fetch(None)
    assert batch.posts[0].external_id == "http://sfbay.craigslist.org/eby/apa/6186664607.html"
    assert all(post.raw["id_from"] == "feed" for post in batch.posts)


def test_stable_id_depends_on_link_title_and_published_only() -> None:
    one = stable_entry_id("https://blog.example/p/1", "Hello", "Mon, 24 Sep 2018 19:42:40 -0300", "text A")
    assert one == stable_entry_id("https://blog.example/p/1", "Hello", "Mon, 24 Sep 2018 19:42:40 -0300", "text B")
    assert one != stable_entry_id("https://blog.example/p/1", "Hello!", "Mon, 24 Sep 2018 19:42:40 -0300")
    assert stable_entry_id(None, None, None, "only text") != stable_entry_id(None, None, None, "other text")


async def test_atom_threading_comment_belongs_to_its_post(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/comments", "feedparser/wellformed/atomthreadingwithentry.xml", "application/atom+xml")
    (comment,) = (await make_feed(http, url).fetch(None)).posts
    post_id = "tag:blogger.com,1999:blog-893591374313312737.post-3861663258538857954"
    assert comment.kind == "comment"
    assert comment.thread_id == post_id and comment.parent_id == post_id
    assert comment.external_id == "tag:blogger.com,1999:blog-893591374313312737.post-4788628857625737701"
    assert comment.raw["in_reply_to_url"] == "http://salmon-test.blogspot.com/2009/10/test-post.html"
    assert comment.author_name == "John" and comment.body == "bloffo bliff by te..."


def test_wordpress_comment_ids_point_at_their_post() -> None:
    # WordPress comment feeds: guid = the post's guid + "#comment-<id>"; Atom adds thr:in-reply-to.
    assert thread_of("https://blog.example/?p=42#comment-7", None, "https://blog.example/hello/#comment-7") == (
        "https://blog.example/?p=42",
        "https://blog.example/?p=42",
        "comment",
    )
    assert thread_of("https://blog.example/?p=42#comment-9", "https://blog.example/?p=42#comment-7", None) == (
        "https://blog.example/?p=42",
        "https://blog.example/?p=42#comment-7",
        "comment",
    )
    assert thread_of("https://blog.example/?p=42", None, "https://blog.example/hello/") == (
        "https://blog.example/?p=42",
        None,
        "post",
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (FEEDS / "feedparser" / "sanitize").glob("*.xml")))
async def test_html_becomes_plain_text_without_scripts_or_styles(
    replay: ReplayServer, http: aiohttp.ClientSession, name: str
) -> None:
    url = serve(replay, "/feed", f"feedparser/sanitize/{name}")
    (post,) = (await make_feed(http, url).fetch(None)).posts
    if "crazy" in name:
        assert post.body == "Did The Javascript Execute?\n\nI will execute here, too, if you mouse over me"
    elif name == "entry_content_iframe.xml":
        assert post.body == "safe"  # what sits inside <iframe>...</iframe> is never shown by a browser
    else:
        assert post.body == "safe description"


def test_html_to_text_keeps_structure_and_decodes_entities() -> None:
    html = (
        "<h2>Bestellung&nbsp;#1234</h2><p>Leider kam das Paket <b>nicht</b> an &amp; der Support schweigt."
        "</p><ul><li>erste Mail</li><li>zweite Mail</li></ul><p>Danke<br>Jana <img alt='😠' src=x></p>"
        "<style>p{color:red}</style><script>alert('x')</script><pre>  code\n    block</pre>"
    )
    assert html_to_text(html) == (
        "Bestellung #1234\n\nLeider kam das Paket nicht an & der Support schweigt.\n\n"
        "- erste Mail\n- zweite Mail\n\nDanke\nJana 😠\n\n  code\n    block"
    )


async def test_entries_without_dates_use_the_fetch_time(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    before = datetime.now(UTC)
    batch = await make_feed(http, serve(replay, "/feed", "real-world/uolNoticias.rss")).fetch(None)
    after = datetime.now(UTC)
    assert all(before <= post.published_at <= after for post in batch.posts)


def test_undated_entries_take_the_feed_date_and_future_dates_are_clamped() -> None:
    fetched = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    feed_date = datetime(2026, 2, 28, 8, 30, tzinfo=UTC)
    parsed = {
        "feed": {"title": "Blog", "link": "https://blog.example/", "date": feed_date.timestamp()},
        "entries": [
            {"id": "a", "link": "https://blog.example/a", "title": "A", "text": "x", "date": None},
            {
                "id": "b",
                "link": "https://blog.example/b",
                "title": "B",
                "text": "y",
                "date": (fetched + timedelta(days=3650)).timestamp(),
            },
        ],
    }
    posts, problems, skipped = entries_to_posts("blog", parsed, "https://blog.example/feed", fetched)
    assert [p.published_at for p in posts] == [feed_date, fetched] and problems == [] and skipped == 0


def test_shared_ids_are_told_apart_and_empty_entries_skipped() -> None:
    fetched = datetime(2026, 3, 1, tzinfo=UTC)
    parsed = {
        "feed": {},
        "entries": [
            {"id": "https://blog.example/feed", "link": "https://blog.example/1", "title": "One", "text": ""},
            {"id": "https://blog.example/feed", "link": "https://blog.example/2", "title": "Two", "text": ""},
            {"id": None, "link": None, "title": None, "text": ""},
        ],
    }
    posts, problems, skipped = entries_to_posts("blog", parsed, "https://blog.example/feed", fetched)
    ids = [p.external_id for p in posts]
    assert len(set(ids)) == 2 and all(i.startswith("https://blog.example/feed#") for i in ids)
    assert skipped == 1 and len(problems) == 2


async def test_max_entries_keeps_the_newest(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    url = serve(replay, "/feed", "real-world/guardian.rss")
    everything = (await make_feed(http, url).fetch(None)).posts
    capped = await make_feed(http, url, max_entries=10).fetch(None)
    newest = sorted(everything, key=lambda p: p.published_at, reverse=True)[:10]
    assert {p.external_id for p in capped.posts} == {p.external_id for p in newest}
    assert capped.problems == ["the feed has 55 entries; kept the 10 newest (max_entries)"]


def test_links_are_resolved_against_the_feed_and_only_http_is_kept() -> None:
    feed = "https://blog.example/feeds/all.atom"
    assert web_url("/2026/03/hello", feed) == "https://blog.example/2026/03/hello"
    assert web_url("hello#comment-3", feed) == "https://blog.example/feeds/hello#comment-3"
    assert web_url("http://other.example/p?a=1&b=2", feed) == "http://other.example/p?a=1&b=2"
    for unsafe in (
        "javascript:alert('unsafe');",
        "data:text/html,<script>x</script>",
        "file:///etc/passwd",
        "",
        None,
    ):
        assert web_url(unsafe, feed) is None
    parsed = {
        "feed": {"link": "javascript:alert(1)"},
        "entries": [{"id": "x", "link": "javascript:alert(2)", "title": "T", "text": "", "author_url": "data:,x"}],
    }
    (post,), _, _ = entries_to_posts("blog", parsed, feed, datetime(2026, 3, 1, tzinfo=UTC))
    assert post.url == feed and post.author_url is None


async def test_entries_without_an_author_inherit_the_feeds(replay: ReplayServer, http: aiohttp.ClientSession) -> None:
    """heise's real Atom feed names its author once, at feed level; without inheriting, replies read "Hallo , ..."."""
    batch = await make_feed(http, serve(replay, "/heise", "real-world/heise.atom", "application/atom+xml")).fetch(None)
    assert len(batch.posts) == 15
    assert {(p.author_handle, p.author_name) for p in batch.posts} == {("heise online", "heise online")}


def test_an_entrys_own_author_wins_over_the_feeds() -> None:
    feed = "https://blog.example/feed"
    parsed = {
        "feed": {"author_name": "Redaktion", "author_url": "https://blog.example/team"},
        "entries": [
            {"id": "1", "link": "https://blog.example/1", "title": "A", "text": "a", "author_name": "Jana Fischer"},
            {"id": "2", "link": "https://blog.example/2", "title": "B", "text": "b"},
        ],
    }
    posts, _problems, _skipped = entries_to_posts("blog", parsed, feed, datetime(2026, 3, 1, tzinfo=UTC))
    assert [(p.author_handle, p.author_url) for p in posts] == [
        ("Jana Fischer", None),
        ("Redaktion", "https://blog.example/team"),
    ]
