"""Prometheus metrics: what this process observes (``instruments``) and what the database holds (``stored``)."""
