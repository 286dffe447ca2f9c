"""Load the TOML configuration into frozen models, reporting every problem at once with its path.

The file shape is a contract (see config.example.toml): ``[database]``, ``[web]``,
``[classifier]``, ``[[sources]]``, ``[[rules]]``, ``[templates.NAME]`` and the optional
``[daemon]``, ``[sla.PRIORITY]``, ``[linking]``, ``[[webhooks]]``, ``[retention]``, ``[tickets]``,
``[insights]``, ``[workers]``, ``[smtp]``, ``[alerts]`` tables. Secrets never appear in the file: an
option ending in ``_env`` names the environment variable holding it.
Every option can also be set from the environment (``SOCIALCRM_WEB__PORT``), which wins over the
file: see socialcrm/config_env.py.

This module finds and reads the file; the parts have one role each: config_sections.py holds the
shapes (a frozen model per section, the whole Config), config_builder.py validates a parsed document
into them and config_sources.py checks the ``[[sources]]`` entries. Every public name stays
importable from here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from socialcrm.config_builder import ConfigBuilder, format_validation_error
from socialcrm.config_sections import (
    DEFAULT_SLA,
    SOURCE_KEYS,
    AlertsConfig,
    ClassifierConfig,
    Config,
    DaemonConfig,
    DatabaseConfig,
    FourEyesConfig,
    InsightsConfig,
    LinkingConfig,
    RetentionConfig,
    SlaTarget,
    SmtpConfig,
    SourceConfig,
    TicketsConfig,
    WebConfig,
    WebhookConfig,
    WorkersConfig,
    resolve_database_url,
    url_password,
)
from socialcrm.errors import ConfigError

CONFIG_ENV = "SOCIALCRM_CONFIG"
DEFAULT_CONFIG_NAME = "socialcrm.toml"

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_SLA",
    "SOURCE_KEYS",
    "ClassifierConfig",
    "Config",
    "ConfigBuilder",
    "DaemonConfig",
    "DatabaseConfig",
    "FourEyesConfig",
    "LinkingConfig",
    "RetentionConfig",
    "SlaTarget",
    "SourceConfig",
    "TicketsConfig",
    "InsightsConfig",
    "SmtpConfig",
    "AlertsConfig",
    "WebConfig",
    "WebhookConfig",
    "WorkersConfig",
    "find_config_path",
    "format_validation_error",
    "load_config",
    "parse_config",
    "resolve_database_url",
    "url_password",
]


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
