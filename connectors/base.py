"""The connector contract: what every platform module returns, raises and promises.

A connector turns one platform into ``RawPost`` batches and, where the platform allows it,
posts a reply. It knows nothing about databases, customers or rules, and it never imports
``socialcrm``. Its state between polls is an opaque ``cursor`` string that the core stores
in the same transaction as the posts it came with.

Exceptions (translate library errors at the boundary with ``raise ... from err``)::

    ConnectorError                 .source, str() says what and where
    ├── TransientFetchError        network, 5xx, timeout; .retry_after (seconds) or None
    │   └── RateLimited            429 or an exhausted rate-limit budget
    ├── AuthError                  401/403 or revoked credentials: pause, do not retry
    ├── MalformedResponseError     the body cannot be used (bad JSON, too deep, not a feed)
    ├── ParseError                 one item is unusable; the batch goes on without it
    ├── ReplyError                 a reply could not be posted; .permanent says whether to retry
    └── ReplyLookupIncompleteError find_reply could not look back far enough to decide
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import aiohttp
from pydantic import BaseModel, ConfigDict

PostKind = Literal["post", "comment", "mention", "reply"]


@dataclass(frozen=True, slots=True)
class RawPost:
    """One post as a connector saw it: no database ids, no sentiment, no customer.

    ``prepared`` is what an ``EntryHook`` of the core computed from the post where the connector parsed
    it (a feed parser process), opaque to the connector; None where nothing was.
    """

    source: str
    external_id: str
    url: str
    author_handle: str | None
    title: str | None
    body: str
    published_at: datetime
    raw: Mapping[str, Any] = field(default_factory=dict)
    author_name: str | None = None
    author_url: str | None = None
    thread_id: str | None = None
    parent_id: str | None = None
    kind: PostKind = "post"
    language_hint: str | None = None
    author_metrics: Mapping[str, float] = field(default_factory=dict)
    prepared: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError(f"{self.source}/{self.external_id}: published_at must be tz-aware UTC")


@dataclass(frozen=True, slots=True)
class Batch:
    """A page of posts and the cursor that resumes right after it.

    ``has_more`` asks the poller to fetch again at once with the new cursor (pagination);
    ``not_modified`` reports an HTTP 304 or an unchanged listing; ``skipped`` counts items the
    connector dropped as unusable (each logged with a ParseError message in ``problems``).
    """

    posts: Sequence[RawPost]
    cursor: str | None
    has_more: bool = False
    not_modified: bool = False
    skipped: int = 0
    problems: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ReplyPolicy:
    """What a platform allows a bot to do when answering."""

    can_reply: bool
    max_length: int | None = None
    bot_label: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The post a reply answers, rebuilt by the core from a stored mention."""

    external_id: str
    url: str
    thread_id: str | None
    parent_id: str | None
    author_handle: str | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ReplyLength:
    """A reply's length as its platform counts it, and the platform's limit (None: no limit)."""

    counted: int
    limit: int | None

    @property
    def remaining(self) -> int | None:
        """Characters left (negative when the reply is too long); None without a limit."""
        return None if self.limit is None else self.limit - self.counted


@dataclass(frozen=True, slots=True)
class ReplyResult:
    """Where the platform put the reply."""

    external_id: str
    url: str | None = None


class ConnectorError(Exception):
    """Base of every error a connector raises."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message


class TransientFetchError(ConnectorError):
    """A failure that may go away by itself: try again later."""

    def __init__(self, source: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(source, message)
        self.retry_after = retry_after


class RateLimited(TransientFetchError):
    """The platform asked us to slow down (HTTP 429 or an empty rate-limit budget)."""


class AuthError(ConnectorError):
    """Credentials are missing, wrong or revoked: the source pauses until someone fixes it."""


class MalformedResponseError(ConnectorError):
    """The response body cannot be used at all (invalid or hostile JSON/XML, wrong content)."""


class ParseError(ConnectorError):
    """One item of a response is unusable; the rest of the batch goes on."""


class ReplyError(ConnectorError):
    """A reply could not be posted. ``permanent`` errors are not retried."""

    def __init__(self, source: str, message: str, permanent: bool = False) -> None:
        super().__init__(source, message)
        self.permanent = permanent


class ReplyLookupIncompleteError(ConnectorError):
    """``find_reply`` read as far back as it may and still did not reach the first attempt's time.

    It cannot tell whether the reply is out, so the caller must not post blindly: more posts only
    pile up, so a later look would not decide either; a person has to look.
    """


class ConnectorOptions(BaseModel):
    """Base for every connector's options: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret:
    """A secret read from the environment; its repr and str never show the value."""

    __slots__ = ("_value", "env_name")

    def __init__(self, env_name: str, value: str) -> None:
        self.env_name = env_name
        self._value = value

    def reveal(self) -> str:
        """The secret itself; pass it on, never log it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.env_name!r}, '**********')"

    __str__ = __repr__


def secret_from_env(source: str, env_name: str | None, *, required: bool = True) -> Secret | None:
    """Read the secret named by an ``*_env`` option, or raise AuthError if it is missing."""
    if not env_name:
        if required:
            raise AuthError(source, "no environment variable configured for a required secret")
        return None
    value = os.environ.get(env_name)
    if value is None or value == "":
        if required:
            raise AuthError(source, f"environment variable {env_name} is not set")
        return None
    return Secret(env_name, value)


class ConnectorClassAttributes(Protocol):
    """What a connector class declares as class attributes (read-only here, so a subclass may narrow them)."""

    @property
    def kind(self) -> str:
        """The entry-point name and the ``type`` of a ``[[sources]]`` entry, e.g. ``"feed"``."""
        ...

    @property
    def Options(self) -> type[ConnectorOptions]:
        """The pydantic model that validates the source's options from the configuration."""
        ...

    @property
    def min_interval(self) -> timedelta:
        """The shortest polling interval the platform tolerates."""
        ...

    @property
    def reply_policy(self) -> ReplyPolicy:
        """Whether and how the platform lets a bot answer."""
        ...


@runtime_checkable
class Connector(ConnectorClassAttributes, Protocol):
    """One configured source on one platform."""

    name: str

    async def fetch(self, cursor: str | None) -> Batch:
        """Return the posts after ``cursor``; raise ConnectorError subclasses only."""
        ...

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Post ``text`` as an answer to ``target``; raise ReplyError when it cannot."""
        ...

    async def aclose(self) -> None:
        """Release what the connector holds (threads, sessions)."""
        ...


@runtime_checkable
class SharedResources(Protocol):
    """A connector class whose instances share something process-wide (a parser pool).

    ``aclose`` releases what one instance holds; ``close_shared`` is called once per class, after
    the last instance has been closed, when the daemon or a one-shot command stops.
    """

    @classmethod
    def close_shared(cls) -> None:
        """Release what every instance of the class shares."""
        ...


@runtime_checkable
class SharedStart(Protocol):
    """A connector class whose shared resources (a parser pool) can start before the first fetch needs them.

    Long-running processes (the daemon, queue workers) call ``start_shared`` once at start, beside
    loading the model; one-shot commands leave it to the first fetch.
    """

    @classmethod
    async def start_shared(cls) -> None:
        """Start what every instance of the class shares."""
        ...


@dataclass(frozen=True, slots=True)
class EntryHook:
    """A function of the core's run on each post's text where a connector parses it, in its own processes.

    ``function`` is ``"module:name"``, imported there and called as ``function(argument, entries)`` with
    one ``(title, body, language hint)`` per parsed entry (as the post gets them); it returns one
    picklable value per entry, which becomes that post's ``RawPost.prepared``. A hook that fails leaves
    every ``prepared`` None: the core then computes what it needs itself.
    """

    function: str
    argument: Any


@runtime_checkable
class PreparesEntries(Protocol):
    """A connector that parses in processes of its own and can run an ``EntryHook`` there.

    The hook is the connector's own (set by whoever built it), so two runtimes in one process, each
    with its own classifier, never run each other's.
    """

    def prepare_entries_with(self, hook: EntryHook | None) -> None:
        """Run ``hook`` on the entries this connector parses from now on (None: no hook)."""
        ...


@runtime_checkable
class ReplyLookup(Protocol):
    """A connector that can find a reply it may already have posted (offered where the platform allows).

    The outbox asks before posting again after a send whose outcome is unknown (a timeout, a crash),
    passing ``since``, the time of the first attempt: the look-up pages back through the account's
    posts until it passes that time (bounded), so posts made in between do not hide the reply. When
    it cannot reach that far it raises ReplyLookupIncompleteError rather than answer None. Without
    ``since`` it looks at the latest page only (the first release's contract).
    """

    async def find_reply(
        self, target: ReplyTarget, text: str, idempotency_key: str, *, since: datetime | None = None
    ) -> ReplyResult | None:
        """The reply to ``target`` made under ``idempotency_key`` (or with this text), if it exists."""
        ...


@runtime_checkable
class ReplyMeasure(Protocol):
    """A connector class that counts a reply as its platform does (links, an added mention, graphemes).

    Called on the class with the source's options, before anything is posted, so a person sees the
    platform's limit count down and an over-long reply is refused at once instead of failing later.
    """

    @classmethod
    def measure_reply(cls, options: Any, target: ReplyTarget, text: str) -> ReplyLength:
        """The length of what ``reply`` would post for ``text`` (added mention included) and the limit."""
        ...


def measure_reply(connector: object, options: Any, target: ReplyTarget, text: str) -> ReplyLength:
    """Count ``text`` as the connector class's platform does; without its own rule, code points against the policy."""
    if isinstance(connector, ReplyMeasure):
        return connector.measure_reply(options, target, text)
    policy = getattr(connector, "reply_policy", None)
    return ReplyLength(len(text), policy.max_length if isinstance(policy, ReplyPolicy) else None)


class ConnectorFactory(ConnectorClassAttributes, Protocol):
    """What an entry point in ``socialcrm.connectors`` must load: a connector class.

    ``options`` is an instance of the class's own ``Options`` (typed ``Any`` here because each class
    narrows it to its own model).
    """

    def __call__(self, name: str, options: Any, http: aiohttp.ClientSession) -> Connector:
        """Build the connector for the source ``name``."""
        ...


class ReadOnlyMixin:
    """For platforms without a write API: replies end as "copy, open the post, mark as posted"."""

    reply_policy: ClassVar[ReplyPolicy] = ReplyPolicy(
        can_reply=False, note="read-only platform: copy the reply, open the post, mark as posted"
    )
    name: str

    async def reply(self, target: ReplyTarget, text: str, idempotency_key: str) -> ReplyResult:
        """Refuse: this platform has no reply API (a permanent ReplyError)."""
        raise ReplyError(self.name, "this platform has no reply API; post it by hand", permanent=True)


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as tz-aware UTC (naive values are taken to be UTC already)."""
    from datetime import UTC

    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


__all__ = [
    "AuthError",
    "Batch",
    "Connector",
    "ConnectorError",
    "ConnectorClassAttributes",
    "ConnectorFactory",
    "ConnectorOptions",
    "MalformedResponseError",
    "ParseError",
    "PostKind",
    "RateLimited",
    "RawPost",
    "ReadOnlyMixin",
    "ReplyError",
    "ReplyLength",
    "ReplyLookup",
    "ReplyLookupIncompleteError",
    "ReplyMeasure",
    "ReplyPolicy",
    "ReplyResult",
    "ReplyTarget",
    "Secret",
    "SharedResources",
    "SharedStart",
    "TransientFetchError",
    "measure_reply",
    "secret_from_env",
    "utc",
]
