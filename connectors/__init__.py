"""Platform connectors: each module turns one platform into RawPost batches (never imports socialcrm).

What the application may use is exported here (``__all__``); modules starting with ``_`` are the
connectors' own plumbing. The HTTP helpers below are public because the core shares them: one
session for every connector and webhook, capped reads, and the backoff of failing sources.
"""

from connectors._http import Backoff, make_session, parse_retry_after, read_capped
from connectors._netguard import NetworkGuard
from connectors.base import (
    AuthError,
    Batch,
    Connector,
    ConnectorError,
    ConnectorFactory,
    ConnectorOptions,
    MalformedResponseError,
    ParseError,
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
    "MalformedResponseError",
    "NetworkGuard",
    "ParseError",
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
    "TransientFetchError",
    "make_session",
    "measure_reply",
    "parse_retry_after",
    "read_capped",
]
