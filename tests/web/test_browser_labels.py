"""Custom labels end to end in real headless Chromium: teach a label with examples, train it, switch it on; new
posts then carry it, a rule fires on it (its explanation in the reply queue), the filter finds them, the dashboard
counts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from classifiers.lexicon import LexiconClassifier
from connectors import Batch, RawPost
from socialcrm.config import parse_config
from socialcrm.models import CustomLabel, MentionLabel, ReplyDraft
from socialcrm.pipeline import Pipeline
from socialcrm.rules.loader import compile_rules
from socialcrm.services.label_enricher import LabelEnricher
from tests.web.seed import add_mention, make_users

CONFIG = """
[web]
default_language = "en"
[classifier]
kind = "lexicon"
[[sources]]
name = "acme-blog"
type = "feed"
url = "https://blog.example.com/feed.xml"
enabled = false
[[rules]]
name = "churn-save"
[rules.when]
label = ["churn"]
[[rules.then]]
action = "draft_reply"
template = "save"
[templates.save]
de = "Das tut uns leid, {{ author }}! Dürfen wir helfen, bevor Sie gehen?"
en = "Sorry to hear that, {{ author }}! May we help before you go?"
"""
LEAVING = [
    "I am cancelling my contract today, I have had enough",
    "Ich kündige meinen Vertrag zum Monatsende",
    "switching to another provider, goodbye",
    "Kündigung ist raus, ich wechsle den Anbieter",
]
STAYING = [
    "where is my parcel, it is late",
    "Wo bleibt mein Paket?",
    "the new app is great, thanks",
    "Die neue App ist super",
]
NEW_POSTS = [
    ("new-1", "Ich kündige meinen Vertrag, ich wechsle den Anbieter."),
    ("new-2", "Die neue App ist super, danke!"),
]


async def test_teach_switch_on_and_see_a_label_in_a_rule_a_filter_and_the_dashboard(serve_web, log_in, db):
    config = parse_config(CONFIG)
    make_users(db)
    earlier = datetime.now(UTC) - timedelta(days=2)
    with db.write() as s:
        for i, text in enumerate(LEAVING + STAYING):
            add_mention(s, text, url=f"https://blog.example.com/old/{i}", published_at=earlier)
    base = await serve_web(CONFIG)

    page, dialogs = await log_in(base, "community")
    await page.goto(base + "/labels")
    await page.fill("input[name=name]", "churn")
    await page.fill("input[name=title]", "Churn signal")
    await page.click("form.label-form button[type=submit]")
    await page.wait_for_load_state("load")
    assert "/labels/" in page.url and "Churn signal" in await page.inner_text("h1")
    for text in LEAVING + STAYING:
        item = page.locator("li[data-candidate]", has_text=text)
        await item.locator("button.yes" if text in LEAVING else "button.no").click()
        await page.wait_for_load_state("load")
    assert "4 yes, 4 no" in await page.inner_text("#examples h2")
    await page.click("#train")
    await page.wait_for_load_state("load")
    estimate = await page.inner_text("#estimate")
    assert "Precision" in estimate and "Recall" in estimate
    assert "4-fold cross-validation on the 4 examples and 4 counter-examples" in estimate
    await page.click("#switch")
    await page.wait_for_load_state("load")
    assert "Switch off" in await page.inner_text("#switch")
    with db.read() as s:
        label = s.exec(select(CustomLabel).where(CustomLabel.name == "churn")).one()
    assert label.enabled and label.features == "words-v1"

    # New posts arrive through the pipeline: labels are predicted after classification, then the rules run.
    pipeline = Pipeline(
        config,
        db,
        LexiconClassifier(),
        compile_rules(list(config.rules), config.templates),
        enrichers=[LabelEnricher(db, config.daemon.max_text_chars)],
    )
    now = datetime.now(UTC)
    posts = [
        RawPost("acme-blog", ext, f"https://blog.example.com/{ext}", "kunde", None, text, now)
        for ext, text in NEW_POSTS
    ]
    result = await pipeline.process(config.sources[0], Batch(posts=posts, cursor=None))
    assert result.new == 2 and result.drafts == 1
    with db.read() as s:
        leaving_id, staying_id = result.mention_ids
        labelled = set(s.exec(select(MentionLabel.mention_id)))
        draft = s.exec(select(ReplyDraft)).one()
    assert leaving_id in labelled and staying_id not in labelled and draft.mention_id == leaving_id

    await page.goto(base + "/queue")
    explanation = await page.inner_text(f'[data-draft="{draft.id}"] .explanation')
    assert "churn-save" in explanation and "label" in explanation and "churn" in explanation

    await page.goto(base + "/mentions")
    await page.select_option("select[name=label]", "churn")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_load_state("load")
    assert "label=churn" in page.url
    shown = await page.locator("article.post").evaluate_all("els => els.map(e => e.dataset.mention)")
    assert str(leaving_id) in shown and str(staying_id) not in shown
    assert await page.locator(f'[data-mention="{leaving_id}"]').count() == 1

    marketing, _ = await log_in(base, "marketing")
    await marketing.goto(base + "/dashboard")
    panel = marketing.locator("#labels-chart")
    assert "Mentions per label" in await panel.inner_text()
    await panel.locator('a[href="/mentions?label=churn"]').click()
    await marketing.wait_for_load_state("load")
    assert "label=churn" in marketing.url
    assert dialogs == []
