"""The application's exception tree; connector and classifier errors live in their own packages.

::

    SocialCRMError
    ├── ConfigError        startup only; .problems lists every "toml.path: why" found at once
    ├── DatabaseError      the database cannot be opened or migrated
    ├── NotFoundError      a record named by id or name does not exist
    ├── ConflictError      a state change lost a race or is not allowed from the current state
    ├── PermissionDenied   the acting user's role may not do this
    ├── ImportRowError     one CSV row is invalid (line number and reason)
    └── RuleError          a rule or template cannot be compiled (names rules[N].field)
"""

from __future__ import annotations


class SocialCRMError(Exception):
    """Base of every error the application raises on purpose."""


class ConfigError(SocialCRMError):
    """The configuration is invalid; ``problems`` holds every problem found, each with its path."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class DatabaseError(SocialCRMError):
    """The database cannot be reached, opened or upgraded."""


class NotFoundError(SocialCRMError):
    """A record named by the caller does not exist."""


class ConflictError(SocialCRMError):
    """A state change is not allowed from the current state, or another user got there first."""


class PermissionDenied(SocialCRMError):
    """The acting user's role may not do this."""


class ImportRowError(SocialCRMError):
    """One imported row is invalid."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class RuleError(SocialCRMError):
    """A rule or template cannot be compiled; the message names ``rules[N].field``."""
