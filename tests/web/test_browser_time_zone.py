"""Chromium in Europe/Berlin: app.js tells the server the browser's zone, and pages show Berlin time."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.web.seed import add_mention, make_users


async def test_times_follow_the_browsers_zone_until_the_user_chooses_one(serve_web, log_in, db):
    make_users(db)
    with db.write() as s:
        add_mention(s, "Sommerpost", published_at=datetime(2026, 7, 15, 10, 0, tzinfo=UTC))
        add_mention(s, "Winterpost", published_at=datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    base = await serve_web()
    page, _ = await log_in(base, "community", locale="de-DE", timezone_id="Europe/Berlin")
    context = page.context
    assert {"name": "tz", "value": "Europe/Berlin"}.items() <= next(
        c for c in await context.cookies() if c["name"] == "tz"
    ).items()
    await page.goto(base + "/mentions")
    text = await page.inner_text("main")
    assert "15.07.2026 12:00" in text and "15.01.2026 11:00" in text
    assert "Zeiten in Europe/Berlin." in await page.inner_text("footer")
    # Her own choice wins over the browser's.
    await page.goto(base + "/me")
    await page.select_option("select[name=time_zone]", "America/New_York")
    await page.click("#time-zone + form button[type=submit]")
    await page.wait_for_load_state("load")
    await page.goto(base + "/mentions")
    assert "15.07.2026 06:00" in await page.inner_text("main")
    await context.close()
