"""E-mail delivery of one held outbox row (alerts, digests), sent exactly once over SMTP.

The message goes out in two steps (socialcrm/mailer.py): everything but the final ``.``, then, the
moment the row records "final dot" under the worker's lease (on the same thread), the ``.`` itself.
A crash before the mark leaves nothing at the mail server, so the next try sends; a row found with
the mark may be out already and is not sent again (SMTP has no way to ask). The lease and its fence are the outbox
worker's (socialcrm/outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from sqlmodel import Session

from socialcrm import mailer
from socialcrm.models import utcnow
from socialcrm.services import outbox as queue
from socialcrm.services.outbox import Claim

if TYPE_CHECKING:
    from socialcrm.outbox import OutboxRunResult, OutboxWorker

logger = logging.getLogger("socialcrm.outbox")
FINAL_DOT = "final-dot"  # an e-mail row's mark: the end of the message went to the server


async def deliver_email(worker: OutboxWorker, claim: Claim, result: OutboxRunResult) -> None:
    """Send one e-mail exactly once: staged, marked as past the point of no return, then committed."""
    if claim.was_sending:
        earlier = await worker.db.run_read(lambda s: queue.result_of(s, claim.item_id))
        if earlier.get("smtp") == FINAL_DOT:
            logger.warning(
                "Outbox item %s: an earlier try ended the e-mail without an answer; it may be out, not sent again",
                claim.item_id,
            )
            await worker.finish(claim, "done", result_data={**earlier, "outcome_unknown": True})
            result.sent += 1
            return
    smtp = worker.config.smtp
    if smtp is None:
        await worker.finish(claim, "failed", error="e-mail needs an [smtp] section in the config")
        result.failed += 1
        return
    try:
        message = mailer.message_from_payload(smtp, claim.payload, claim.idempotency_key)
    except mailer.MailError as err:
        await worker.finish(claim, "failed", error=str(err))
        result.failed += 1
        return
    password = os.environ.get(smtp.password_env) if smtp.password_env else None
    await worker.hold(claim)
    try:
        staged = await asyncio.wait_for(
            asyncio.to_thread(mailer.stage, smtp, password, message), timeout=worker.step_timeout
        )
    except (TimeoutError, mailer.MailError) as err:
        # Nothing was ended with ".": the server keeps nothing, so trying again cannot double it.
        await _mail_failed(worker, claim, str(err) or "no answer in time", result, getattr(err, "permanent", False))
        return

    def mark(session: Session) -> bool:
        point = {"smtp": FINAL_DOT, "message_id": str(message["Message-ID"])}
        return queue.mark_point_of_no_return(session, claim, point, now=utcnow(), lease=worker.lease)

    try:
        # The "." leaves on the thread that committed the mark, the moment it commits: a kill can no
        # longer fall between the two while the event loop or the thread pool is busy elsewhere.
        await worker.write_held(claim, mark, then=staged.end)
    except Exception:
        staged.close()  # the mark was not written, so the "." was not sent: the server drops the message
        raise
    try:
        answer = await asyncio.wait_for(asyncio.to_thread(staged.commit), timeout=worker.step_timeout)
    except (TimeoutError, mailer.MailError) as err:
        if isinstance(err, mailer.MailError) and not err.unknown:
            # Refused after the ".": not delivered; the mark goes so a later try sends again.
            await worker.db.run_write(
                lambda s: queue.mark_point_of_no_return(s, claim, {}, now=utcnow(), lease=worker.lease)
            )
            await _mail_failed(worker, claim, str(err), result, err.permanent)
            return
        # No answer: it may be out. Leave the row marked; the next claim settles it without sending.
        why = str(err) or "no answer in time"
        await worker.retry(claim, f"e-mail: {why}; it may be out already", None, keep_sending=True)
        result.retrying += 1
        return
    outcome = {"smtp": "250", "answer": answer[:200], "message_id": str(message["Message-ID"])}
    await worker.db.run_write(lambda s: queue.mark_delivered(s, claim.item_id, now=utcnow(), result=outcome))
    logger.info("E-mail %s sent to %s", message["Message-ID"], message["To"])
    result.sent += 1


async def _mail_failed(
    worker: OutboxWorker, claim: Claim, error: str, result: OutboxRunResult, permanent: bool
) -> None:
    """Fail the row for good on a permanent refusal, else try again later (failing after the last attempt)."""
    if permanent:
        await worker.finish(claim, "failed", error=f"e-mail: {error}")
        result.failed += 1
    else:
        await worker.retry_or_fail(claim, f"e-mail: {error}", result)
