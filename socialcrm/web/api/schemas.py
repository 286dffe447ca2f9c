"""The API's request models: query parameters and bodies, validated by pydantic and described in the OpenAPI document.

A handler reads its input only through ``query_of`` or ``body_of`` with one of these models, and
openapi.py writes the document from the same models, so what is documented is what is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema, model_validator

from socialcrm.errors import InvalidInputError
from socialcrm.models import DraftStatus, SentimentLabel, TicketStatus
from socialcrm.web.views.params import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# ASCII digits only, as params.whole_number reads them: pydantic alone would also take "1_000", " 7" or "5.0".
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,20}")
# A day, or a moment with its offset (RFC 3339; seconds optional, "T" or a space between date and time).
_SINCE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"  # the day
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?P<offset>.*))?"  # the time and what follows it
)
_OFFSET = re.compile(r"[Zz]|[+-][0-9]{2}:?[0-9]{2}")


def _whole_number(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    if isinstance(value, str):
        if not _WHOLE_NUMBER.fullmatch(value):
            raise ValueError(f"{value[:40]!r} is not a whole number")
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # JSON's 5.0 is the integer 5
    return value


def storable_text(name: str, value: str) -> str:
    """``value`` with NUL characters replaced by U+FFFD; ValueError naming ``name`` for an unpaired surrogate."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name}: contains an unpaired surrogate, which is no character") from None
    return value.replace("\x00", "\ufffd")


def parse_since(value: object) -> object:
    """``YYYY-MM-DD`` (the start of that day, UTC) or an ISO 8601 time with ``Z`` or an offset, as a UTC datetime."""
    if not isinstance(value, str):
        return value
    match = _SINCE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"{value[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 time such as 2026-03-29T08:00:00Z")
    offset = match.group("offset")
    if offset is not None and not _OFFSET.fullmatch(offset):
        raise ValueError(f"{value[:40]!r} has no time zone: end it with Z (UTC) or an offset such as +01:00")
    try:
        if offset is None:
            return datetime.combine(date.fromisoformat(value.strip()), time.min, tzinfo=UTC)
        return datetime.fromisoformat(value.strip().replace("z", "Z").replace("t", "T")).astimezone(UTC)
    except ValueError as err:
        raise ValueError(f"{value[:40]!r} is not a valid date or time ({err})") from None


RecordId = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_whole_number)]
PageSize = Annotated[int, Field(ge=1, le=MAX_LIMIT), BeforeValidator(_whole_number)]
Since = Annotated[
    datetime,
    BeforeValidator(parse_since),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}],
            "description": "published at or after: a day (YYYY-MM-DD, from its start in UTC) "
            "or an ISO 8601 time with Z or an offset (2026-03-29T10:00:00+02:00)",
        }
    ),
]


class ApiModel(BaseModel):
    """A request's parameters or body: unknown names and explicit nulls are errors, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _storable_values(cls, data: Any) -> Any:
        """No explicit nulls; text a database can store (a NUL character becomes U+FFFD, PostgreSQL refuses it)."""
        if not isinstance(data, Mapping):
            return data
        nulls = [name for name, value in data.items() if value is None and name in cls.model_fields]
        if nulls:
            raise ValueError(f"{', '.join(nulls)}: leave the field out instead of sending null")
        values = dict(data)
        for name, value in values.items():
            if isinstance(value, str):
                values[name] = storable_text(name, value)
        return values


class Page(ApiModel):
    """Paging of every list: at most ``limit`` records below the ``cursor`` (the ``next_cursor`` of the last page)."""

    limit: Annotated[PageSize, Field(description="records per page")] = DEFAULT_LIMIT
    cursor: Annotated[RecordId | None, Field(description="next_cursor of the previous page")] = None


class MentionQuery(Page):
    """Filters of GET /mentions."""

    source: Annotated[str | None, Field(max_length=64, description="source name")] = None
    sentiment: Annotated[SentimentLabel | None, Field(description="sentiment label")] = None
    language: Annotated[str | None, Field(max_length=8, description="ISO 639-1 code")] = None
    since: Since | None = None
    customer_id: Annotated[RecordId | None, Field(description="linked customer id")] = None
    label: Annotated[
        str | None, Field(max_length=64, description="a switched-on custom label the mention has (its name)")
    ] = None


class TicketQuery(Page):
    """Filters of GET /tickets."""

    status: Annotated[TicketStatus | None, Field(description="status")] = None
    assignee: Annotated[str | None, Field(max_length=64, description="username")] = None
    customer_id: Annotated[RecordId | None, Field(description="customer id")] = None


class DraftQuery(Page):
    """Filters of GET /drafts."""

    status: Annotated[DraftStatus | None, Field(description="status")] = None


class CustomerQuery(Page):
    """Search of GET /customers."""

    q: Annotated[str | None, Field(max_length=200, description="name, company, customer number, e-mail or handle")] = (
        None
    )


# A text that must say something: at least one character that is not white space.
_SAYS_SOMETHING = r"\S"


class TicketStatusBody(ApiModel):
    """Body of POST /tickets/{id}/status."""

    status: TicketStatus


class TicketNoteBody(ApiModel):
    """Body of POST /tickets/{id}/notes."""

    text: Annotated[str, Field(min_length=1, max_length=10000, pattern=_SAYS_SOMETHING)]


class DraftApproveBody(ApiModel):
    """Body of POST /drafts/{id}/approve (optional): ``version`` for compare-and-set, ``text`` for a final edit."""

    version: Annotated[RecordId | None, Field(description="approve only if the draft is still at this version")] = None
    text: Annotated[str | None, Field(max_length=20000, pattern=_SAYS_SOMETHING, description="the final text")] = None


class DraftRejectBody(ApiModel):
    """Body of POST /drafts/{id}/reject."""

    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=_SAYS_SOMETHING)]
    version: Annotated[RecordId | None, Field(description="reject only if the draft is still at this version")] = None


M = TypeVar("M", bound=ApiModel)


def _problems(err: ValidationError, where: str) -> str:
    problems = []
    for error in err.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problems.append(f"{name}: not a {where} of this operation")
        elif error["type"] == "string_pattern_mismatch":
            problems.append(f"{name}: must contain more than white space")
        else:
            problems.append(f"{name}: {message}" if name else message)
    return "; ".join(problems)


def validate(model: type[M], values: Mapping[str, Any], where: str) -> M:
    """``values`` as ``model``; InvalidInputError (400) naming every field that is wrong and why."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as err:
        raise InvalidInputError(_problems(err, where)) from None
