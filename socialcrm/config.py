"""Load the TOML configuration into frozen models, reporting every problem at once with its path.

The file shape is a contract (see config.example.toml): ``[database]``, ``[web]``,
``[classifier]``, ``[[sources]]``, ``[[rules]]``, ``[templates.NAME]`` and the optional
``[daemon]``, ``[sla.PRIORITY]``, ``[linking]``, ``[[webhooks]]``, ``[retention]`` tables. Secrets never
appear in the file: an option ending in ``_env`` names the environment variable holding it.
Every option can also be set from the environment (``SOCIALCRM_WEB__PORT``), which wins over the
file: see socialcrm/config_env.py.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from connectors import ConnectorFactory, ConnectorOptions
from socialcrm.config_env import apply_environment
from socialcrm.durations import parse_duration
from socialcrm.errors import ConfigError
from socialcrm.models.vocabulary import PRIORITIES, Priority, UiLanguage
from socialcrm.registry import classifier_kinds, connector_kinds, load_connector_class
from socialcrm.rules.loader import compile_rules

CONFIG_ENV = "SOCIALCRM_CONFIG"
DEFAULT_CONFIG_NAME = "socialcrm.toml"
_SECRET_KEY = re.compile(r"(password|secret|token|api_key|apikey|private_key)", re.IGNORECASE)
_Model = TypeVar("_Model", bound=BaseModel)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Frozen):
    """Where the data lives. ``sqlite:///relative.db`` is relative to the config file.

    ``url_env`` names an environment variable holding the whole URL, so a password stays out of the file.
    """

    url: str = "sqlite:///socialcrm.db"
    url_env: str | None = None
    echo: bool = False


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
    four_eyes: FourEyesConfig = FourEyesConfig()

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
    whose licence allows commercial use; the default, so a company may run it) or "research"
    (more data, non-commercial use only). classifiers/MODEL_CARD.md compares them.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str = "default"
    batch_size: int = Field(default=32, ge=1, le=1024)
    licence: Literal["commercial", "research"] = "commercial"

    def options(self) -> dict[str, Any]:
        """The classifier's own options; ``licence`` only for the default kind, whose adapter sets it picks."""
        data = self.model_dump()
        data.pop("kind")
        if self.kind != "default":
            data.pop("licence")
        return data


class DaemonConfig(_Frozen):
    """How the daemon schedules and batches its work."""

    max_pages_per_poll: int = Field(default=10, ge=1, le=1000)
    outbox_interval: str = "30s"
    outbox_lease: str = "2m"
    max_text_chars: int = Field(default=20000, ge=100)
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
    """An outbound webhook target for ``notify`` actions, signed with HMAC-SHA256."""

    name: str
    url: str
    secret_env: str | None = None
    events: list[str] = ["notify"]

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("not a URL")
        return value


class RetentionConfig(_Frozen):
    """How long personal data is kept (GDPR): mentions' raw payloads and texts."""

    raw_payload_days: int = Field(default=90, ge=1)
    mention_days: int | None = Field(default=None, ge=1)


class SourceConfig(BaseModel):
    """One ``[[sources]]`` entry: the keys every source has, plus its connector's options."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    interval: str = "15m"
    enabled: bool = True
    tags: tuple[str, ...] = ()
    group: str | None = None
    options: ConnectorOptions | None = None  # an instance of the connector's own Options model

    @property
    def interval_delta(self) -> timedelta:
        """The polling interval as a timedelta."""
        return parse_duration(self.interval)


SOURCE_KEYS = frozenset({"name", "type", "interval", "enabled", "tags", "group"})


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


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """``--config`` wins, then ``$SOCIALCRM_CONFIG``, then ``./socialcrm.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_config(explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Find, read and validate the configuration (environment over file); raise ConfigError listing every problem."""
    path = find_config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no configuration file (use --config PATH, set {CONFIG_ENV}, or run `socialcrm init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read: {err}") from err
    return parse_config(text, path, environ)


def parse_config(text: str, path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Validate TOML text with the environment's options applied; every problem is collected before raising."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path or '<config>'}: TOML syntax error: {err}") from err
    return ConfigBuilder(data, path, environ).build()


class ConfigBuilder:
    """Validates one parsed TOML document section by section, collecting problems."""

    SECTIONS = {
        "database",
        "web",
        "classifier",
        "daemon",
        "sources",
        "rules",
        "templates",
        "sla",
        "linking",
        "webhooks",
        "retention",
        "demo",
    }

    def __init__(self, data: Mapping[str, Any], path: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        overlay = apply_environment(data, self.environ, self.SECTIONS)
        self.data = overlay.data
        self.origins = overlay.origins
        self.path = path
        self.problems: list[str] = overlay.problems
        self.warnings: list[str] = []

    def build(self) -> Config:
        """Validate every section; raise ConfigError listing all problems, else return the Config."""
        for key in self.data:
            if key not in self.SECTIONS:
                self.problems.append(f"{key}: unknown section (allowed: {', '.join(sorted(self.SECTIONS))})")
        self._scan_secrets(self.data, "")
        database = self._database()
        web = self._section("web", WebConfig) or WebConfig()
        classifier = self._section("classifier", ClassifierConfig) or ClassifierConfig()
        self._check_classifier_kind(classifier.kind)
        daemon = self._section("daemon", DaemonConfig) or DaemonConfig()
        linking = self._section("linking", LinkingConfig) or LinkingConfig()
        retention = self._section("retention", RetentionConfig) or RetentionConfig()
        sla = self._sla()
        webhooks = self._webhooks()
        sources = self._sources()
        templates = self._templates()
        rules = self._rules(templates, {w.name for w in webhooks})
        if self.problems:
            raise ConfigError([self._with_origin(problem) for problem in self.problems])
        return Config(
            path=self.path.resolve() if self.path else None,
            database=database,
            web=web,
            classifier=classifier,
            daemon=daemon,
            sources=tuple(sources),
            rules=tuple(rules),
            templates=templates,
            sla=sla,
            linking=linking,
            webhooks=tuple(webhooks),
            retention=retention,
            warnings=tuple(self.warnings),
            raw=self.data,
            origins=dict(self.origins),
        )

    def _with_origin(self, problem: str) -> str:
        """Name the variable behind a problem whose value came from the environment."""
        where = problem.split(": ", 1)[0]
        origin = self.origins.get(where)
        return f"{problem} (set by {origin.removeprefix('env:')})" if origin else problem

    def _database(self) -> DatabaseConfig:
        database: DatabaseConfig = self._section("database", DatabaseConfig) or DatabaseConfig()
        raw = self.data.get("database")
        url_given = isinstance(raw, Mapping) and "url" in raw
        if database.url_env:
            if url_given:
                self.problems.append("database: set either url or url_env, not both")
            url = self.environ.get(database.url_env)
            if not url:
                self.problems.append(
                    f"database.url_env: environment variable {database.url_env} is not set (it should hold the URL)"
                )
                return database
            self.origins["database.url"] = f"env:{database.url_env}"
            return database.model_copy(update={"url": url})
        if url_given and "database.url" not in self.origins and url_password(database.url):
            self.warnings.append(
                "database.url: a password is written into the URL in the file; put the URL into an environment "
                'variable and name it with url_env = "VARIABLE" (or set SOCIALCRM_DATABASE__URL)'
            )
        return database

    def _scan_secrets(self, node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                sub = f"{path}.{key}" if path else str(key)
                if sub in self.origins:
                    continue  # the environment is where secrets belong
                if (
                    isinstance(value, str)
                    and _SECRET_KEY.search(str(key))
                    and not str(key).endswith("_env")
                    and not path.startswith("templates")
                ):
                    self.problems.append(
                        f"{sub}: secrets never go in the file; name an environment variable with {key}_env"
                    )
                elif (
                    str(key).endswith("_env")
                    and isinstance(value, str)
                    and value
                    and value not in self.environ
                    and sub != "database.url_env"  # a missing database URL is a problem, reported by _database
                ):
                    self.warnings.append(f"{sub}: environment variable {value} is not set")
                self._scan_secrets(value, sub)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self._scan_secrets(item, f"{path}[{index}]")

    def _check_classifier_kind(self, kind: str) -> None:
        known = classifier_kinds()
        if kind not in known:
            self.problems.append(f"classifier.kind: unknown kind {kind!r} (known: {', '.join(known)})")

    def _section(self, name: str, model: type[_Model]) -> _Model | None:
        raw = self.data.get(name)
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.problems.append(f"{name}: must be a table")
            return None
        return self._validate(model, raw, name)

    def _validate(
        self, model: type[_Model], raw: Mapping[str, Any], where: str, also_allowed: Sequence[str] = ()
    ) -> _Model | None:
        try:
            return model.model_validate(dict(raw))
        except ValidationError as err:
            self.problems.extend(format_validation_error(err, where, model, also_allowed))
            return None

    def _sla(self) -> dict[Priority, SlaTarget]:
        result = dict(DEFAULT_SLA)
        raw = self.data.get("sla", {})
        if not isinstance(raw, Mapping):
            self.problems.append("sla: must be a table of priorities")
            return result
        for priority, table in raw.items():
            if priority not in PRIORITIES:
                self.problems.append(f"sla.{priority}: unknown priority (allowed: {', '.join(PRIORITIES)})")
                continue
            given = table if isinstance(table, Mapping) else {}
            # A priority's table may set one of the two times; the other keeps its default.
            target = self._validate(SlaTarget, {**result[priority].model_dump(), **given}, f"sla.{priority}")
            if target is not None:
                result[priority] = target
        return result

    def _webhooks(self) -> list[WebhookConfig]:
        hooks: list[WebhookConfig] = []
        for index, raw in enumerate(self._array("webhooks")):
            hook = self._validate(WebhookConfig, raw, f"webhooks[{index}]")
            if hook is not None:
                hooks.append(hook)
        return hooks

    def _array(self, name: str) -> list[Mapping[str, Any]]:
        raw = self.data.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
            self.problems.append(f"{name}: must be an array of tables ([[{name}]])")
            return []
        return raw

    def _sources(self) -> list[SourceConfig]:
        sources: list[SourceConfig] = []
        seen: set[str] = set()
        kinds = connector_kinds()
        for index, raw in enumerate(self._array("sources")):
            source = self._source(raw, f"sources[{index}]", kinds, seen)
            if source is not None:
                sources.append(source)
        return sources

    def _source(self, raw: Mapping[str, Any], where: str, kinds: list[str], seen: set[str]) -> SourceConfig | None:
        """One ``[[sources]]`` entry, or None after recording its problems."""
        before = len(self.problems)
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            self.problems.append(f"{where}.name: required; letters, digits, '-', '_', '.' (max 64)")
        elif name in seen:
            self.problems.append(f"{where}.name: duplicate source name {name!r}")
        else:
            seen.add(name)
        kind = raw.get("type")
        # A bad type must not hide the source's other problems: they are checked against the
        # type it most likely meant or, when that cannot be told, only the keys every source has.
        option_values = {k: v for k, v in raw.items() if k not in SOURCE_KEYS}
        checked_kind = self._source_kind(where, kind, kinds, option_values)
        connector_cls = self._connector_class(checked_kind, where)
        interval = raw.get("interval", "15m")
        self._check_interval(interval, checked_kind, connector_cls, where)
        tags = raw.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            self.problems.append(f"{where}.tags: must be a list of strings")
            tags = []
        group = raw.get("group")
        if group is not None and not isinstance(group, str):
            self.problems.append(f"{where}.group: must be a string")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problems.append(f"{where}.enabled: must be true or false")
        options = None
        if connector_cls is not None:
            options = self._validate(connector_cls.Options, option_values, where, sorted(SOURCE_KEYS))
        if len(self.problems) > before or not isinstance(name, str) or not isinstance(kind, str):
            return None
        return SourceConfig(
            name=name,
            type=kind,
            interval=str(interval),
            enabled=bool(enabled),
            tags=tuple(tags),
            group=group,
            options=options,
        )

    def _connector_class(self, kind: str | None, where: str) -> ConnectorFactory | None:
        """The connector class registered for ``kind``, or None (after recording why, if it cannot load)."""
        if kind is None:
            return None
        try:
            return load_connector_class(kind)
        except Exception as err:  # a broken third-party plugin must not hide the other problems
            self.problems.append(f"{where}.type: connector {kind!r} cannot be loaded: {err}")
            return None

    def _check_interval(
        self, interval: Any, kind: str | None, connector_cls: ConnectorFactory | None, where: str
    ) -> None:
        try:
            delta = parse_duration(interval)
        except (ValueError, TypeError) as err:
            self.problems.append(f"{where}.interval: {err}")
            return
        floor = getattr(connector_cls, "min_interval", timedelta(0))
        if delta < floor:
            self.problems.append(
                f"{where}.interval: {interval} is below the {kind} minimum of {int(floor.total_seconds())}s"
            )

    def _source_kind(self, where: str, kind: object, kinds: list[str], option_values: Mapping[str, Any]) -> str | None:
        """The type to check a source's options against; a missing or unknown type is a problem.

        For an unknown type that is the known type nearest in spelling or, failing that, the only known
        type whose options include all of the source's keys; None when neither exists.
        """
        if isinstance(kind, str) and kind in kinds:
            return kind
        if isinstance(kind, str):
            message = f"{where}.type: unknown type {kind!r} (known: {', '.join(kinds)})"
            nearest = difflib.get_close_matches(kind, kinds, n=1, cutoff=0.6)
        else:
            message = f"{where}.type: required (one of: {', '.join(kinds)})"
            nearest = []
        guess = nearest[0] if nearest else self._only_kind_with_keys(kinds, option_values)
        if guess is not None:
            message += f"; did you mean {guess!r}? The other keys were checked as a {guess} source"
        self.problems.append(message)
        return guess

    @staticmethod
    def _only_kind_with_keys(kinds: list[str], option_values: Mapping[str, Any]) -> str | None:
        if not option_values:
            return None
        fitting = []
        for candidate in kinds:
            try:
                fields = load_connector_class(candidate).Options.model_fields
            except Exception:  # a broken plugin is reported where it is used
                continue
            if set(option_values) <= set(fields):
                fitting.append(candidate)
        return fitting[0] if len(fitting) == 1 else None

    def _templates(self) -> dict[str, dict[str, str]]:
        raw = self.data.get("templates", {})
        templates: dict[str, dict[str, str]] = {}
        if not isinstance(raw, Mapping):
            self.problems.append("templates: must be a table of [templates.NAME] tables")
            return templates
        for name, table in raw.items():
            if not isinstance(table, Mapping) or not table:
                self.problems.append(f'templates.{name}: must map languages to text (de = "...", en = "...")')
                continue
            for lang, text in table.items():
                if not isinstance(text, str):
                    self.problems.append(f"templates.{name}.{lang}: must be a string")
            templates[name] = {str(k): v for k, v in table.items() if isinstance(v, str)}
        return templates

    def _rules(self, templates: Mapping[str, Mapping[str, str]], webhooks: set[str]) -> list[Mapping[str, Any]]:
        rules = self._array("rules")
        try:
            compile_rules(rules, templates, webhooks=webhooks)
        except ConfigError as err:
            self.problems.extend(err.problems)
        return rules


def format_validation_error(
    err: ValidationError, where: str, model: type[BaseModel] | None = None, also_allowed: Sequence[str] = ()
) -> list[str]:
    """Turn pydantic's errors into ``where.field: message`` lines, listing allowed keys for typos."""
    lines = []
    for item in err.errors():
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden" and model is not None:
            owner = _nested_model(model, item["loc"][:-1])
            extra = also_allowed if owner is model else ()
            allowed = sorted({*owner.model_fields, *extra})
            message = f"unknown key (allowed: {', '.join(allowed)})"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        lines.append(f"{where}{loc}: {message}")
    return lines


def _nested_model(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel]:
    """The model that owns the key at ``loc`` (``[web.four_eyes]`` inside WebConfig); ``model`` if unsure."""
    current = model
    for part in loc:
        field_info = current.model_fields.get(str(part))
        annotation = field_info.annotation if field_info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return model
        current = annotation
    return current


def url_password(url: str) -> str | None:
    """The password written into a database URL, if any."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL is reported when the database is opened
        return None
