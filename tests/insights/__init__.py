"""Tests of socialcrm/insights: themes, alerts and digests."""
