"""Configuration: the contract shape loads, and every problem is reported at once with its TOML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialcrm.config import find_config_path, load_config, parse_config, resolve_database_url
from socialcrm.durations import parse_duration
from socialcrm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = """
[database]
url = "sqlite:///socialcrm.db"
[web]
host = "127.0.0.1"
port = 8080
[[sources]]
name = "acme-blog"
type = "feed"
url = "https://example.com/feed.xml"
interval = "15m"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    return err.value.problems


def test_contract_shape_from_the_issue_loads(tmp_path: Path) -> None:
    path = tmp_path / "socialcrm.toml"
    path.write_text(CONTRACT)
    config = load_config(path)
    assert config.web.host == "127.0.0.1" and config.web.port == 8080
    source = config.source("acme-blog")
    assert source.type == "feed" and source.interval_delta.total_seconds() == 900
    assert str(source.options.url).startswith("https://example.com/feed.xml")
    # a relative SQLite path is relative to the config file, not the working directory
    assert config.database_url() == f"sqlite:///{tmp_path / 'socialcrm.db'}"


def test_example_and_starter_configs_are_valid() -> None:
    load_config(ROOT / "config.example.toml")
    load_config(ROOT / "socialcrm" / "starter_config.toml")


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    problems = problems_of(
        """
[database]
url = "sqlite:///x.db"
colour = "blue"
[web]
port = "eighty"
[[sources]]
name = "ok-one"
type = "feed"
url = "https://example.com/a.xml"
[[sources]]
name = "ok-one"
type = "feed"
url = "https://example.com/b.xml"
[[sources]]
name = "broken"
type = "feed"
url = "not a url"
interval = "soon"
[[sources]]
name = "typo"
type = "rss-feed"
"""
    )
    joined = "\n".join(problems)
    assert "database.colour: unknown key" in joined
    assert "web.port" in joined
    assert "sources[1].name: duplicate source name 'ok-one'" in joined
    assert any(p.startswith("sources[2].url") for p in problems)
    assert any(p.startswith("sources[2].interval") for p in problems)
    assert "sources[3].type: unknown type 'rss-feed' (known: " in joined and "feed" in joined


def test_an_unknown_type_does_not_hide_the_sources_other_problems() -> None:
    problems = problems_of(
        """
[[sources]]
name = "misspelt"
type = "fedd"
url = "not a url"
interval = "0m"
[[sources]]
name = "guessed-by-keys"
type = "rss"
url = "ftp://example.com/feed.xml"
[[sources]]
name = "unguessable"
type = "gopher"
interval = "0m"
tags = "news"
"""
    )
    joined = "\n".join(problems)
    assert "sources[0].type: unknown type 'fedd' (known: " in joined and "did you mean 'feed'?" in joined
    assert any(p.startswith("sources[0].url: not a URL") for p in problems)
    assert "sources[0].interval: duration must be positive: '0m'" in problems
    assert "did you mean 'feed'?" in next(p for p in problems if p.startswith("sources[1].type"))
    assert any(p.startswith("sources[1].url: not a URL") for p in problems)
    assert "did you mean" not in next(p for p in problems if p.startswith("sources[2].type"))
    assert "sources[2].interval: duration must be positive: '0m'" in problems
    assert "sources[2].tags: must be a list of strings" in problems
    assert len(problems) == 8, problems


def test_unknown_source_key_lists_allowed_keys() -> None:
    problems = problems_of(
        """
[[sources]]
name = "a"
type = "feed"
url = "https://example.com/a.xml"
intervall = "5m"
"""
    )
    assert len(problems) == 1
    assert problems[0].startswith("sources[0].intervall: unknown key (allowed: ")
    assert "interval" in problems[0] and "url" in problems[0]


def test_source_name_and_group_longer_than_stored_are_errors() -> None:
    """Mentions and source states hold 64 characters of a source's name and group: a longer one is refused."""
    problems = problems_of(
        f"""
[[sources]]
name = "{"n" * 65}"
type = "feed"
url = "https://example.com/a.xml"
[[sources]]
name = "b"
type = "feed"
url = "https://example.com/b.xml"
group = "{"g" * 65}"
"""
    )
    assert any(p.startswith("sources[0].name:") and "max 64" in p for p in problems), problems
    assert "sources[1].group: at most 64 characters (it has 65)" in problems


def test_secret_in_file_is_an_error_naming_the_env_alternative() -> None:
    problems = problems_of(
        """
[[sources]]
name = "a"
type = "feed"
url = "https://example.com/a.xml"
api_key = "hunter2hunter2"
"""
    )
    assert any("sources[0].api_key: secrets never go in the file" in p and "api_key_env" in p for p in problems)
    assert not any("hunter2" in p for p in problems)


def test_unknown_section_and_toml_syntax_errors() -> None:
    assert problems_of("[datenbank]\nurl = 'x'\n")[0].startswith("datenbank: unknown section")
    with pytest.raises(ConfigError) as err:
        parse_config("[database\nurl=")
    assert "TOML syntax error" in str(err.value)


def test_interval_below_connector_floor_is_rejected() -> None:
    problems = problems_of(
        """
[[sources]]
name = "a"
type = "feed"
url = "https://example.com/a.xml"
interval = "1s"
"""
    )
    assert problems[0].startswith("sources[0].interval: 1s is below the feed minimum")


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SOCIALCRM_CONFIG", raising=False)
    assert find_config_path(None) == tmp_path / "socialcrm.toml"
    monkeypatch.setenv("SOCIALCRM_CONFIG", "/etc/socialcrm/env.toml")
    assert find_config_path(None) == Path("/etc/socialcrm/env.toml")
    assert find_config_path("explicit.toml") == Path("explicit.toml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 parsecs", "-5m", "0s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_database_url_resolution(tmp_path: Path) -> None:
    assert resolve_database_url("sqlite:///db/x.db", tmp_path) == f"sqlite:///{tmp_path / 'db/x.db'}"
    assert resolve_database_url("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    pg = "postgresql+psycopg://u@h/db"
    assert resolve_database_url(pg, tmp_path) == pg


def test_unknown_classifier_kind_is_a_problem_naming_the_known_kinds() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[classifier]\nkind = "sentiment-pro"\n[web]\nport = -1\n')
    assert len(caught.value.problems) == 2
    assert "classifier.kind: unknown kind 'sentiment-pro' (known: default, lexicon, transformers)" in (
        caught.value.problems
    )


def test_classifier_licence_unset_keeps_the_first_release_model_with_a_warning_and_only_the_default_kind_gets_it() -> (
    None
):
    unset = parse_config("")
    assert unset.classifier.licence is None and unset.classifier.options()["licence"] == "research"
    assert any(w.startswith("classifier.licence: not set") and "non-commercial" in w for w in unset.warnings)
    chosen = parse_config('[classifier]\nlicence = "commercial"\n')
    assert chosen.classifier.options()["licence"] == "commercial"
    assert not [w for w in chosen.warnings if w.startswith("classifier.licence")]
    assert not [w for w in parse_config('[classifier]\nkind = "lexicon"\n').warnings if "licence" in w]
    research = parse_config('[classifier]\nkind = "default"\nlicence = "research"\n').classifier
    assert research.options()["licence"] == "research"
    lexicon = parse_config('[classifier]\nkind = "lexicon"\nlicence = "research"\n').classifier
    assert "licence" not in lexicon.options()
    with pytest.raises(ConfigError) as caught:
        parse_config('[classifier]\nlicence = "free"\n')
    problems = caught.value.problems
    assert any(problem.startswith("classifier.licence") and "commercial" in problem for problem in problems)


def test_trusted_proxies_are_addresses_or_networks() -> None:
    config = parse_config('[web]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8", "::1"]\n')
    assert config.web.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert parse_config('[web]\ntrusted_proxies = "10.0.0.5, 10.0.0.6"\n').web.trusted_proxies == (
        "10.0.0.5/32",
        "10.0.0.6/32",
    )
    with pytest.raises(ConfigError, match="trusted_proxies"):
        parse_config('[web]\ntrusted_proxies = ["proxy.example.com"]\n')
