"""Every configured secret masked wherever text is stored or shown: logs, source errors, CLI and web output.

A server may echo a credential in its error body (a Mastodon token, a Discourse API key, a Bluesky
app password), and that body becomes part of an error message. Masking only the log was not
enough: the source's stored last error, ``socialcrm sources``, ``poll`` and the admin page showed
it. So every place that stores or prints such a message masks it with ``mask_secrets``, whatever
the secret's length, also in the forms an echo may carry it in (URL-encoded, JSON-escaped, HTML).
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "**********"


def secret_forms(secret: str) -> set[str]:
    """The secret as written, and as a URL, a form field, a JSON string or an HTML page would echo it."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], html.escape(secret)}
    return {form for form in forms if form}


class SecretMask:
    """A set of secret values and the one operation on them: replace each occurrence with ``MASK``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: tuple[str, ...] = ()
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these values too (empty ones are ignored; any other length counts)."""
        with self._lock:
            forms = set(self._forms)
            raw = set(self._secrets)
            for secret in secrets:
                if secret:
                    forms |= secret_forms(secret)
                    raw.add(secret)
            self._secrets = tuple(raw)
            # Longest first, so a secret that contains another is masked whole.
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def mask(self, text: str) -> str:
        """``text`` with every known secret replaced by ``MASK``."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return self._mask_cut_tail(text)

    def _mask_cut_tail(self, text: str) -> str:
        """Mask the beginning of a secret where an excerpt was cut off in its middle (at least 4 characters)."""
        for secret in self._secrets:
            for length in range(len(secret) - 1, 3, -1):
                if text.endswith(secret[:length]):
                    return text[:-length] + MASK
        return text


_configured = SecretMask()


def remember_secrets(secrets: Iterable[str]) -> None:
    """Register the configured secrets of this process (the CLI does so when it loads the config)."""
    _configured.add(secrets)


def mask_secrets(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered secret, and every value in ``extra``, masked."""
    text = _configured.mask(text)
    extra = [value for value in extra if value]
    return SecretMask(extra).mask(text) if extra else text
