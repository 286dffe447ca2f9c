"""Per-user time zones: times shown in the user's zone (else the browser's, else the server's), UTC in exports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from socialcrm.formatting import format_date, format_datetime
from socialcrm.services import auth, users
from socialcrm.timezones import server_zone_name, zone
from tests.web.conftest import login
from tests.web.seed import add_mention

SUMMER = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)
WINTER = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
# Summer time ends in Berlin at 01:00 UTC on 25 October 2026: 00:30 UTC is 02:30 CEST, 01:30 UTC is 02:30 CET.
LAST_SUMMER_HOUR = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
FIRST_WINTER_HOUR = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_german_dates_in_berlin_summer_and_winter_time():
    berlin = zone("Europe/Berlin")
    assert berlin is not None
    assert format_datetime(SUMMER, "de", berlin) == "15.07.2026 12:00"  # CEST, UTC+2
    assert format_datetime(WINTER, "de", berlin) == "15.01.2026 11:00"  # CET, UTC+1
    assert format_datetime(LAST_SUMMER_HOUR, "de", berlin) == format_datetime(FIRST_WINTER_HOUR, "de", berlin)
    assert format_date(datetime(2026, 7, 14, 23, 30, tzinfo=UTC), "de", berlin) == "15.07.2026"
    assert format_datetime(SUMMER, "en") == "15 Jul 2026 10:00"  # UTC unless a zone is given (reply texts)


async def test_a_german_user_in_berlin_sees_local_times(anon, aiohttp_client, db, web_config, world):
    with db.write() as s:
        add_mention(s, "Sommerpost", published_at=SUMMER)
        winter = add_mention(s, "Winterpost", published_at=WINTER).id
        users.set_language(s, users.get_user(s, "community").id, "de")  # type: ignore[arg-type]
    from socialcrm.web.app import create_app

    client = await aiohttp_client(create_app(web_config, db))
    csrf = await login(client, "community")
    saved = await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": "Europe/Berlin"})
    assert saved.status == 200 and "Zeitzone gespeichert" in await saved.text()
    page = await (await client.get("/mentions")).text()
    assert "Sommerpost" in page and "Winterpost" in page
    assert "15.07.2026 12:00" in page and "15.01.2026 11:00" in page, "summer +2, winter +1"
    assert "15.07.2026 10:00" not in page and "Zeiten in Europe/Berlin." in page
    account = await (await client.get("/me")).text()
    assert "<option selected>Europe/Berlin</option>" in account
    # Exports and the API stay in UTC whatever the user chose.
    with db.write() as s:
        token = auth.create_api_token(s, "community", "tz", actor="test")
    one = await (await client.get(f"/api/v1/mentions/{winter}", headers={"Authorization": f"Bearer {token}"})).json()
    assert one["published_at"] == "2026-01-15T10:00:00Z"
    # A wrong name is refused and changes nothing; an empty one goes back to the automatic zone.
    wrong = await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": "Europe/Bxl"})
    assert wrong.status == 400 and "Europe/Bxl" in await wrong.text()
    with db.read() as s:
        assert users.get_user(s, "community").time_zone == "Europe/Berlin"
    await client.post("/me/time-zone", data={"csrf_token": csrf, "time_zone": ""})
    with db.read() as s:
        assert users.get_user(s, "community").time_zone is None
    forged = await client.post("/me/time-zone", data={"time_zone": "Asia/Tokyo"})
    assert forged.status == 403


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # the server's zone, as $TZ names it
    server_zone_name.cache_clear()
    yield
    monkeypatch.undo()
    server_zone_name.cache_clear()


async def test_without_a_choice_the_browsers_zone_then_the_servers(as_role, db, world, server_in_tokyo):
    with db.write() as s:
        add_mention(s, "Sommerpost", published_at=SUMMER)
    client, _ = await as_role("community")
    page = await (await client.get("/mentions")).text()
    assert "15 Jul 2026 19:00" in page and "Times are shown in Asia/Tokyo." in page
    client.session.cookie_jar.update_cookies({"tz": "America/New_York"})
    page = await (await client.get("/mentions")).text()
    assert "15 Jul 2026 06:00" in page and "Times are shown in America/New_York." in page
    client.session.cookie_jar.update_cookies({"tz": "Not/AZone"})
    assert "15 Jul 2026 19:00" in await (await client.get("/mentions")).text()
