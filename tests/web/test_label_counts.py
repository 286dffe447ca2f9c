"""The dashboard's label panel: mentions per switched-on label and day or week, counted in the viewer's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from socialcrm.models import CustomLabel, MentionLabel
from socialcrm.web.queries.label_counts import label_counts
from tests.web.seed import add_mention

BERLIN = ZoneInfo("Europe/Berlin")


def _label(s, name, enabled=True):  # type: ignore[no-untyped-def]
    label = CustomLabel(name=name, title=name.title(), enabled=enabled)
    s.add(label)
    s.flush()
    return label.id


def test_label_counts_per_day_and_week_in_the_viewers_zone(db):
    # Around the end of summer time in Berlin (2026-10-25): a post at 22:30 UTC is the next day there,
    # one hour further on either side of the switch.
    published = [
        datetime(2026, 10, 20, 21, 30, tzinfo=UTC),  # 23:30 in Berlin (UTC+2): the 20th
        datetime(2026, 10, 20, 22, 30, tzinfo=UTC),  # 00:30 on the 21st in Berlin
        datetime(2026, 10, 26, 22, 30, tzinfo=UTC),  # 23:30 on the 26th (UTC+1 now)
        datetime(2026, 10, 26, 23, 30, tzinfo=UTC),  # 00:30 on the 27th
        datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 9, 12, 0, tzinfo=UTC),  # after the range
    ]
    with db.write() as s:
        churn, praise, off = _label(s, "churn"), _label(s, "praise"), _label(s, "draft-label", enabled=False)
        _label(s, "unused")
        for i, when in enumerate(published):
            mention = add_mention(s, f"Post {i}", published_at=when)
            s.add(MentionLabel(mention_id=mention.id, label_id=churn, score=0.9))
            s.add(MentionLabel(mention_id=mention.id, label_id=off, score=0.9))
            if i % 2:
                s.add(MentionLabel(mention_id=mention.id, label_id=praise, score=0.8))
    start = datetime(2026, 10, 19, tzinfo=BERLIN)
    end = datetime(2026, 11, 9, tzinfo=BERLIN)
    days = [date(2026, 10, 19) + timedelta(days=n) for n in range(21)]

    with db.read() as s:
        per_day = label_counts(s, start, end, days, "day", BERLIN)
        per_week = label_counts(s, start, end, days[::7], "week", BERLIN)
        in_utc = label_counts(s, start.astimezone(UTC), end.astimezone(UTC), days, "day", UTC)

    assert list(per_day) == ["churn", "praise", "unused"]  # switched-on labels only, by name
    churn_days = {days[i]: n for i, n in enumerate(per_day["churn"]) if n}
    assert churn_days == {date(2026, 10, 20): 1, date(2026, 10, 21): 1, date(2026, 10, 26): 1,
                          date(2026, 10, 27): 1, date(2026, 11, 2): 1}  # fmt: skip
    praise_days = {days[i]: n for i, n in enumerate(per_day["praise"]) if n}
    assert praise_days == {date(2026, 10, 21): 1, date(2026, 10, 27): 1}
    assert per_day["unused"] == [0] * 21
    assert per_week == {"churn": [2, 2, 1], "praise": [1, 1, 0], "unused": [0, 0, 0]}
    utc_days = {days[i]: n for i, n in enumerate(in_utc["churn"]) if n}
    assert utc_days == {date(2026, 10, 20): 2, date(2026, 10, 26): 2, date(2026, 11, 2): 1}
