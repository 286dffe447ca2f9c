"""The spike detector: a trailing baseline with minimum counts, so noise and quiet sources raise no alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socialcrm.config import parse_config
from socialcrm.config_sections import AlertsConfig
from socialcrm.errors import ConfigError
from socialcrm.insights.alerts import ALL, Counts, current_window, detect, volume_threshold

ALERTS = AlertsConfig(email_to=("m@example.com",))


def _kinds(counts: Counts) -> list[str]:
    return [spike.kind for spike in detect(ALL, counts, ALERTS)]


def test_a_quiet_source_does_not_alert_on_two_mentions():
    assert _kinds(Counts(2, 2, [0] * 168, [0] * 168)) == []


def test_a_burst_above_the_minimum_alerts_on_volume():
    assert _kinds(Counts(25, 0, [0] * 168, [0] * 168)) == ["volume"]


def test_a_busy_source_needs_a_real_jump_not_noise():
    baseline = [40, 55, 48, 60, 52, 45, 58, 300] * 21  # one loud hour a day does not move the median
    assert volume_threshold(baseline, ALERTS) == pytest.approx(max(2 * 53.5, 53.5 + 4 * 1.4826 * 6.5))
    assert _kinds(Counts(90, 10, baseline, [b // 10 for b in baseline])) == []
    assert _kinds(Counts(140, 14, baseline, [b // 10 for b in baseline])) == ["volume"]


def test_negative_share_alerts_only_on_a_clear_rise_with_enough_negatives():
    baseline, negative = [30] * 168, [3] * 168  # usually 10 % negative
    assert _kinds(Counts(30, 9, baseline, negative)) == []  # 30 %, but only 9 negatives
    assert _kinds(Counts(30, 12, baseline, negative)) == ["negative_share"]  # 40 %
    assert _kinds(Counts(200, 36, [200] * 168, [20] * 168)) == []  # 18 %: under 20 points more


def test_windows_are_aligned_so_each_alert_has_one_name():
    now = datetime(2026, 12, 1, 6, 41, 7, tzinfo=UTC)
    window = current_window(now, AlertsConfig(window="1h", baseline="7d"))
    assert (window.start, window.end) == (datetime(2026, 12, 1, 6, tzinfo=UTC), datetime(2026, 12, 1, 7, tzinfo=UTC))
    assert window.baseline_start == window.start - timedelta(days=7) and window.baseline_windows == 168
    assert current_window(now + timedelta(minutes=10), AlertsConfig()).start == window.start


def test_alert_config_mistakes_are_named():
    with pytest.raises(ConfigError) as caught:
        parse_config('[alerts]\nemail_to = ["m@example.com"]\nwebhooks = ["nope"]\nwindow = "soon"\n')
    message = str(caught.value)
    assert "alerts.email_to: e-mail needs an [smtp] section" in message
    assert "alerts.webhooks: no [[webhooks]] entry named 'nope'" in message
    assert "alerts.window" in message
    with pytest.raises(ConfigError) as caught:
        parse_config('[alerts]\nwebhooks = ["ops"]\n[[webhooks]]\nname = "ops"\nurl = "https://example.com/h"\n')
    assert "webhook 'ops' is not sent alert events; add \"alert\" to its events" in str(caught.value)
