"""Webhook delivery of one held outbox row: a signed POST, retried on the receiver's Retry-After.

Requests follow the Standard Webhooks specification (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; socialcrm/webhooks.py), carry the first release's signature headers while
``legacy_signature`` is on, and carry ``Idempotency-Key``. A receiver's Retry-After (on 429, 503 or
any other answer that is retried) sets when the next try is due, for that row and for every other
row queued for the same receiver. The lease and its fence are the
outbox worker's (socialcrm/outbox.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp

from connectors import ConnectorError, parse_retry_after, read_capped
from socialcrm import webhooks
from socialcrm.models import utcnow
from socialcrm.services import outbox as queue
from socialcrm.services.outbox import Claim

if TYPE_CHECKING:
    from socialcrm.outbox import OutboxRunResult, OutboxWorker

logger = logging.getLogger(__name__)

RESPONSE_CAP = 64 * 1024  # bytes of a receiver's answer read before it is dropped
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 410, 422})  # answers that no retry can change


async def deliver_webhook(worker: OutboxWorker, claim: Claim, result: OutboxRunResult) -> None:
    """POST one webhook row to its configured receiver and settle the row by the answer."""
    name = claim.payload.get("webhook")
    body_data = claim.payload.get("body", {})
    # Rows queued by the first release name their event in the body only.
    event = claim.payload.get("event") or body_data.get("event") or "notify"
    hook = next((w for w in worker.config.webhooks if w.name == name), None)
    if hook is None:
        await worker.finish(claim, "failed", error=f"webhook {name!r} is not configured")
        result.failed += 1
        return
    if event not in hook.events:
        await worker.finish(claim, "failed", error=f"webhook {name!r} is no longer sent {event} events")
        result.failed += 1
        return
    body = json.dumps(body_data, ensure_ascii=False, sort_keys=True).encode()
    secret = os.environ.get(hook.secret_env or "", "")
    headers = webhooks.request_headers(claim.idempotency_key, body, secret, legacy=hook.legacy_signature)
    await worker.hold(claim)
    try:
        async with asyncio.timeout(worker.step_timeout):
            async with worker.http.post(hook.url, data=body, headers=headers) as resp:
                await read_capped(resp, "webhook", RESPONSE_CAP)
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    except (TimeoutError, aiohttp.ClientError, ConnectorError) as err:
        await worker.retry_or_fail(claim, f"webhook {name}: {err or 'timed out'}", result)
        return
    if 200 <= status < 300:
        outcome = {"status": status}
        await worker.db.run_write(lambda s: queue.mark_delivered(s, claim.item_id, now=utcnow(), result=outcome))
        result.sent += 1
    elif status in PERMANENT_STATUSES:
        await worker.finish(claim, "failed", error=f"webhook {name}: HTTP {status}")
        result.failed += 1
    else:
        # 429, 5xx and the like: try again when the receiver's Retry-After says (at most 6 hours), else back off.
        asked = f" (Retry-After {retry_after:.0f}s)" if retry_after is not None else ""
        await worker.retry_or_fail(claim, f"webhook {name}: HTTP {status}{asked}", result, retry_after)
        if retry_after:  # the rest of this receiver's queue waits as long, here and on every other worker
            now = utcnow()
            until = now + timedelta(seconds=retry_after)
            held = await worker.db.run_write(lambda s: queue.hold_receiver(s, str(name), until, now=now))
            if held:
                logger.info("Webhook %s asked to wait %.0fs: %d more queued for it wait too", name, retry_after, held)
