"""Platform connectors: each module turns one platform into RawPost batches (never imports socialcrm).

What the application may use is exported here (``__all__``); modules starting with ``_`` are the
connectors' own plumbing. The HTTP helpers below are public because the core shares them: one
session for every connector and webhook (``make_session``, with ``NetworkGuard`` keeping fetches out
of private address space), capped reads (``read_capped``), ``parse_retry_after`` and the ``Backoff``
of failing sources and deliveries.

Retry-After: no connector sleeps; it raises, and the caller waits. A 429 is ``RateLimited`` and a 5xx,
408 or 425 is ``TransientFetchError``, each carrying ``retry_after`` in seconds from the server's
Retry-After (delta-seconds or an HTTP date, capped at 6 hours; Reddit's 429 is read by our own
requestor, as prawcore reads no date) or, for a 429 without one, from an ``X-Ratelimit-Reset`` /
``RateLimit-Reset`` whose budget is spent (Reddit, Mastodon, Bluesky). A successful answer that says
the budget is spent ends the poll early, and the next fetch raises ``RateLimited`` until the reset
without a request (connectors/_polling.py; Reddit's in connectors/_praw.py). ``Backoff.delay`` lets
a given ``retry_after`` win over its exponential backoff (at least 1 second); the core's poller and
webhook deliveries use it.

``usable_cpus`` is the CPU count the feed parser pool is sized by (affinity and cgroup limits, not the
host's count); the core asks it too, so both sides agree on how many cores there are.
``forget_posts`` takes an erased person's post ids out of a stored cursor (the core's ``privacy erase``).
"""

from connectors._cpus import usable_cpus
from connectors._cursor import forget_posts
from connectors._http import Backoff, make_session, parse_retry_after, read_capped
from connectors._netguard import NetworkGuard
from connectors.base import (
    AuthError,
    Batch,
    Connector,
    ConnectorError,
    ConnectorFactory,
    ConnectorOptions,
    EntryHook,
    MalformedResponseError,
    ParseError,
    PreparesEntries,
    RateLimited,
    RawPost,
    ReplyError,
    ReplyLength,
    ReplyLookup,
    ReplyLookupIncompleteError,
    ReplyMeasure,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
    SharedResources,
    SharedStart,
    TransientFetchError,
    measure_reply,
)

__all__ = [
    "AuthError",
    "Backoff",
    "Batch",
    "Connector",
    "ConnectorError",
    "ConnectorFactory",
    "ConnectorOptions",
    "EntryHook",
    "MalformedResponseError",
    "NetworkGuard",
    "ParseError",
    "PreparesEntries",
    "RateLimited",
    "RawPost",
    "ReplyError",
    "ReplyLength",
    "ReplyLookup",
    "ReplyLookupIncompleteError",
    "ReplyMeasure",
    "ReplyPolicy",
    "ReplyResult",
    "ReplyTarget",
    "SharedResources",
    "SharedStart",
    "TransientFetchError",
    "forget_posts",
    "make_session",
    "measure_reply",
    "parse_retry_after",
    "read_capped",
    "usable_cpus",
]
