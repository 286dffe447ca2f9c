"""The configuration's shape: one frozen model per section, a ``[[sources]]`` entry and the whole Config.

Only shapes and their own field checks live here; socialcrm/config_builder.py validates a whole file
into them. Import them from socialcrm.config, which re-exports every public name.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors import ConnectorOptions, NetworkGuard
from socialcrm.durations import parse_duration
from socialcrm.errors import ConfigError
from socialcrm.models.vocabulary import WEBHOOK_EVENTS, Priority, UiLanguage
from socialcrm.timezones import zone


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Frozen):
    """Where the data lives. ``sqlite:///relative.db`` is relative to the config file.

    ``url_env`` names an environment variable holding the whole URL, so a password stays out of the file.
    ``ingest_synchronous_commit`` (PostgreSQL): false lets the commit of a stored page (its mentions,
    tickets, drafts and the source's cursor, in one transaction) return before its WAL is on disk,
    as SQLite in WAL mode always does; a crash can take back the last moments of ingest, cursor
    included, and the next poll fetches them again. Whatever is sent out (replies, webhooks, e-mails)
    and whatever people do is committed synchronously either way. True waits for every page's flush
    (and, with synchronous replication, for the standby).
    """

    url: str = "sqlite:///socialcrm.db"
    url_env: str | None = None
    echo: bool = False
    ingest_synchronous_commit: bool = False


class FourEyesConfig(_Frozen):
    """Which replies need a second person's approval before they leave.

    ``own_replies``: a reply a person wrote in the composer (or edited) waits until someone else
    approves it; off, sending it is its author's approval. ``rule_drafts``: a rule's draft waits for a
    person's approval; off, it is approved by the daemon and sent at once (only for rules you trust).
    """

    own_replies: bool = False
    rule_drafts: bool = True


class WebConfig(_Frozen):
    """The web app. It binds loopback unless told otherwise.

    ``four_eyes`` is a table (``[web.four_eyes]``) or, for short, a boolean that sets ``own_replies``.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    default_language: UiLanguage = "en"
    login_attempts_per_15min: int = Field(default=10, ge=1)
    # Proxies (addresses or networks) whose X-Forwarded-For names the client; nobody else's is believed.
    trusted_proxies: tuple[str, ...] = ()
    access_log: bool = False
    # The variable holding the bearer token Prometheus sends to /metrics; without one only loopback may scrape.
    metrics_token_env: str | None = None
    # The zone (an IANA name such as Europe/Berlin) for people who chose none and whose browser sends none;
    # unset: the server's own. Dashboard days, the day filter and e-mails use it; exports and the API stay UTC.
    time_zone: str | None = None
    four_eyes: FourEyesConfig = FourEyesConfig()

    @field_validator("time_zone")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        """An IANA zone name this machine knows (tzdata), else an error saying what is expected."""
        if value is None or not value.strip():
            return None
        if zone(value.strip()) is None:
            raise ValueError(f"{value[:64]!r} is not an IANA time zone name such as Europe/Berlin or UTC")
        return value.strip()

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        """A single text (as from the environment) may list them separated by commas."""
        if isinstance(value, str):
            return tuple(part for part in (p.strip() for p in value.split(",")) if part)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each entry is an IP address or network ("10.0.0.5", "10.0.0.0/8", "::1"), stored normalised."""
        networks = []
        for entry in value:
            try:
                networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        return tuple(networks)

    @field_validator("four_eyes", mode="before")
    @classmethod
    def _four_eyes_shorthand(cls, value: object) -> object:
        """``four_eyes = true`` means ``[web.four_eyes] own_replies = true`` (rule drafts keep their default)."""
        return {"own_replies": value} if isinstance(value, bool) else value


class ClassifierConfig(BaseModel):
    """Which classifier scores posts; other keys are that classifier's own options.

    ``licence`` picks the default kind's packaged adapter set: "commercial" (trained only on data
    whose licence allows commercial use) or "research" (more data, non-commercial use only).
    classifiers/MODEL_CARD.md compares them. ``init`` and the example configs write the key; a
    config without it (one written for the first release) keeps the first release's model, the
    research set, so an upgrade never swaps the model silently, and gets a warning saying so.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = "default"
    batch_size: int = Field(default=32, ge=1, le=1024)
    licence: Literal["commercial", "research"] | None = None

    @property
    def adapter_licence(self) -> Literal["commercial", "research"]:
        """The adapter set the default kind runs: the configured one, else the first release's (research)."""
        return self.licence or "research"

    def options(self) -> dict[str, Any]:
        """The classifier's own options; ``licence`` only for the default kind, whose adapter sets it picks."""
        data = self.model_dump()
        data.pop("kind")
        if self.kind == "default":
            data["licence"] = self.adapter_licence
        else:
            data.pop("licence")
        return data


class DaemonConfig(_Frozen):
    """How the daemon schedules and batches its work."""

    max_pages_per_poll: int = Field(default=10, ge=1, le=1000)
    outbox_interval: str = "30s"
    outbox_lease: str = "2m"
    max_text_chars: int = Field(default=20000, ge=100)
    classify_in_parsers: bool = True  # the word-list classifier on 2+ cores: feed parser processes classify
    shutdown_grace: str = "30s"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("outbox_interval", "shutdown_grace")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("outbox_lease")
    @classmethod
    def _lease(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 2:
            raise ValueError("must be at least 2s: each send may take half of it")
        return value


class WorkersConfig(_Frozen):
    """How work runs as jobs on PostgreSQL (``socialcrm worker``, and ``socialcrm run`` there).

    ``concurrency``: jobs (polls, sends) one process runs at once. ``stalled_after``: a worker whose
    heartbeat is older than this is taken for dead, and its jobs are run again by another one.
    """

    concurrency: int = Field(default=8, ge=1, le=256)
    stalled_after: str = "30s"

    @field_validator("stalled_after")
    @classmethod
    def _stalled(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 3:
            raise ValueError("must be at least 3s: a worker sends its heartbeat every third of it")
        return value

    @property
    def stalled_seconds(self) -> float:
        """``stalled_after`` in seconds."""
        return parse_duration(self.stalled_after).total_seconds()


class SlaTarget(_Frozen):
    """Due times for one ticket priority."""

    first_response: str
    resolution: str

    @field_validator("first_response", "resolution")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    def first_response_delta(self) -> timedelta:
        """The first-response time as a timedelta."""
        return parse_duration(self.first_response)

    def resolution_delta(self) -> timedelta:
        """The resolution time as a timedelta."""
        return parse_duration(self.resolution)


DEFAULT_SLA: dict[Priority, SlaTarget] = {
    "urgent": SlaTarget(first_response="30m", resolution="4h"),
    "high": SlaTarget(first_response="1h", resolution="8h"),
    "normal": SlaTarget(first_response="4h", resolution="2d"),
    "low": SlaTarget(first_response="1d", resolution="5d"),
}


class LinkingConfig(_Frozen):
    """How mentions are tied to customers: order/customer number patterns and fuzzy matching."""

    order_patterns: list[str] = [
        r"(?i)\b(?:bestellung|bestellnummer|auftrag|order)\s*(?:nr\.?|no\.?|number|nummer)?\s*[:#]?\s*([A-Z]{0,3}-?\d{4,})",
    ]
    customer_patterns: list[str] = [
        r"(?i)\b(?:kundennummer|kunden-nr\.?|kd\.?-?nr\.?|customer\s*(?:no\.?|number|id))\s*[:#]?\s*([A-Z]{0,3}-?\d{3,})",
    ]
    fuzzy_min_score: float = Field(default=0.85, gt=0, le=1)

    @field_validator("order_patterns", "customer_patterns")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for pattern in values:
            compiled = re.compile(pattern)
            if compiled.groups < 1:
                raise ValueError(f"pattern {pattern!r} needs one capturing group for the number")
        return values


class WebhookConfig(_Frozen):
    """An outbound webhook: where its events go, signed the Standard Webhooks way (socialcrm/webhooks.py).

    ``events`` names what it is sent (``WEBHOOK_EVENTS``); ``legacy_signature`` also sends the first
    release's ``X-SocialCRM-Signature`` and ``X-SocialCRM-Timestamp`` headers, for receivers not yet
    verifying Standard Webhooks.
    """

    name: str
    url: str
    secret_env: str | None = None
    events: tuple[str, ...] = ("notify",)  # each one of WEBHOOK_EVENTS (checked below)
    legacy_signature: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not a URL")
        return value

    @field_validator("events", mode="before")
    @classmethod
    def _known_events(cls, value: object) -> object:
        """Every event named is one the application sends; the message lists them."""
        names = [value] if isinstance(value, str) else value
        if isinstance(names, list | tuple):
            unknown = [name for name in names if name not in WEBHOOK_EVENTS]
            if unknown:
                known = ", ".join(WEBHOOK_EVENTS)
                raise ValueError(f"unknown event {', '.join(map(repr, unknown))} (known: {known})")
            if not names:
                raise ValueError(f"names no event: a webhook needs at least one (known: {', '.join(WEBHOOK_EVENTS)})")
        return value


class RetentionConfig(_Frozen):
    """How long personal data is kept (GDPR): mentions' raw payloads and texts."""

    raw_payload_days: int = Field(default=90, ge=1)
    mention_days: int | None = Field(default=None, ge=1)


class InsightsConfig(_Frozen):
    """What the dashboard's themes leave out: the brand's own terms (besides what the sources listen for)."""

    brand_terms: tuple[str, ...] = ()


SmtpSecurity = Literal["starttls", "tls", "none"]


class SmtpConfig(_Frozen):
    """The mail server alert and digest e-mails go out through; the password comes from ``password_env``."""

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password_env: str | None = None
    from_address: str = Field(min_length=3)
    timeout: float = Field(default=30.0, gt=0)


class AlertsConfig(_Frozen):
    """Spike alerts: where they go and how the detector decides (see socialcrm/insights/alerts.py)."""

    email_to: tuple[str, ...] = ()
    webhooks: tuple[str, ...] = ()  # names of [[webhooks]]
    language: Literal["de", "en"] = "en"
    check_every: str = "5m"
    window: str = "1h"
    baseline: str = "7d"
    min_mentions: int = Field(default=20, ge=1)
    spike_factor: float = Field(default=2.0, ge=1.0)
    sensitivity: float = Field(default=4.0, gt=0)
    min_negative: int = Field(default=10, ge=1)
    negative_rise: float = Field(default=0.2, gt=0, le=1)

    @property
    def enabled(self) -> bool:
        """Whether any alert has somewhere to go."""
        return bool(self.email_to or self.webhooks)


ClosedThread = Literal["follow_up", "reopen"]


class TicketsConfig(_Frozen):
    """How tickets behave: what a new complaint in the thread of a closed ticket does."""

    closed_thread: ClosedThread = "follow_up"


class SourceConfig(BaseModel):
    """One ``[[sources]]`` entry: the keys every source has, plus its connector's options."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    interval: str = "15m"
    enabled: bool = True
    tags: tuple[str, ...] = ()
    group: str | None = None
    # Whether the source may connect to loopback, private and link-local addresses other than those
    # written in its own options (connectors/_netguard.py): redirects and host names included.
    allow_private_network: bool = False
    # Keep only posts whose title or text match this query (the rules' query language): the others
    # are dropped before classification, so a firehose source classifies and stores only what matters.
    keep_only: str | None = None
    options: ConnectorOptions | None = None  # an instance of the connector's own Options model

    @property
    def interval_delta(self) -> timedelta:
        """The polling interval as a timedelta."""
        return parse_duration(self.interval)

    def network_guard(self) -> NetworkGuard:
        """What this source's HTTP session may connect to: public addresses, and the IP literals in its own URLs."""
        values = self.options.model_dump().values() if self.options is not None else ()
        urls = [v for v in values if isinstance(v, str) and v.startswith(("http://", "https://"))]
        return NetworkGuard.for_urls(urls, allow_private=self.allow_private_network)

    def secret_values(self) -> list[str]:
        """The values of the environment variables this source's ``*_env`` options name (never to be shown)."""
        if self.options is None:
            return []
        names = [v for k, v in self.options.model_dump().items() if k.endswith("_env") and isinstance(v, str)]
        return [os.environ[name] for name in names if os.environ.get(name)]


SOURCE_KEYS = frozenset({"name", "type", "interval", "enabled", "tags", "group", "allow_private_network", "keep_only"})


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path | None
    database: DatabaseConfig
    web: WebConfig
    classifier: ClassifierConfig
    daemon: DaemonConfig
    sources: tuple[SourceConfig, ...]
    rules: tuple[Mapping[str, Any], ...]
    templates: Mapping[str, Mapping[str, str]]
    sla: Mapping[Priority, SlaTarget]
    linking: LinkingConfig
    webhooks: tuple[WebhookConfig, ...]
    retention: RetentionConfig
    tickets: TicketsConfig = field(default_factory=TicketsConfig)
    insights: InsightsConfig = field(default_factory=InsightsConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    smtp: SmtpConfig | None = None
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    warnings: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    origins: Mapping[str, str] = field(
        default_factory=dict, repr=False
    )  # option path -> "env:VAR" (set from the environment)

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file are resolved against (the config file's, else the working one)."""
        return self.path.parent if self.path else Path.cwd()

    def database_url(self) -> str:
        """The SQLAlchemy URL with a relative SQLite path resolved against the config file."""
        return resolve_database_url(self.database.url, self.base_dir)

    def source(self, name: str) -> SourceConfig:
        """The source called ``name``; ConfigError (naming the configured ones) when there is none."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none"
        raise ConfigError(f"no source named {name!r} (configured: {known})")


def resolve_database_url(url: str, base_dir: Path) -> str:
    """Make ``sqlite:///relative.db`` absolute against ``base_dir``; leave other URLs alone."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        rest = url[len(prefix) :]
        if not rest.startswith(":memory:"):
            return prefix + str((base_dir / rest).resolve())
    return url


def url_password(url: str) -> str | None:
    """The password written into a database URL, if any."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL is reported when the database is opened
        return None
