"""Logging setup: text or JSON lines on stderr, the source a record concerns, and every configured secret masked.

``[daemon] log_format = "json"`` writes one JSON object per line: ``time`` (UTC, ISO 8601),
``level``, ``logger``, ``source`` (the configured source the record is about, else null),
``message``, and ``exception`` or ``http`` (access log) when there is one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from socialcrm.secret_mask import SecretMask, mask_secrets, remember_secrets

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
current_source: ContextVar[str | None] = ContextVar("socialcrm_log_source", default=None)


@contextmanager
def log_source(name: str) -> Iterator[None]:
    """Tag every record logged inside (also from threads started with asyncio.to_thread) with a source name."""
    token = current_source.set(name)
    try:
        yield
    finally:
        current_source.reset(token)


class SourceFilter(logging.Filter):
    """Puts the current source (``log_source``) on records that do not name one themselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.source`` from the context when unset; never drops a record."""
        if getattr(record, "source", None) is None:
            record.source = current_source.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record and line; runs after the masking filter, so secrets are already masked."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line: time (UTC), level, logger, source, message, exception, http."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "source": getattr(record, "source", None),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        http = getattr(record, "http", None)
        if isinstance(http, Mapping):
            document["http"] = dict(http)
        return json.dumps(document, ensure_ascii=False, default=str)


class SecretMaskingFilter(logging.Filter):
    """Replaces known secret values (those given here and those the process registered) in log records."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Every length counts: a 4-character secret once went into the log unmasked.
        self.secrets = SecretMask(secrets)

    def _mask(self, text: str) -> str:
        return mask_secrets(self.secrets.mask(text))

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask secrets in the formatted message, the traceback text and the http fields; never drops a record."""
        message = record.getMessage()
        masked = self._mask(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if masked != message:
            record.msg = masked
            record.args = None
        http = getattr(record, "http", None)
        if isinstance(http, Mapping):
            record.http = {k: self._mask(v) if isinstance(v, str) else v for k, v in http.items()}
        return True


def secret_values(config_raw: Mapping[str, Any]) -> list[str]:
    """The values of every environment variable an ``*_env`` option names."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if str(key).endswith("_env") and isinstance(value, str) and os.environ.get(value):
                    found.append(os.environ[value])
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config_raw)
    return found


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), log_format: str = "text") -> None:
    """Log to stderr as text lines or JSON objects; register ``secrets`` and mask them on the root handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    secrets = list(secrets)
    remember_secrets(secrets)
    handler.addFilter(SecretMaskingFilter(secrets))
    handler.addFilter(SourceFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("apscheduler", "aiohttp.access", "urllib3", "prawcore", "filelock", "httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
