"""Validate one parsed TOML document section by section into a Config, collecting every problem with its path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from socialcrm.config_env import apply_environment
from socialcrm.config_sections import (
    DEFAULT_SLA,
    AlertsConfig,
    ClassifierConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    InsightsConfig,
    LinkingConfig,
    RetentionConfig,
    SlaTarget,
    SmtpConfig,
    TicketsConfig,
    WebConfig,
    WebhookConfig,
    WorkersConfig,
    url_password,
)
from socialcrm.config_sources import SourceSection
from socialcrm.durations import parse_duration
from socialcrm.errors import ConfigError
from socialcrm.models.vocabulary import PRIORITIES, Priority
from socialcrm.registry import classifier_kinds
from socialcrm.rules.loader import compile_rules
from socialcrm.webhooks import is_standard_secret

_SECRET_KEY = re.compile(r"(password|secret|token|api_key|apikey|private_key)", re.IGNORECASE)
_Model = TypeVar("_Model", bound=BaseModel)


class ConfigBuilder(SourceSection):
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
        "tickets",
        "insights",
        "workers",
        "smtp",
        "alerts",
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
        if classifier.kind == "default" and classifier.licence is None:
            self.warnings.append(
                "classifier.licence: not set, so the first release's sentiment model runs (the research set, "
                'licensed for non-commercial use only); set licence = "research" to keep it or licence = '
                '"commercial" for the set trained only on data that allows commercial use (see the README)'
            )
        daemon = self._section("daemon", DaemonConfig) or DaemonConfig()
        linking = self._section("linking", LinkingConfig) or LinkingConfig()
        retention = self._section("retention", RetentionConfig) or RetentionConfig()
        tickets = self._section("tickets", TicketsConfig) or TicketsConfig()
        insights = self._section("insights", InsightsConfig) or InsightsConfig()
        workers = self._section("workers", WorkersConfig) or WorkersConfig()
        smtp = self._section("smtp", SmtpConfig)
        alerts = self._section("alerts", AlertsConfig) or AlertsConfig()
        sla = self._sla()
        webhooks = self._webhooks()
        sources = self._sources()
        templates = self._templates()
        rules = self._rules(templates, webhooks)
        self._check_alerts(alerts, smtp, webhooks)
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
            tickets=tickets,
            insights=insights,
            workers=workers,
            smtp=smtp,
            alerts=alerts,
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

    def _check_alerts(self, alerts: AlertsConfig, smtp: SmtpConfig | None, webhooks: list[WebhookConfig]) -> None:
        """Alert e-mails need [smtp]; alert webhooks must be configured and take alert events; durations must parse."""
        if alerts.email_to and smtp is None:
            self.problems.append("alerts.email_to: e-mail needs an [smtp] section (host, from_address)")
        by_name = {w.name: w for w in webhooks}
        for name in alerts.webhooks:
            hook = by_name.get(name)
            if hook is None:
                known = ", ".join(sorted(by_name)) or "none"
                self.problems.append(f"alerts.webhooks: no [[webhooks]] entry named {name!r} (configured: {known})")
            elif "alert" not in hook.events:
                self.problems.append(
                    f'alerts.webhooks: webhook {name!r} is not sent alert events; add "alert" to its events'
                )
        for key in ("check_every", "window", "baseline"):
            try:
                parse_duration(getattr(alerts, key))
            except ValueError as err:
                self.problems.append(f"alerts.{key}: {err}")

    def _webhooks(self) -> list[WebhookConfig]:
        hooks: list[WebhookConfig] = []
        for index, raw in enumerate(self._array("webhooks")):
            hook = self._validate(WebhookConfig, raw, f"webhooks[{index}]")
            if hook is not None:
                hooks.append(hook)
                self._check_webhook_secret(hook, f"webhooks[{index}]")
        return hooks

    def _check_webhook_secret(self, hook: WebhookConfig, where: str) -> None:
        """Warn about a webhook whose receivers cannot verify it, or only with the secret's bytes."""
        if not hook.secret_env:
            self.warnings.append(
                f"{where}: no secret_env, so {hook.name!r} is sent unsigned and its receivers cannot tell it from "
                "a forgery; `socialcrm webhooks new-secret` makes a secret"
            )
            return
        secret = self.environ.get(hook.secret_env, "")
        if secret and not is_standard_secret(secret):
            self.warnings.append(
                f"{where}.secret_env: {hook.secret_env} is not a Standard Webhooks secret (whsec_ and base64): "
                "receivers using the standardwebhooks libraries must be given its UTF-8 bytes; "
                "`socialcrm webhooks new-secret` makes one"
            )

    def _array(self, name: str) -> list[Mapping[str, Any]]:
        raw = self.data.get(name, [])
        if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
            self.problems.append(f"{name}: must be an array of tables ([[{name}]])")
            return []
        return raw

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

    def _rules(
        self, templates: Mapping[str, Mapping[str, str]], webhooks: list[WebhookConfig]
    ) -> list[Mapping[str, Any]]:
        rules = self._array("rules")
        try:
            compile_rules(rules, templates, webhooks={w.name for w in webhooks})
        except ConfigError as err:
            self.problems.extend(err.problems)
        self._check_notify_targets(rules, webhooks)
        return rules

    def _check_notify_targets(self, rules: list[Mapping[str, Any]], webhooks: list[WebhookConfig]) -> None:
        """A notify action may only name a webhook that takes notify events."""
        refusing = {w.name: w for w in webhooks if "notify" not in w.events}
        for index, rule in enumerate(rules):
            actions = rule.get("then")
            for position, action in enumerate(actions if isinstance(actions, list) else []):
                name = action.get("webhook") if isinstance(action, Mapping) else None
                if action.get("action") == "notify" and isinstance(name, str) and name in refusing:
                    events = ", ".join(refusing[name].events)
                    self.problems.append(
                        f"rules[{index}].then[{position}].webhook: webhook {name!r} is not sent notify events "
                        f'(its events: {events}); add "notify" to its events or name another webhook'
                    )


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
