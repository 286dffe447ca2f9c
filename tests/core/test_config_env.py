"""Options from the environment: SOCIALCRM_SECTION__KEY wins over the file, url_env, and check-config --show-origin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from socialcrm.cli.core_cmds import config_secrets
from socialcrm.config import parse_config
from socialcrm.config_env import effective_values
from socialcrm.errors import ConfigError

BASE = """
[web]
port = 8080
[daemon]
log_level = "INFO"
[[sources]]
name = "acme-blog"
type = "feed"
url = "https://example.com/feed.xml"
enabled = false
[[rules]]
name = "complaint-ticket"
[rules.when]
sentiment = ["negative"]
[[rules.then]]
action = "open_ticket"
team = "service"
"""


def problems_of(text: str, environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, environ=environ)
    return err.value.problems


def test_environment_wins_over_the_file_which_wins_over_the_default() -> None:
    config = parse_config(
        BASE,
        environ={
            "SOCIALCRM_WEB__PORT": "9001",
            "SOCIALCRM_WEB__HOST": "0.0.0.0",
            "SOCIALCRM_DAEMON__LOG_FORMAT": "json",
            "SOCIALCRM_CONFIG": "/not/an/option.toml",
            "SOCIALCRM_TEST_DATABASE_URL": "postgresql://not-an-option",
        },
    )
    assert config.web.port == 9001 and config.web.host == "0.0.0.0"
    assert config.daemon.log_format == "json" and config.daemon.log_level == "INFO"
    assert config.web.session_hours == 12.0
    origins = {path: origin for path, _, origin in effective_values(config)}
    assert origins["web.port"] == "env:SOCIALCRM_WEB__PORT"
    assert origins["daemon.log_level"] == "file"
    assert origins["web.session_hours"] == "default"
    assert origins["sources[0].url"] == "file"


def test_a_source_is_addressed_by_its_name_and_values_take_the_files_type() -> None:
    config = parse_config(
        BASE,
        environ={
            "SOCIALCRM_SOURCES__ACME_BLOG__ENABLED": "true",
            "SOCIALCRM_SOURCES__ACME_BLOG__INTERVAL": "1h",
            "SOCIALCRM_SOURCES__ACME_BLOG__TAGS": '["blog", "brand"]',
            "SOCIALCRM_SOURCES__ACME_BLOG__MAX_ENTRIES": "50",
            "SOCIALCRM_SLA__URGENT__FIRST_RESPONSE": "15m",
            "SOCIALCRM_RULES__COMPLAINT_TICKET__ENABLED": "false",
        },
    )
    source = config.source("acme-blog")
    assert source.enabled is True and source.interval == "1h" and source.tags == ("blog", "brand")
    assert source.options.max_entries == 50
    assert config.sla["urgent"].first_response == "15m"
    assert config.rules[0]["enabled"] is False


def test_bad_environment_values_are_problems_naming_the_variable() -> None:
    problems = problems_of(
        BASE,
        {
            "SOCIALCRM_WEB__PORT": "70000",
            "SOCIALCRM_WEB__PROT": "1",
            "SOCIALCRM_DATABSE__URL": "sqlite:///x.db",
            "SOCIALCRM_SOURCES__NO_SUCH_SOURCE__URL": "https://x.example/",
            "SOCIALCRM_SOURCES__ACME_BLOG__ENABLED": "maybe",
            "SOCIALCRM_SOURCES__ACME_BLOG__TAGS": "blog",
        },
    )
    text = "\n".join(problems)
    assert "web.port: Input should be less than or equal to 65535 (set by SOCIALCRM_WEB__PORT)" in problems
    assert "web.prot: unknown key" in text and "(set by SOCIALCRM_WEB__PROT)" in text
    assert "SOCIALCRM_DATABSE__URL: unknown section 'databse'" in text
    assert "SOCIALCRM_SOURCES__NO_SUCH_SOURCE__URL: no [[sources]] entry has a name spelled NO_SUCH_SOURCE" in text
    assert "SOCIALCRM_SOURCES__ACME_BLOG__ENABLED: 'maybe' is not true or false" in text
    assert "SOCIALCRM_SOURCES__ACME_BLOG__TAGS: not a TOML array" in text


def test_url_env_reads_the_database_url_from_the_named_variable() -> None:
    text = BASE + '[database]\nurl_env = "CRM_DATABASE_URL"\n'
    url = "postgresql+psycopg://crm:s3cret-pw@db.internal:5432/crm"
    config = parse_config(text, environ={"CRM_DATABASE_URL": url})
    assert config.database_url() == url
    assert not [w for w in config.warnings if w.startswith("database")]
    assert dict((p, o) for p, _, o in effective_values(config))["database.url"] == "env:CRM_DATABASE_URL"
    assert "s3cret-pw" in config_secrets(config)
    assert problems_of(text, {}) == [
        "database.url_env: environment variable CRM_DATABASE_URL is not set (it should hold the URL)"
    ]
    both = text.replace('url_env = "CRM_DATABASE_URL"', 'url = "sqlite:///x.db"\nurl_env = "CRM_DATABASE_URL"')
    assert problems_of(both, {"CRM_DATABASE_URL": url}) == ["database: set either url or url_env, not both"]


def test_a_password_written_into_the_files_url_is_a_warning_but_not_one_from_the_environment() -> None:
    in_file = BASE + '[database]\nurl = "postgresql+psycopg://crm:hunter22@db/crm"\n'
    warnings = parse_config(in_file, environ={}).warnings
    assert any(w.startswith("database.url: a password is written into the URL in the file") for w in warnings)
    from_env = parse_config(BASE, environ={"SOCIALCRM_DATABASE__URL": "postgresql+psycopg://crm:hunter22@db/crm"})
    assert not [w for w in from_env.warnings if w.startswith("database")]
    assert "hunter22" in config_secrets(from_env)


def test_check_config_show_origin_as_a_user_runs_it(tmp_path: Path) -> None:
    (tmp_path / "socialcrm.toml").write_text(BASE + '[database]\nurl = "postgresql+psycopg://crm:hunter22@db/crm"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    env.update({"SOCIALCRM_WEB__PORT": "9001", "SOCIALCRM_SOURCES__ACME_BLOG__INTERVAL": "2h"})
    result = subprocess.run(
        [sys.executable, "-m", "socialcrm", "check-config", "--show-origin"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "env:SOCIALCRM_WEB__PORT web.port = 9001" in lines
    assert 'env:SOCIALCRM_SOURCES__ACME_BLOG__INTERVAL sources[0].interval = "2h"' in lines
    assert "file web.port = 9001" not in lines and 'default web.host = "127.0.0.1"' in lines
    assert 'file database.url = "postgresql+psycopg://crm:***@db/crm"' in lines
    assert "hunter22" not in result.stdout + result.stderr
    assert "warning: database.url: a password is written into the URL in the file" in result.stderr
