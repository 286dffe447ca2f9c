"""Dashboard days are the viewer's days: buckets, the range and what a click opens, across midnight and DST.

Summer time ends in Berlin at 01:00 UTC on 25 October 2026, so that Berlin day has 25 hours; a post
at 22:30 UTC on the 24th is already the 25th in Berlin, one at 23:00 UTC on the 25th the 26th.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from socialcrm.config import parse_config
from socialcrm.models import utcnow
from socialcrm.timezones import zone
from socialcrm.web.app import create_app
from socialcrm.web.queries.dashboard import build_dashboard
from socialcrm.web.queries.rollup import MentionRollup
from tests.web.conftest import CONFIG_TOML, login
from tests.web.seed import add_mention, make_users

BERLIN = zone("Europe/Berlin")
POSTS = [  # UTC instant -> its Berlin day
    (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), date(2026, 10, 24)),  # 23:30 CEST
    (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # 00:30 CEST: after midnight in Berlin only
    (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), date(2026, 10, 25)),  # 02:30 CEST, the last summer hour
    (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), date(2026, 10, 25)),  # 02:30 CET, the same wall time an hour later
    (datetime(2026, 10, 25, 22, 59, tzinfo=UTC), date(2026, 10, 25)),  # 23:59 CET
    (datetime(2026, 10, 25, 23, 0, tzinfo=UTC), date(2026, 10, 26)),  # 00:00 CET
    (datetime(2026, 10, 26, 23, 30, tzinfo=UTC), date(2026, 10, 27)),  # 00:30 CET
]
BERLIN_DAYS = {date(2026, 10, 24): 1, date(2026, 10, 25): 4, date(2026, 10, 26): 1, date(2026, 10, 27): 1}
UTC_DAYS = {date(2026, 10, 24): 2, date(2026, 10, 25): 4, date(2026, 10, 26): 1}
RANGE = "start=2026-10-20&end=2026-10-28"


def _seed(db):  # type: ignore[no-untyped-def]
    with db.write() as s:
        for i, (published, _day) in enumerate(POSTS):
            add_mention(s, f"Post {i} Lieferung", source="blog", sentiment="negative", published_at=published)


def _per_day(board) -> dict[date, int]:  # type: ignore[no-untyped-def]
    counts = board.by_source.values.get("blog", [])
    return {day: n for day, n in zip(board.by_source.buckets, counts, strict=True) if n}


def test_buckets_are_berlin_days_live_and_from_the_rollup(db):
    assert BERLIN is not None
    _seed(db)
    start = datetime(2026, 10, 20, tzinfo=BERLIN)
    end = datetime(2026, 10, 29, tzinfo=BERLIN)  # wall-clock days: the range holds the 25-hour day
    rollup = MentionRollup(BERLIN)
    with db.read() as s:
        live = build_dashboard(s, start, end, utcnow(), zone=BERLIN)
        cached = build_dashboard(s, start, end, utcnow(), rollup=rollup, zone=BERLIN)
    assert _per_day(live) == BERLIN_DAYS == _per_day(cached)
    assert live.start.date() == date(2026, 10, 20) and live.previous.start.date() == date(2026, 10, 11)
    assert live.kpis.mentions == len(POSTS) == cached.kpis.mentions
    # The same instants counted in UTC days fall elsewhere: what was shown before the zone counted.
    utc_start = datetime(2026, 10, 20, tzinfo=UTC)
    with db.read() as s:
        in_utc = build_dashboard(s, utc_start, utc_start + timedelta(days=9), utcnow())
    assert _per_day(in_utc) == UTC_DAYS


async def _clicks(client, html: str) -> dict[date, int]:  # type: ignore[no-untyped-def]
    """For every point of the volume line: the day, its count, and that the mentions it opens are as many."""
    shown: dict[date, int] = {}
    points = re.findall(
        r'<a class="drill" href="(/mentions\?start=([\d-]+)&amp;end=\2&amp;source=blog)">'
        r"<circle [^>]*><title>blog · [^:]*: (\d+)</title>",
        html,
    )
    for href, day, count in points:
        if day in {d.isoformat() for d in shown}:
            continue  # drawn twice (wide and compact)
        opened = await (await client.get(href.replace("&amp;", "&"))).text()
        assert opened.count('<article class="post"') == int(count), f"{day}: the count and the list differ"
        shown[date.fromisoformat(day)] = int(count)
    return shown


async def test_a_click_opens_the_mentions_counted_in_the_viewers_zone(aiohttp_client, db):
    make_users(db)
    _seed(db)
    client = await aiohttp_client(create_app(parse_config(CONFIG_TOML), db))
    csrf = await login(client, "marketing")
    assert await _clicks(client, await (await client.get(f"/dashboard?{RANGE}")).text()) == UTC_DAYS  # server: UTC
    await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": "Europe/Berlin"})
    html = await (await client.get(f"/dashboard?{RANGE}")).text()
    assert await _clicks(client, html) == BERLIN_DAYS
    # The whole range the page names opens every post of it; the CSV export stays in UTC days (a contract).
    listed = await (await client.get("/mentions?start=2026-10-24&end=2026-10-25")).text()
    assert listed.count('<article class="post"') == 5  # Berlin's 24th and 25th: not the post of 00:00 CET on the 26th
    csv = await (await client.get(f"/dashboard/export.csv?{RANGE}")).text()
    assert "2026-10-24,source,blog,2" in csv and "2026-10-27,source,blog,0" in csv


async def test_the_server_default_zone_and_the_browser_cookie(aiohttp_client, db):
    make_users(db)
    _seed(db)
    config = parse_config(CONFIG_TOML.replace("[web]", '[web]\ntime_zone = "Europe/Berlin"', 1))
    client = await aiohttp_client(create_app(config, db))
    await login(client, "marketing")
    assert await _clicks(client, await (await client.get(f"/dashboard?{RANGE}")).text()) == BERLIN_DAYS
    client.session.cookie_jar.update_cookies({"tz": "UTC"})  # the browser's zone comes before the server's
    assert await _clicks(client, await (await client.get(f"/dashboard?{RANGE}")).text()) == UTC_DAYS


def _csv_days(csv: str) -> dict[date, int]:
    rows = [line.split(",") for line in csv.splitlines()[1:]]
    return {date.fromisoformat(day): int(n) for day, dimension, key, n in rows if dimension == "source" and int(n)}


async def test_the_csv_export_counts_the_readers_days_when_asked(aiohttp_client, db):
    """Exports keep UTC days (a contract); ``tz`` asks for a zone's days; the page's export links pass the reader's."""
    make_users(db)
    _seed(db)
    client = await aiohttp_client(create_app(parse_config(CONFIG_TOML), db))
    csrf = await login(client, "marketing")
    await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": "Europe/Berlin"})
    assert _csv_days(await (await client.get(f"/dashboard/export.csv?{RANGE}")).text()) == UTC_DAYS
    berlin = await client.get(f"/dashboard/export.csv?{RANGE}&tz=Europe/Berlin")
    assert berlin.status == 200 and _csv_days(await berlin.text()) == BERLIN_DAYS
    # The page's own export links: the reader's zone, so the file counts what the charts show.
    html = await (await client.get(f"/dashboard?{RANGE}")).text()
    links = re.findall(r'href="(/dashboard/export\.csv\?[^"]*)"', html)
    assert len(links) == 2 and all("tz=Europe%2FBerlin" in link for link in links), links
    exported = await (await client.get(links[0].replace("&amp;", "&"))).text()
    assert _csv_days(exported) == BERLIN_DAYS
    bad = await client.get(f"/dashboard/export.csv?{RANGE}&tz=Mars/Olympus")
    text = await bad.text()
    assert bad.status == 400 and "Mars/Olympus" in text and "is not an IANA time zone name" in text
