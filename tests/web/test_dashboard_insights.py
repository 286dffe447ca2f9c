"""The dashboard against the previous period, its drill-down links into the mention list, themes, share of voice."""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

from socialcrm.models import utcnow
from socialcrm.web.queries.dashboard import build_dashboard
from tests.web.seed import add_customer, add_mention, make_users
from tests.web.test_dashboard import seed_marketing

DAY = timedelta(days=1)


def _seed(db):  # type: ignore[no-untyped-def]
    """seed_marketing's five days, and two negative blog posts in the five days before them."""
    base = seed_marketing(db)
    start = base.replace(hour=0)
    with db.write() as s:
        for text in ("Lieferung zu spät", "Paket beschädigt"):
            add_mention(s, text, source="blog", group="brand", sentiment="negative", published_at=start - 2 * DAY)
    return start


def _links(html: str) -> list[str]:
    return [html_lib.unescape(h) for h in re.findall(r'href="(/mentions\?[^"]*)"', html)]


def test_every_figure_has_the_previous_period_of_the_same_length(db):
    start = _seed(db)
    with db.read() as s:
        board = build_dashboard(s, start, start + 5 * DAY, utcnow())
    before = board.previous
    assert (before.start, before.end) == (start - 5 * DAY, start)
    assert (before.kpis.mentions, before.kpis.complaints, before.kpis.negative_share) == (2, 2, 1.0)
    assert before.by_source == {"blog": 2} and before.by_group == {"brand": 2}
    assert before.sentiment["negative"] == 2 and before.share_of_voice == {"brand": 1.0}
    assert board.kpis.mentions == 6


async def test_page_shows_changes_and_links_to_the_mentions_behind_them(as_role, db):
    make_users(db)
    start = _seed(db)
    first, last = start.date().isoformat(), (start + 4 * DAY).date().isoformat()
    client, _ = await as_role("marketing")
    html = await (await client.get(f"/dashboard?start={first}&end={last}")).text()
    assert re.search(
        r'data-change="mentions"><span class="delta up" title="previous period: 2">\+4 \(\+200\.0%\)', html
    )
    complaints = re.search(r'data-change="complaints">(.*?)</div>', html)
    assert complaints and 'class="delta up bad"' in complaints.group(1) and "+1 (+50.0%)" in complaints.group(1)
    assert "−50.0 pp" in complaints.group(1)  # the negative share fell from 100 % to 50 %
    assert re.search(r'data-legend="blog">.*?<span class="total">4</span> <span class="delta up"', html)
    links = _links(html)
    assert f"/mentions?start={first}&end={last}&sentiment=negative" in links  # the complaints KPI
    day = start.date().isoformat()  # the first day has one negative and one positive blog post
    assert f"/mentions?start={day}&end={day}&sentiment=negative" in links  # a part of a bar
    assert f"/mentions?start={day}&end={day}&source=blog" in links  # a point of the volume line
    assert f"/mentions?start={first}&end={last}&group=competitor" in links  # a share-of-voice bar
    theme = f"/mentions?start={first}&end={last}&sentiment=negative&theme=Lieferung+kaputt"
    assert theme in links

    # The marketing role opens what the links point at and sees exactly the mentions behind them.
    behind = await (await client.get(theme)).text()
    assert behind.count('<article class="post"') == 3 and "Alles prima" not in behind and "Paket" not in behind
    assert 'data-filter="theme">Lieferung kaputt<' in behind
    bar = await (await client.get(f"/mentions?start={day}&end={day}&sentiment=negative")).text()
    assert bar.count('<article class="post"') == 1 and "Lieferung kaputt" in bar
    previous = (start - 2 * DAY).date().isoformat()
    earlier = await (await client.get(f"/mentions?start={previous}&end={previous}")).text()
    assert earlier.count('<article class="post"') == 2 and "Paket beschädigt" in earlier
    tagged = await (await client.get(f"/mentions?start={first}&end={last}&tag=spring-sale")).text()
    assert tagged.count('<article class="post"') == 2


async def test_themes_change_against_the_previous_period(as_role, db):
    make_users(db)
    start = _seed(db)  # now: "Lieferung kaputt" in 3 negative posts; before: 2 other complaints
    with db.write() as s:
        add_mention(s, "Wieder Lieferung kaputt!", sentiment="negative", published_at=start - 3 * DAY)
    with db.read() as s:
        board = build_dashboard(s, start, start + 5 * DAY, utcnow())
    theme = next(t for t in board.themes if t.phrase == "Lieferung kaputt")
    assert theme.mentions == 3 and board.previous.themes[theme.key] == 1
    first, last = start.date().isoformat(), (start + 4 * DAY).date().isoformat()
    client, _ = await as_role("marketing")
    html = await (await client.get(f"/dashboard?start={first}&end={last}")).text()
    shown = re.search(r'data-theme="Lieferung kaputt">.*?</span> (<span class="delta[^>]*>[^<]*</span>)', html)
    assert shown and 'class="delta up bad" title="previous period: 1"' in shown.group(1)
    assert "+2 (+200.0%)" in shown.group(1)


async def test_share_of_voice_explains_itself_while_only_one_group_exists(as_role, db):
    make_users(db)
    with db.write() as s:
        for i in range(3):
            add_mention(s, f"Post {i}", group="brand", published_at=utcnow() - DAY)
    client, _ = await as_role("marketing")
    html = await (await client.get("/dashboard")).text()
    assert 'id="share-setup"' in html and 'group = "competitor"' in html_lib.unescape(html)
    assert 'data-chart="share"' not in html
    with db.write() as s:
        add_mention(s, "Rival post", group="competitor", published_at=utcnow() - DAY)
    html = await (await client.get("/dashboard")).text()
    assert 'data-chart="share"' in html and 'id="share-setup"' not in html


async def test_themes_leave_out_the_configured_brand_terms(aiohttp_client, db):
    from socialcrm.config import parse_config
    from socialcrm.web.app import create_app
    from tests.web.conftest import CONFIG_TOML, login

    make_users(db)
    with db.write() as s:
        for i in range(3):
            add_mention(s, f"Acme Kaffeemaschine undicht, Nummer {i}", published_at=utcnow() - DAY)
    client = await aiohttp_client(create_app(parse_config(CONFIG_TOML + '[insights]\nbrand_terms = ["Acme"]\n'), db))
    await login(client, "marketing")
    html = await (await client.get("/dashboard")).text()
    themes = re.findall(r'data-theme="([^"]*)"', html)
    assert "Kaffeemaschine undicht" in themes and not any("Acme" in t for t in themes)


def test_campaign_response_new_customers_and_labelled_churn(db):
    from socialcrm.models import CustomLabel, MentionLabel, Order

    start = _seed(db)
    with db.write() as s:
        add_mention(
            s,
            "Frühlingsaktion super",
            source="blog",
            sentiment="positive",
            tags=["spring-sale"],
            published_at=start - 3 * DAY,
        )
        bert = add_customer(s, "Bert Bestand")  # ordered before his lead mention: a lead won, not a new customer
        s.add(Order(order_number="B-1", customer_id=bert.id, ordered_at=start - 30 * DAY, products=["X"]))
        s.add(Order(order_number="B-2", customer_id=bert.id, ordered_at=start + 3 * DAY, products=["Y"]))
        add_mention(
            s, "Gibt es das auch in Blau?", customer=bert, tags=["lead"], sentiment="neutral", published_at=start + DAY
        )
        quits = add_mention(s, "Ich kündige zum Monatsende", sentiment="negative", published_at=start + DAY)
        label = CustomLabel(name="churn", enabled=True)
        s.add(label)
        s.flush()
        s.add(MentionLabel(mention_id=quits.id, label_id=label.id, score=0.9))
    with db.read() as s:
        board = build_dashboard(s, start, start + 5 * DAY, utcnow())
    sale = next(c for c in board.campaigns if c.tag == "spring-sale")
    assert (sale.mentions, sale.positive, sale.negative) == (2, 1, 1)
    assert (sale.previous_mentions, sale.previous_positive, sale.previous_negative) == (1, 1, 0)
    assert (sale.positive_share, sale.previous_positive_share) == (0.5, 1.0)
    assert {c.tag for c in board.campaigns} == {"spring-sale"}  # churn and lead tags are KPIs of their own
    k = board.kpis
    assert (k.leads, k.leads_won, k.new_customers) == (2, 2, 1)  # Lea is new, Bert ordered before
    assert k.churn_signals == 2  # the "kündigung" tag and the churn label
    assert board.previous.kpis.churn_signals == 0
    with db.write() as s:  # switched off: its stored predictions stay, but filters and KPIs leave them out
        label = s.get(CustomLabel, label.id)
        label.enabled = False
        s.add(label)
    with db.read() as s:
        assert build_dashboard(s, start, start + 5 * DAY, utcnow()).kpis.churn_signals == 1


async def test_campaign_table_and_new_customers_on_the_page(as_role, db):
    make_users(db)
    start = _seed(db)
    first, last = start.date().isoformat(), (start + 4 * DAY).date().isoformat()
    client, _ = await as_role("marketing")
    html = await (await client.get(f"/dashboard?start={first}&end={last}")).text()
    row = re.search(r'<tr data-campaign="spring-sale">(.*?)</tr>', html, re.S)
    assert row and f"/mentions?start={first}&amp;end={last}&amp;tag=spring-sale" in row.group(1)
    assert "50.0%" in row.group(1) and "+2 (new)" in row.group(1)
    assert re.search(r'data-kpi="new_customers">1<', html)
