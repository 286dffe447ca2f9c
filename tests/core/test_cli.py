"""The command line as a user runs it: real subprocesses, real config files, a real database and HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from socialcrm.config import parse_config
from socialcrm.db import Database
from socialcrm.models import ApiToken, AuditEntry, SourceState, User
from socialcrm.services import auth
from tests.core.test_pipeline import RULES
from tests.replay_server import Canned, ReplayServer

DEMO_FEEDS = Path(__file__).resolve().parents[2] / "socialcrm" / "demo" / "feeds"
MENTION_FIELDS = {
    "id",
    "source",
    "source_type",
    "external_id",
    "url",
    "thread_id",
    "author",
    "title",
    "text",
    "language",
    "sentiment",
    "sentiment_score",
    "customer_ref",
    "published_at",
}


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALCRM_")}
    env["SOCIALCRM_CACHE_DIR"] = str(tmp_path / "cache")
    return env


async def run(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialcrm",
        *args,
        cwd=tmp_path,
        env=env_for(tmp_path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin is not None else None), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def feed_config(base_url: str, extra: str = "") -> str:
    return f"""
[database]
url = "sqlite:///crm.db"
[web]
enabled = false
[classifier]
kind = "lexicon"
[[sources]]
name = "acme-blog"
type = "feed"
url = "{base_url}/blog.xml"
interval = "15m"
[[sources]]
name = "forum"
type = "feed"
url = "{base_url}/forum.atom"
interval = "15m"
{RULES}
{extra}
"""


@pytest.fixture
def feeds(replay: ReplayServer) -> ReplayServer:
    replay.add_file("GET", "/blog.xml", DEMO_FEEDS / "acme-blog-comments.xml", "application/rss+xml")
    replay.add_file("GET", "/forum.atom", DEMO_FEEDS / "coffee-forum.atom", "application/atom+xml")
    return replay


async def test_help_and_usage_errors(tmp_path: Path) -> None:
    code, out, _ = await run(tmp_path, "--help")
    assert code == 0 and "check-config" in out and "export" in out
    code, _, err = await run(tmp_path, "frobnicate")
    assert code == 2 and "invalid choice" in err


async def test_missing_config_is_a_clear_usage_error(tmp_path: Path) -> None:
    code, _, err = await run(tmp_path, "check-config")
    assert code == 2
    assert "socialcrm.toml" in err and "socialcrm init" in err


async def test_check_config_lists_every_problem_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        '[web]\nport = 99999\n[[sources]]\nname = "a"\ntype = "feed"\nurl = "nope"\n'
        '[[sources]]\nname = "b"\ntype = "gopher"\n'
    )
    code, _, err = await run(tmp_path, "--config", "bad.toml", "check-config")
    assert code == 2
    assert "3 problem(s)" in err
    assert "web.port" in err and "sources[0].url" in err and "sources[1].type: unknown type 'gopher'" in err


async def test_init_writes_a_valid_starter_config_and_database(tmp_path: Path) -> None:
    code, out, err = await run(tmp_path, "init")
    assert code == 0, err
    assert (tmp_path / "socialcrm.toml").exists() and (tmp_path / "socialcrm.db").exists()
    # The starter source is disabled; the next steps say so, and how to enable it.
    assert "The source my-blog-comments is disabled until you enable it" in out and "enabled = true" in out
    assert "python -m socialcrm check-config" in out and "python -m socialcrm user add NAME --role admin" in out
    code, out, _ = await run(tmp_path, "check-config")
    assert code == 0 and "OK" in out
    code, _, err = await run(tmp_path, "init")
    assert code == 0 and "keeping it" in err
    assert 'licence = "commercial"' in (tmp_path / "socialcrm.toml").read_text(encoding="utf-8")


async def test_init_chooses_the_sentiment_adapter_set(tmp_path: Path) -> None:
    code, out, err = await run(tmp_path, "init", "--licence", "research")
    assert code == 0, err
    assert "sentiment adapter set: research" in out
    assert parse_config((tmp_path / "socialcrm.toml").read_text(encoding="utf-8")).classifier.licence == "research"


async def test_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    await run(tmp_path, "init")
    code, out, err = await run(tmp_path, "user", "add", "alice", "--role", "community", stdin="correct horse battery\n")
    assert code == 0, err
    code, _, err = await run(tmp_path, "user", "add", "bob", "--role", "service", stdin="short\n")
    assert code == 2 and "password" in err
    code, _, err = await run(tmp_path, "user", "add", "carol", "--role", "janitor", stdin="long enough pw\n")
    assert code == 2
    code, out, _ = await run(tmp_path, "user", "list")
    assert "alice" in out and "community" in out and "bob" not in out
    db = Database(f"sqlite:///{tmp_path / 'socialcrm.db'}")
    with db.read() as session:
        stored = session.exec(select(User).where(User.username == "alice")).one().password_hash
    db.dispose()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    with db.write() as session:  # alice is logged in somewhere with the old password
        alice = session.exec(select(User).where(User.username == "alice")).one()
        old_cookie, _ = auth.start_session(session, alice, hours=8)
        api_token = auth.create_api_token(session, "alice", "crm sync", actor="test")
    db.dispose()
    code, _, err = await run(tmp_path, "user", "add", "alice", "--role", "admin", stdin="another password\n")
    assert code == 2 and "user 'alice' already exists" in err
    assert "`python -m socialcrm user add alice --role admin --replace`" in err
    assert "`python -m socialcrm user set-role alice ROLE`" in err
    code, _, err = await run(
        tmp_path, "user", "add", "alice", "--role", "admin", "--replace", stdin="another password\n"
    )
    assert code == 0, err
    code, out, _ = await run(tmp_path, "user", "list")
    assert "admin" in out.split("alice", 1)[1].splitlines()[0]
    with db.read() as session:  # a new password ends every browser session; API tokens are separate credentials
        assert auth.user_for_session(session, old_cookie) is None
        assert auth.check_api_token(session, api_token) is not None
        ended = session.exec(select(AuditEntry).where(AuditEntry.action == "user.sessions_ended")).one()
        assert ended.detail == {"sessions": 1}
    db.dispose()


async def test_a_users_display_name_is_set_listed_and_cleared(tmp_path: Path) -> None:
    await run(tmp_path, "init")
    code, _, err = await run(
        tmp_path,
        "user",
        "add",
        "anna",
        "--role",
        "community",
        "--display-name",
        "x" * 81,
        stdin="correct horse battery\n",
    )
    assert code == 2 and "display name: at most 80 characters" in err and "Password" not in err
    code, _, err = await run(
        tmp_path,
        "user",
        "add",
        "anna",
        "--role",
        "community",
        "--display-name",
        "Anna Schmidt",
        stdin="correct horse pw\n",
    )
    assert code == 0, err
    code, out, _ = await run(tmp_path, "user", "list")
    assert "signs as 'Anna Schmidt'" in out.split("anna", 1)[1].splitlines()[0]
    code, out, err = await run(tmp_path, "user", "set-name", "anna", " Anna  Maria Schmidt ")
    assert code == 0 and "anna signs replies as 'Anna Maria Schmidt'" in out, err
    code, out, _ = await run(tmp_path, "user", "set-name", "anna", "")
    assert code == 0 and "anna signs replies as 'anna'" in out
    code, out, _ = await run(tmp_path, "user", "list")
    assert "signs as" not in out
    code, _, err = await run(tmp_path, "user", "set-name", "nobody", "X")
    assert code == 1 and "no user named 'nobody'" in err


async def test_user_token_is_made_and_audited_as_on_the_admin_page(tmp_path: Path) -> None:
    await run(tmp_path, "init")
    await run(tmp_path, "user", "add", "alice", "--role", "service", stdin="correct horse battery\n")
    code, out, err = await run(tmp_path, "user", "token", "alice", "--label", "nightly export")
    assert code == 0 and "shown only once" in err
    token = out.strip()
    assert token.startswith("scrm_")
    db = Database(f"sqlite:///{tmp_path / 'socialcrm.db'}")
    with db.read() as session:
        check = auth.check_api_token(session, token)
        stored = session.exec(select(ApiToken)).one()
        entry = session.exec(select(AuditEntry).where(AuditEntry.entity_type == "api_token")).one()
    db.dispose()
    assert check is not None and check.user.username == "alice" and stored.name == "nightly export"
    assert (entry.action, entry.actor, entry.entity_id) == ("api_token.create", "cli", str(stored.id))
    assert entry.detail == {"user": "alice", "name": "nightly export"}
    code, _, err = await run(tmp_path, "user", "token", "nobody")
    assert code == 1 and "no user named 'nobody'" in err


async def test_user_token_can_expire_and_be_read_only_and_disable_revokes_it(tmp_path: Path) -> None:
    await run(tmp_path, "init")
    await run(tmp_path, "user", "add", "alice", "--role", "service", stdin="correct horse battery\n")
    code, out, err = await run(tmp_path, "user", "token", "alice", "--expires", "30d", "--read-only")
    assert code == 0 and "It expires" in err and "read-only" in err, err
    token = out.strip()
    code, _, err = await run(tmp_path, "user", "token", "alice", "--expires", "soon")
    assert code == 2 and "not a duration" in err
    db = Database(f"sqlite:///{tmp_path / 'socialcrm.db'}")
    with db.read() as session:
        check = auth.check_api_token(session, token)
        stored = session.exec(select(ApiToken)).one()
    assert check is not None and check.user.read_only and not check.user.may_request("POST")
    assert stored.read_only and stored.expires_at is not None
    assert 29.9 < (stored.expires_at - datetime.now(UTC)).total_seconds() / 86400 <= 30
    code, out, _ = await run(tmp_path, "user", "disable", "alice")
    assert code == 0 and "API tokens revoked" in out
    await run(tmp_path, "user", "enable", "alice")
    with db.read() as session:
        assert auth.check_api_token(session, token) is None
    db.dispose()


async def test_poll_prints_a_summary_and_export_writes_the_contract_fields(tmp_path: Path, feeds: ReplayServer) -> None:
    (tmp_path / "socialcrm.toml").write_text(feed_config(feeds.base_url))
    code, out, err = await run(tmp_path, "poll", "--once")
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["acme-blog"][1:5] == ["6", "6", "0", "0"]  # fetched, new, duplicates, errors
    assert lines["forum"][1:5] == ["4", "4", "0", "0"]
    code, out, err = await run(tmp_path, "poll", "--once", "--source", "forum")
    assert code == 0
    again = out.splitlines()[1].split()
    # Re-polling stores nothing twice (whether the connector skips seen entries or the core drops them).
    assert again[2] == "0" and again[4] == "0" and int(again[1]) == int(again[3])

    code, out, err = await run(tmp_path, "export", "mentions", "--format", "jsonl")
    assert code == 0 and "exported 10 mentions" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 10 and MENTION_FIELDS <= set(rows[0])
    assert all(r["published_at"].endswith("Z") for r in rows)
    assert {r["source_type"] for r in rows} == {"feed"}
    german = next(r for r in rows if "Lieferung ist seit zwei Wochen" in r["text"])
    assert german["language"] == "de" and german["sentiment"] == "negative" and german["author"] == "Jana Fischer"

    code, out, _ = await run(tmp_path, "export", "mentions", "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == 10 and MENTION_FIELDS <= set(parsed[0])

    code, out, _ = await run(tmp_path, "export", "tickets", "--format", "jsonl")
    tickets = [json.loads(line) for line in out.splitlines()]
    assert tickets and {"id", "status", "priority", "team", "rule", "customer_ref", "mention_ids"} <= set(tickets[0])
    assert all(t["mention_ids"] for t in tickets)
    code, out, _ = await run(tmp_path, "export", "drafts", "--format", "jsonl")
    drafts = [json.loads(line) for line in out.splitlines()]
    assert drafts and {"id", "status", "rule", "language", "text", "mention_id", "customer_ref"} <= set(drafts[0])


async def test_poll_failure_exits_1_and_sources_shows_the_state(tmp_path: Path, replay: ReplayServer) -> None:
    replay.add_file("GET", "/blog.xml", DEMO_FEEDS / "acme-blog-comments.xml", "application/rss+xml")
    replay.add("GET", "/forum.atom", Canned(status=404, body=b"Not Found"))
    (tmp_path / "socialcrm.toml").write_text(feed_config(replay.base_url))
    code, out, _ = await run(tmp_path, "poll")
    assert code == 1
    forum_line = next(line for line in out.splitlines() if line.startswith("forum"))
    assert "404" in forum_line
    code, out, _ = await run(tmp_path, "sources")
    assert code == 0
    blog = next(line for line in out.splitlines() if line.startswith("acme-blog"))
    forum = next(line for line in out.splitlines() if line.startswith("forum"))
    assert " ok " in blog
    assert "404" in forum
    code, out, _ = await run(tmp_path, "sources", "pause", "acme-blog")
    assert code == 0
    code, out, _ = await run(tmp_path, "poll", "--source", "acme-blog")
    assert "paused" in out
    code, out, _ = await run(tmp_path, "sources", "resume", "acme-blog")
    code, out, _ = await run(tmp_path, "sources", "pause", "nonexistent")
    assert code == 2


async def test_classifier_problems_are_a_message_and_an_exit_code_not_a_traceback(
    tmp_path: Path, feeds: ReplayServer
) -> None:
    config = tmp_path / "socialcrm.toml"
    config.write_text('[database]\nurl = "sqlite:///crm.db"\n[classifier]\nkind = "sentiment-pro"\n')
    code, _, err = await run(tmp_path, "check-config")
    assert code == 2 and "classifier.kind: unknown kind 'sentiment-pro' (known: default, lexicon" in err
    code, _, err = await run(tmp_path, "poll")
    assert code == 2 and "classifier.kind: unknown kind 'sentiment-pro'" in err and "Traceback" not in err

    missing = tmp_path / "no-such-model"
    broken = feed_config(feeds.base_url).replace(
        'kind = "lexicon"', f'kind = "transformers"\nmodel = "{missing}"\nfallback = false'
    )
    config.write_text(broken)
    code, _, err = await run(tmp_path, "check-config")
    assert code == 0, err
    code, _, err = await run(tmp_path, "poll")  # new posts need the model, which cannot load
    assert code == 1 and "Traceback" not in err
    assert f"socialcrm: classifier: model directory {missing} does not exist" in err
    with Database(f"sqlite:///{tmp_path / 'crm.db'}").read() as session:
        state = session.get(SourceState, "acme-blog")
        assert state is None or state.state != "backoff"  # the model's fault is not the source's

    config.write_text(feed_config(feeds.base_url))
    code, _, err = await run(tmp_path, "poll")
    assert code == 0, err
    config.write_text(broken)
    code, out, err = await run(tmp_path, "poll", "--force")  # nothing new: the model is never loaded
    assert code == 0, err
    assert "model directory" not in err


async def test_sources_table_stays_aligned_with_long_states_and_names(tmp_path: Path) -> None:
    long_name = "a-source-with-a-rather-long-name-for-a-table"
    (tmp_path / "socialcrm.toml").write_text(
        f'[[sources]]\nname = "{long_name}"\ntype = "feed"\nurl = "https://example.com/a.xml"\n'
        '[[sources]]\nname = "blog"\ntype = "feed"\nurl = "https://example.com/b.xml"\n'
    )
    code, _, err = await run(tmp_path, "db", "upgrade")
    assert code == 0, err
    db = Database(f"sqlite:///{tmp_path / 'socialcrm.db'}")
    with db.write() as session:
        session.add(
            SourceState(
                name=long_name,
                type="feed",
                state="backoff",
                backoff_until=datetime(2099, 11, 30, 20, 4, tzinfo=UTC),
                fetched_total=123456,
                error_total=7,
                last_error="HTTP 503 from https://example.com/a.xml:\nService Unavailable",
            )
        )
    db.dispose()

    code, out, err = await run(tmp_path, "sources")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert len(lines) == 2
    starts = {column: header.index(column) for column in ("type", "state", "last success", "last error")}
    ends = {column: header.index(column) + len(column) for column in ("fetched", " new", "errors")}
    expected = {
        long_name: (
            "backing off until 2099-11-30 20:04Z",
            "123456",
            "7",
            "HTTP 503 from https://example.com/a.xml: Service",
        ),
        "blog": ("not polled yet", "0", "0", ""),
    }
    for line in lines:
        state, fetched, errors, last_error = expected[line.split()[0]]
        assert line[starts["type"] :].startswith("feed ")
        assert line[starts["state"] :].startswith(state + " ")
        assert line[starts["last success"] :].startswith("never ")
        assert line[: ends["fetched"]].endswith(" " + fetched)
        assert line[: ends[" new"]].endswith(" 0")
        assert line[: ends["errors"]].endswith(" " + errors)
        assert line[starts["last error"] :].startswith(last_error)


async def test_db_upgrade_and_current(tmp_path: Path) -> None:
    (tmp_path / "socialcrm.toml").write_text('[database]\nurl = "sqlite:///data/x.db"\n')
    code, out, err = await run(tmp_path, "db", "upgrade")
    assert code == 0, err
    assert "revision" in out and (tmp_path / "data" / "x.db").exists()
    code, out, _ = await run(tmp_path, "db", "current")
    assert code == 0 and out.strip()


async def test_privacy_commands(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(
        "customer_ref,name,email,phone,company,segment,reddit,mastodon,bluesky,discourse,hackernews,feed\n"
        "K-9,Eva Example,eva@example.de,,,,,,,,,\n"
    )
    await run(tmp_path, "init")
    code, _, err = await run(tmp_path, "customers", "import", "customers.csv")
    assert code == 0, err
    code, out, _ = await run(tmp_path, "privacy", "export", "K-9")
    assert code == 0 and json.loads(out)["contact_points"][0]["value"] == "eva@example.de"
    code, _, err = await run(tmp_path, "privacy", "erase", "K-9")
    assert code == 2 and "--yes" in err
    code, out, _ = await run(tmp_path, "privacy", "erase", "K-9", "--yes")
    assert code == 0 and "Erased 1 customers" in out
    code, _, err = await run(tmp_path, "privacy", "export", "K-9")
    assert code == 1 and "no customer" in err


async def test_mentions_whose_rules_fail_are_listed_retried_and_dismissed(tmp_path: Path, feeds: ReplayServer) -> None:
    config = tmp_path / "socialcrm.toml"
    good = feed_config(feeds.base_url)
    broken = good.replace("danke für Ihre Frage!", "danke! {{ 1000 // (ticket_id | int) }}")
    assert broken != good
    config.write_text(broken)  # a reply template that breaks when the thread has no ticket
    code, out, err = await run(tmp_path, "poll")
    assert code == 0, err
    code, out, _ = await run(tmp_path, "sources")
    header, *lines = out.splitlines()
    waiting = {line.split()[0]: line for line in lines if line and not line.startswith("Mentions")}
    column = header.index("retrying")
    failing = [name for name, line in waiting.items() if line[column : column + 8].strip() not in ("", "0")]
    assert failing, out
    assert "`socialcrm retries` shows why" in out
    code, out, _ = await run(tmp_path, "retries")
    assert code == 0 and "ZeroDivisionError" in out
    ids = [int(line.split()[0]) for line in out.splitlines()[1:]]
    code, out, _ = await run(tmp_path, "retries", "dismiss", str(ids[0]))
    assert code == 0 and f"dismissed 1 mention(s): {ids[0]}" in out
    config.write_text(good)  # the template is fixed
    code, out, _ = await run(tmp_path, "retries", "run")
    assert code == 0 and f"retried {len(ids) - 1} mention(s): {len(ids) - 1} went through, 0 failed" in out
    code, out, _ = await run(tmp_path, "retries")
    assert "No mention waits for a retry." in out
    code, out, _ = await run(tmp_path, "retries", "--all")
    assert str(ids[0]) in out and "dismissed by cli" in out
