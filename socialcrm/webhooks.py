"""Outbound webhook requests as the Standard Webhooks specification has them, plus the first release's headers.

Every request carries ``webhook-id`` (the same on every retry of one message), ``webhook-timestamp``
(Unix seconds) and, when the webhook has a secret, ``webhook-signature``: ``v1,<base64 HMAC-SHA256
of "<id>.<timestamp>.<body>">`` (https://www.standardwebhooks.com), so receivers verify with the
``standardwebhooks`` libraries. A secret written as ``whsec_<base64>`` (``socialcrm webhooks
new-secret`` makes one) is used as those decoded bytes, the way the libraries read it; any other
secret is used as its UTF-8 bytes (a receiver then passes the bytes to the library).

For receivers written for the first release, ``legacy_signature = true`` (the default for now)
also sends its ``X-SocialCRM-Timestamp`` and ``X-SocialCRM-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>">``, keyed with the secret's text as before. ``Idempotency-Key`` stays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def is_standard_secret(secret: str) -> bool:
    """Whether ``secret`` is a ``whsec_`` secret whose rest is valid base64."""
    return secret.startswith(SECRET_PREFIX) and _decoded(secret) is not None


def signing_key(secret: str) -> bytes:
    """The HMAC key of the Standard Webhooks signature: a ``whsec_`` secret decoded, else the text's bytes."""
    decoded = _decoded(secret) if secret.startswith(SECRET_PREFIX) else None
    return decoded if decoded else secret.encode()


def _decoded(secret: str) -> bytes | None:
    rest = secret[len(SECRET_PREFIX) :]
    try:
        return base64.b64decode(rest + "=" * (-len(rest) % 4), validate=True) or None
    except (binascii.Error, ValueError):
        return None


def message_id(idempotency_key: str) -> str:
    """The ``webhook-id`` of one message: derived from its outbox key, so a retry sends the same id."""
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def standard_headers(msg_id: str, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """``webhook-id``, ``webhook-timestamp`` and (with a secret) ``webhook-signature`` for one request."""
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    if secret:
        signed = f"{msg_id}.{timestamp}.".encode() + body
        digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
        headers["webhook-signature"] = "v1," + base64.b64encode(digest).decode()
    return headers


def sign_webhook(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The first release's headers: HMAC-SHA256 (hex) over "<timestamp>.<body>" keyed with the secret's text."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"X-SocialCRM-Timestamp": ts}
    if secret:
        digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers["X-SocialCRM-Signature"] = f"sha256={digest}"
    return headers


def request_headers(
    idempotency_key: str, body: bytes, secret: str, *, legacy: bool, timestamp: int | None = None
) -> dict[str, str]:
    """Every header of one webhook request: JSON, the idempotency key, Standard Webhooks, and the legacy pair."""
    ts = timestamp if timestamp is not None else int(time.time())
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    headers.update(standard_headers(message_id(idempotency_key), body, secret, ts))
    if legacy:
        headers.update(sign_webhook(body, secret, ts))
    return headers
