"""Stored records as JSON-ready dicts, written once for exports, the API and webhooks.

Each consumer picks the fields of its own contract (``exports.MENTION_FIELDS``, the API's and the
webhook's lists), in its own order; how a field is written (times as ISO 8601 UTC with ``Z``, tags
as a list) is decided here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from socialcrm.models import Mention


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def mention_record(
    mention: Mention, customer_ref: str | None, fields: Sequence[str], labels: Sequence[str] = ()
) -> dict[str, Any]:
    """The mention's ``fields`` (any of the keys below), in the order given; ``labels``: its custom labels' names."""
    m = mention
    values: dict[str, Any] = {
        "id": m.id,
        "source": m.source,
        "source_type": m.source_type,
        "external_id": m.external_id,
        "url": m.url,
        "thread_id": m.thread_id,
        "parent_id": m.parent_id,
        "kind": m.kind,
        "author": m.author,
        "author_name": m.author_name,
        "title": m.title,
        "text": m.text,
        "language": m.language,
        "sentiment": m.sentiment,
        "sentiment_score": m.sentiment_score,
        "customer_id": m.customer_id,
        "customer_ref": customer_ref,
        "link_method": m.link_method,
        "link_confidence": m.link_confidence,
        "group": m.group,
        "tags": list(m.tags or []),
        "published_at": iso(m.published_at),
        "fetched_at": iso(m.fetched_at),
        "labels": sorted(labels),
    }
    return {name: values[name] for name in fields}
