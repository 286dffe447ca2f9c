"""The marketing dashboard: figures from stored data, real charts, date range, CSV export, corrections."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from socialcrm.models import Mention, Order, SentimentCorrection, Ticket, utcnow
from socialcrm.services import drafts, ticket_merges, tickets
from socialcrm.web.queries.dashboard import build_dashboard
from tests.web.seed import add_customer, add_mention, make_users

DAY = timedelta(days=1)


def seed_marketing(db):  # type: ignore[no-untyped-def]
    """Five days of mentions from two sources and two groups, with known KPIs."""
    now = utcnow()
    base = datetime(now.year, now.month, now.day, 12, tzinfo=UTC) - 4 * DAY
    with db.write() as s:
        lead = add_customer(s, "Lea Lead")
        plan = [  # (day offset, source, group, sentiment, tags, customer)
            (0, "blog", "brand", "negative", ["kündigung"], None),
            (0, "blog", "brand", "positive", [], None),
            (1, "reddit", "competitor", "negative", [], None),
            (2, "reddit", "brand", "neutral", ["lead"], lead),
            (3, "blog", "competitor", "negative", ["spring-sale"], None),
            (4, "blog", "brand", "positive", ["spring-sale"], None),
        ]
        mentions = []
        for offset, source, group, sentiment, tags, customer in plan:
            mentions.append(
                add_mention(
                    s,
                    "Lieferung kaputt und Kundenservice langsam" if sentiment == "negative" else "Alles prima",
                    source=source,
                    group=group,
                    sentiment=sentiment,
                    tags=tags,
                    customer=customer,
                    published_at=base + offset * DAY,
                )
            )
        s.add(Order(order_number="L-1", customer_id=lead.id, ordered_at=base + 3 * DAY, products=["X"]))
        t1 = tickets.open_ticket(s, subject="a", mention_id=mentions[0].id, now=base)
        t1.first_response_at = base + timedelta(hours=2)
        t1.resolved_at = base + timedelta(hours=10)
        t2 = tickets.open_ticket(s, subject="b", mention_id=mentions[2].id, now=base + DAY)
        t2.first_response_at = base + DAY + timedelta(hours=4)
        s.add(t1)
        s.add(t2)
        tickets.open_ticket(s, subject="c", mention_id=mentions[4].id, now=base + 3 * DAY)
        draft = drafts.create_draft(s, mention=mentions[3], text="Danke!", language="de", now=base + 2 * DAY)
        draft.status = "sent"
        draft.sent_at = base + 2 * DAY + timedelta(hours=3)
        s.add(draft)
    return base


def test_figures_from_stored_data(db):
    base = seed_marketing(db)
    with db.read() as s:
        board = build_dashboard(s, base - DAY, base + 5 * DAY, utcnow())
    k = board.kpis
    assert (k.mentions, k.complaints) == (6, 3)
    assert (k.responded, k.actionable) == (3, 4)  # t1, t2 answered and the sent draft; t3 not
    assert k.response_rate == 0.75
    assert k.median_first_response == timedelta(hours=3)  # 2 h, 3 h, 4 h
    assert k.median_resolution == timedelta(hours=10)
    assert (k.churn_signals, k.leads, k.leads_won) == (1, 1, 1)
    assert board.by_source.total("blog") == 4 and board.by_source.total("reddit") == 2
    assert dict((g, n) for g, n, _ in board.share_of_voice) == {"brand": 4, "competitor": 2}
    assert board.by_tag.total("spring-sale") == 2
    assert sum(board.sentiment.values["negative"]) == 3
    themes = {theme.phrase: theme.mentions for theme in board.themes}
    assert themes == {"Lieferung kaputt": 3, "Kundenservice langsam": 3}  # pairs stand for their words


async def test_page_draws_charts_and_kpis(as_role, db):
    make_users(db)
    base = seed_marketing(db)
    client, _ = await as_role("marketing")
    start, end = (base - DAY).date().isoformat(), (base + 4 * DAY).date().isoformat()
    html = await (await client.get(f"/dashboard?start={start}&end={end}")).text()
    assert re.search(r'data-kpi="mentions">6<', html)
    assert re.search(r'data-kpi="response_rate">75.0%<', html)
    assert 'data-chart="stacked"' in html and 'data-chart="line"' in html and 'data-chart="share"' in html
    assert html.count('<polyline class="series"') == 2  # blog and reddit
    by_group = await (await client.get(f"/dashboard?start={start}&end={end}&by=group")).text()
    assert 'data-key="competitor"' in by_group
    by_tag = await (await client.get(f"/dashboard?start={start}&end={end}&by=tag")).text()
    assert 'data-key="spring-sale"' in by_tag


async def test_date_range_limits_the_figures(as_role, db):
    make_users(db)
    base = seed_marketing(db)
    client, _ = await as_role("marketing")
    day = (base + 4 * DAY).date().isoformat()
    html = await (await client.get(f"/dashboard?start={day}&end={day}")).text()
    assert re.search(r'data-kpi="mentions">1<', html)
    bad = await client.get("/dashboard?start=2026-05-01&end=2026-04-01")
    assert bad.status == 400 and "start" in await bad.text()
    assert (await client.get("/dashboard?start=yesterday")).status == 400


async def test_csv_export(as_role, db):
    make_users(db)
    base = seed_marketing(db)
    client, _ = await as_role("marketing")
    start, end = base.date().isoformat(), (base + 4 * DAY).date().isoformat()
    response = await client.get(f"/dashboard/export.csv?start={start}&end={end}")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == ["bucket_start", "dimension", "key", "mentions"]
    assert [base.date().isoformat(), "source", "blog", "2"] in rows
    totals = {}
    for _bucket, dimension, key, count in rows[1:]:
        totals[(dimension, key)] = totals.get((dimension, key), 0) + int(count)
    assert totals[("group", "brand")] == 4 and totals[("sentiment", "negative")] == 3


async def test_correcting_a_sentiment_is_kept_for_retraining(as_role, db):
    make_users(db)
    seed_marketing(db)
    with db.read() as s:
        mention = s.exec(select(Mention).where(Mention.sentiment == "negative")).first()
    client, csrf = await as_role("marketing")
    response = await client.post(
        f"/mentions/{mention.id}/sentiment",
        data={"csrf_token": csrf, "sentiment": "neutral", "next": "/dashboard"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/dashboard?notice=corrected"
    with db.read() as s:
        correction = s.exec(select(SentimentCorrection)).one()
        assert s.get(Mention, mention.id).sentiment == "neutral"
    assert (correction.old_label, correction.new_label, correction.corrected_by) == (
        "negative",
        "neutral",
        "marketing",
    )


async def test_spreadsheet_formulas_are_neutralised(as_role, db):
    make_users(db)
    with db.write() as s:
        add_mention(s, "x", source="=HYPERLINK(1)", published_at=utcnow() - timedelta(hours=1))
    client, _ = await as_role("marketing")
    text = await (await client.get("/dashboard/export.csv")).text()
    assert "'=HYPERLINK(1)" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_tickets_merged_away_do_not_count(db):
    base = seed_marketing(db)
    with db.write() as s:
        first, second, third = s.exec(select(Ticket).order_by(Ticket.id)).all()
        ticket_merges.merge_tickets(s, third.id, second.id, actor="t")
    with db.read() as s:
        board = build_dashboard(s, base - DAY, base + 5 * DAY, utcnow())
    assert board.kpis.actionable == 3


def test_focus_on_one_source_group_or_tag(db):
    from socialcrm.web.queries.dashboard import Focus

    base = seed_marketing(db)
    with db.read() as s:
        blog = build_dashboard(s, base - DAY, base + 5 * DAY, utcnow(), Focus(source="blog"))
        competitor = build_dashboard(s, base - DAY, base + 5 * DAY, utcnow(), Focus(group="competitor"))
        sale = build_dashboard(s, base - DAY, base + 5 * DAY, utcnow(), Focus(tag="spring-sale"))
    assert (blog.kpis.mentions, blog.kpis.complaints, blog.kpis.churn_signals) == (4, 2, 1)
    assert blog.kpis.actionable == 2  # the tickets of the two negative blog posts; the draft is on reddit
    assert set(blog.by_source.values) == {"blog"}
    assert (competitor.kpis.mentions, competitor.kpis.complaints) == (2, 2)
    assert sale.kpis.mentions == 2 and set(sale.by_tag.values) == {"spring-sale"}


async def test_legend_links_focus_the_page(as_role, db):
    make_users(db)
    base = seed_marketing(db)
    client, _ = await as_role("marketing")
    start, end = (base - DAY).date().isoformat(), (base + 4 * DAY).date().isoformat()
    html = await (await client.get(f"/dashboard?start={start}&end={end}")).text()
    link = re.search(r'<a href="(/dashboard\?[^"]*source=reddit[^"]*)">reddit</a>', html).group(1)
    focused = await (await client.get(link.replace("&amp;", "&"))).text()
    assert re.search(r'data-kpi="mentions">2<', focused) and 'id="focus"' in focused


async def test_csv_export_for_excel_follows_the_users_language(as_role, db):
    make_users(db)
    base = seed_marketing(db)
    client, _ = await as_role("marketing")
    start, end = base.date().isoformat(), (base + 4 * DAY).date().isoformat()
    url = f"/dashboard/export.csv?start={start}&end={end}"
    plain = await (await client.get(url)).read()
    german = await (await client.get(url + "&excel=1", headers={"Accept-Language": "de"})).read()
    english = await (await client.get(url + "&excel=1", headers={"Accept-Language": "en"})).read()
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert german.startswith(b"\xef\xbb\xbfbucket_start;dimension;key;mentions\r\n")
    assert english.startswith(b"\xef\xbb\xbfbucket_start,dimension,key,mentions\r\n")
    rows = list(csv.reader(io.StringIO(german.decode("utf-8-sig")), delimiter=";"))
    assert rows == list(csv.reader(io.StringIO(plain.decode("utf-8"))))
    page = await (await client.get("/dashboard", headers={"Accept-Language": "de"})).text()
    assert "excel=1" in page and "Für Excel exportieren" in page
