"""Platform connectors: each module turns one platform into RawPost batches (never imports socialcrm)."""

from connectors.base import (
    AuthError,
    Batch,
    Connector,
    ConnectorError,
    ConnectorOptions,
    MalformedResponseError,
    ParseError,
    RateLimited,
    RawPost,
    ReplyError,
    ReplyPolicy,
    ReplyResult,
    ReplyTarget,
    TransientFetchError,
)

__all__ = [
    "AuthError",
    "Batch",
    "Connector",
    "ConnectorError",
    "ConnectorOptions",
    "MalformedResponseError",
    "ParseError",
    "RateLimited",
    "RawPost",
    "ReplyError",
    "ReplyPolicy",
    "ReplyResult",
    "ReplyTarget",
    "TransientFetchError",
]
