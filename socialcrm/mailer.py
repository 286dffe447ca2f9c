"""Sending one e-mail over SMTP in two steps, so the outbox can record the point of no return in between.

``stage`` connects, greets, secures and logs in, names sender and recipients and sends the message
up to, not including, the final ``.`` line. Until that line the server holds nothing: a connection
that drops (a crash, a kill) leaves no e-mail behind. ``commit`` sends the ``.`` and reads the
server's answer; from then on the e-mail may be out even if the answer never arrives. The outbox
worker writes "final dot" into the row between the two steps (fenced by its lease), so a worker that
finds that mark after a crash knows the e-mail may be out and does not send it again.

Blocking (smtplib): the worker runs both steps in a thread.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate

from socialcrm.config_sections import SmtpConfig

_LEADING_DOT = re.compile(rb"(?m)^\.")


class MailError(Exception):
    """Sending failed; ``permanent`` when trying again cannot help (a 5xx answer).

    ``unknown``: the final ``.`` went out but no answer came back, so the e-mail may be out.
    """

    def __init__(self, message: str, *, permanent: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unknown = unknown


def build_message(
    smtp: SmtpConfig, to: Sequence[str], subject: str, text: str, message_id: str, language: str = "en"
) -> EmailMessage:
    """A plain-text UTF-8 e-mail with a stable Message-ID (the same on every try)."""
    message = EmailMessage()
    message["From"] = smtp.from_address
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message["Content-Language"] = language  # after set_content, which clears the Content-* headers
    return message


def message_from_payload(smtp: SmtpConfig, payload: Mapping[str, object], idempotency_key: str) -> EmailMessage:
    """The e-mail an outbox row describes (``to``, ``subject``, ``text``, ``language``)."""
    raw_to = payload.get("to")
    to = [str(a) for a in raw_to] if isinstance(raw_to, list) else []
    if not to:
        raise MailError("the e-mail names no recipient", permanent=True)
    domain = smtp.from_address.rpartition("@")[2] or "socialcrm.invalid"
    # The outbox key, made a valid dot-atom (RFC 5322), with a digest so distinct keys never collide.
    readable = re.sub(r"[^A-Za-z0-9]+", ".", idempotency_key).strip(".")[:120]
    token = f"{readable}.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]}"
    return build_message(
        smtp,
        to,
        str(payload.get("subject", "")),
        str(payload.get("text", "")),
        f"<{token}@{domain}>",
        str(payload.get("language", "en")),
    )


class StagedMail:
    """An SMTP conversation that has sent everything but the final ``.``."""

    def __init__(self, connection: smtplib.SMTP) -> None:
        self.connection = connection
        self._ended = False
        self._end_error: BaseException | None = None

    def end(self) -> None:
        """Send the final ``.`` without waiting for the answer (``commit`` reads it); never raises."""
        self._ended = True
        try:
            self.connection.send(b".\r\n")
        except (OSError, smtplib.SMTPException) as err:
            self._end_error = err

    def commit(self) -> str:
        """Send the final ``.`` (unless ``end`` did); the server's answer (250) or MailError. It may be out now."""
        try:
            if not self._ended:
                self.connection.send(b".\r\n")
            elif self._end_error is not None:
                raise self._end_error
            code, answer = self.connection.getreply()
        except (OSError, smtplib.SMTPException) as err:
            raise MailError(f"no answer to the end of the message: {err}", unknown=True) from err
        finally:
            self.close()
        if code != 250:
            raise MailError(
                f"server refused the message: {code} {answer.decode(errors='replace')}", permanent=code >= 500
            )
        return answer.decode(errors="replace")

    def close(self) -> None:
        """Drop the connection (before ``commit``: the server keeps nothing)."""
        try:
            self.connection.close()
        except OSError:
            pass


def stage(smtp: SmtpConfig, password: str | None, message: EmailMessage) -> StagedMail:
    """Open the conversation and send the message up to the final ``.`` (see the module docstring)."""
    context = ssl.create_default_context()
    try:
        if smtp.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
        else:
            connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    except (OSError, smtplib.SMTPException) as err:
        raise MailError(f"cannot reach {smtp.host}:{smtp.port}: {err}") from err
    try:
        connection.ehlo()
        if smtp.security == "starttls":
            connection.starttls(context=context)
            connection.ehlo()
        if smtp.username:
            connection.login(smtp.username, password or "")
        sender = smtp.from_address
        recipients = [a.strip() for a in str(message["To"]).split(",") if a.strip()]
        code, answer = connection.mail(sender)
        _expect(code, answer, 250, "MAIL FROM")
        for recipient in recipients:
            code, answer = connection.rcpt(recipient)
            _expect(code, answer, (250, 251), f"RCPT TO {recipient}")
        connection.putcmd("data")
        code, answer = connection.getreply()
        _expect(code, answer, 354, "DATA")
        body = _LEADING_DOT.sub(b"..", message.as_bytes(policy=SMTP_POLICY))
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        connection.send(body)
    except MailError:
        connection.close()
        raise
    except smtplib.SMTPAuthenticationError as err:
        connection.close()
        raise MailError(f"login refused: {err.smtp_code}", permanent=True) from err
    except (OSError, smtplib.SMTPException) as err:
        connection.close()
        raise MailError(f"SMTP conversation failed: {err}") from err
    return StagedMail(connection)


def _expect(code: int, answer: bytes, wanted: int | tuple[int, ...], step: str) -> None:
    allowed = wanted if isinstance(wanted, tuple) else (wanted,)
    if code not in allowed:
        text = answer.decode(errors="replace")
        raise MailError(f"{step}: {code} {text}", permanent=500 <= code < 600)
