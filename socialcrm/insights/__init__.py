"""Insights marketers act on: themes of negative mentions, period-over-period changes, alerts and digests."""
