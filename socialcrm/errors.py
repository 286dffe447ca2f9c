"""The application's exception tree; connector and classifier errors live in their own packages.

::

    SocialCRMError
    ├── ConfigError          startup only; .problems lists every "toml.path: why" found at once
    ├── DatabaseError        the database cannot be opened or migrated
    ├── NotFoundError        a record named by id or name does not exist
    ├── ConflictError        a state change lost a race or is not allowed from the current state
    │   └── SecondPersonError  four eyes: the person who wrote a reply cannot approve it alone
    └── InvalidInputError    a value a person gave is not acceptable; the message names it and says why
        ├── ImportFileError  a CSV file cannot be imported as a whole (encoding, header, mapping)
        └── ImportRowError   one CSV row is invalid (line number and reason)

Services raise only these (and let connector and classifier errors pass). The web layer answers
NotFoundError with 404, ConflictError with 409 and InvalidInputError with 400; the command line prints
the message and exits with 2 for ConfigError and InvalidInputError, 1 for the others.
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


class SecondPersonError(ConflictError):
    """Four eyes are on (``[web.four_eyes]``) and the approver wrote the reply: someone else must approve it."""


class InvalidInputError(SocialCRMError):
    """A value given by a person (form field, API body, command argument) is not acceptable."""


class ImportFileError(InvalidInputError):
    """The file as a whole cannot be imported (encoding, header, mapping); nothing was stored."""


class ImportRowError(InvalidInputError):
    """One imported row is invalid."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason
