"""Admin: source health, rules (read and test against a stored mention), users and roles, API tokens, audit log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlmodel import Session

from classifiers.adapter_sets import describe as describe_adapters
from classifiers.base import ClassifierError
from socialcrm.models import ROLES, utcnow
from socialcrm.rules.explain import evaluation_dicts, explain_mention
from socialcrm.rules.facts import build_facts
from socialcrm.rules.loader import compile_rules
from socialcrm.rules.ruleset import RuleSet
from socialcrm.services import audit, auth, ingest, queue, retries, sources, users
from socialcrm.web.middleware import DB_KEY
from socialcrm.web.render import render
from socialcrm.web.security import requires, user_of
from socialcrm.web.views import params
from socialcrm.web.views.common import CONFIG_KEY, finish

routes = web.RouteTableDef()
RETRIES_SHOWN = 50


@dataclass
class ActiveRules:
    """The rules in force, as written and compiled; the daemon swaps them in place when it reloads (SIGHUP)."""

    rules: Sequence[Mapping[str, Any]]
    templates: Mapping[str, Mapping[str, str]]
    ruleset: RuleSet

    def replace(
        self, rules: Sequence[Mapping[str, Any]], templates: Mapping[str, Mapping[str, str]], ruleset: RuleSet
    ) -> None:
        """Swap in newly loaded rules, templates and their compiled rule set."""
        self.rules, self.templates, self.ruleset = rules, templates, ruleset


RULES_KEY = web.AppKey("active_rules", ActiveRules)


def setup_rules(app: web.Application) -> None:
    """Compile the configured rules once, for the rule test page."""
    config = app[CONFIG_KEY]
    ruleset = compile_rules(config.rules, config.templates, webhooks={w.name for w in config.webhooks})
    app[RULES_KEY] = ActiveRules(config.rules, config.templates, ruleset)


@routes.get("/admin")
@requires()
async def admin_home(request: web.Request) -> web.Response:
    """Source health: state, last success, counts and the last error of every source."""
    config = request.app[CONFIG_KEY]
    now = utcnow()
    stalled_after = config.workers.stalled_seconds

    def read(session: Session) -> tuple[list[sources.SourceHealth], queue.QueueStatus, list[retries.WaitingMention]]:
        return (
            sources.describe_sources(session, config, now),
            queue.queue_status(session, stalled_after),
            retries.waiting(session, limit=RETRIES_SHOWN),
        )

    health, work, waiting = await request.app[DB_KEY].run_read(read)
    return render(
        request,
        "admin.html",
        health=health,
        work=work,
        waiting=waiting,
        sentiment=_sentiment_model(config.classifier),
    )


def _sentiment_model(classifier: Any) -> dict[str, str]:
    """Which sentiment classifier the config runs and, for the default kind, its adapter set and licence."""
    shown = {"kind": classifier.kind, "set": "", "licence": "", "model_id": "", "problem": ""}
    if classifier.kind != "default":
        shown["model_id"] = str(classifier.options().get("model", ""))
        return shown
    try:
        info = describe_adapters(classifier.options())
    except ClassifierError as err:
        shown["problem"] = str(err)
        return shown
    shown.update(set=info.set_name or str(info.path), licence=info.licence, model_id=info.model_id)
    return shown


@routes.post("/admin/retries/run")
@requires()
async def retries_run(request: web.Request) -> web.StreamResponse:
    """Link and act on every mention waiting for a retry, now (with the rules in force)."""
    config, ruleset = request.app[CONFIG_KEY], request.app[RULES_KEY].ruleset
    now = utcnow()

    def run(session: Session) -> None:
        ingest.process_each(session, retries.due(session, now, all_waiting=True), config, ruleset, now)

    await request.app[DB_KEY].run_write(run)
    raise web.HTTPSeeOther("/admin")


@routes.post(r"/admin/retries/{mention_id:\d+}/dismiss")
@requires()
async def retries_dismiss(request: web.Request) -> web.StreamResponse:
    """Stop retrying one mention (it stays stored, without links or actions)."""
    mention_id = params.path_id(request, "mention_id")
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: retries.dismiss(s, [mention_id], actor=actor, now=utcnow()))
    raise web.HTTPSeeOther("/admin")


@routes.post(r"/admin/sources/{name}/{action:pause|resume}")
@requires()
async def source_pause(request: web.Request) -> web.StreamResponse:
    """Pause or resume polling one source."""
    config = request.app[CONFIG_KEY]
    source = next((s for s in config.sources if s.name == request.match_info["name"]), None)
    if source is None:
        raise web.HTTPNotFound(text="no such source")
    paused = request.match_info["action"] == "pause"
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: sources.set_paused(s, source, paused, actor=actor))
    raise web.HTTPSeeOther("/admin")


@routes.get("/admin/rules")
@requires()
async def rules_page(request: web.Request) -> web.Response:
    """The configured rules, and, with ``?mention=ID``, how the current rules judge that stored mention."""
    active = request.app[RULES_KEY]
    ruleset = active.ruleset
    mention_id = params.integer(request.query, "mention", 1)
    result = None
    if mention_id is not None:

        def test(s: Session) -> dict[str, Any]:
            stored = explain_mention(s, mention_id)
            mention = stored.mention
            now_verdict = evaluation_dicts(ruleset.evaluate(build_facts(s, mention, ruleset, mention.published_at)))
            return {"mention": mention, "stored": stored.decisions, "current": now_verdict}

        result = await request.app[DB_KEY].run_read(test)
    shown = [
        (str(rule.get("name", "?")), json.dumps(rule, indent=2, ensure_ascii=False, default=str))
        for rule in active.rules
    ]
    order = [rule.name for rule in ruleset.rules]
    return render(
        request,
        "rules.html",
        rules=shown,
        order=order,
        templates=active.templates,
        result=result,
        mention_id=mention_id or "",
    )


@routes.get("/admin/users")
@requires()
async def users_page(request: web.Request) -> web.Response:
    """Users with their roles, and every API token with its owner."""
    rows, tokens = await request.app[DB_KEY].run_read(lambda s: (users.list_users(s), auth.list_api_tokens(s)))
    return render(request, "users.html", rows=rows, tokens=tokens, roles=ROLES, new_token=None)


@routes.post("/admin/users")
@requires()
async def user_create(request: web.Request) -> web.StreamResponse:
    """Add a user (the form's username, role and password, checked like the CLI's)."""
    form = await request.post()
    username = params.text(form, "username", 64) or ""
    role = params.choice(form, "role", ROLES) or ""
    password = str(form.get("password", ""))
    display_name = params.text(form, "display_name", users.MAX_DISPLAY_NAME * 2)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(
        lambda s: users.create_user(s, username, role, password, actor=actor, display_name=display_name)
    )
    return finish(request, "/admin/users", "user_saved")


@routes.post(r"/admin/users/{name}/role")
@requires()
async def user_role(request: web.Request) -> web.StreamResponse:
    """Give a user another role."""
    form = await request.post()
    role = params.choice(form, "role", ROLES)
    if role is None:
        raise web.HTTPBadRequest(text="role: required")
    name = request.match_info["name"]
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: users.set_role(s, name, role, actor=actor))
    return finish(request, "/admin/users", "user_saved")


@routes.post(r"/admin/users/{name}/display-name")
@requires()
async def user_display_name(request: web.Request) -> web.StreamResponse:
    """The name a user signs replies with; empty goes back to the login name."""
    form = await request.post()
    display_name = params.text(form, "display_name", users.MAX_DISPLAY_NAME * 2)
    name = request.match_info["name"]
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: users.set_display_name(s, name, display_name, actor=actor))
    return finish(request, "/admin/users", "user_saved")


@routes.post(r"/admin/users/{name}/{action:disable|enable}")
@requires()
async def user_disable(request: web.Request) -> web.StreamResponse:
    """Disable or enable a user's login (nobody can disable their own)."""
    name = request.match_info["name"]
    disabled = request.match_info["action"] == "disable"
    actor = user_of(request).username
    if disabled and name == actor:
        raise web.HTTPBadRequest(text="you cannot disable your own account")
    await request.app[DB_KEY].run_write(lambda s: users.set_disabled(s, name, disabled, actor=actor))
    return finish(request, "/admin/users", "user_saved")


@routes.post("/admin/tokens")
@requires()
async def token_create(request: web.Request) -> web.Response:
    """Create an API token (optionally expiring, optionally read-only) and show it once (stored only as a hash)."""
    form = await request.post()
    username = params.text(form, "username", 64) or ""
    name = params.text(form, "name", 64) or "token"
    expires_in = params.duration(form, "expires")
    read_only = form.get("read_only") == "1"
    actor = user_of(request).username
    db = request.app[DB_KEY]
    token = await db.run_write(
        lambda s: auth.create_api_token(s, username, name, actor=actor, expires_in=expires_in, read_only=read_only)
    )
    rows, tokens = await db.run_read(lambda s: (users.list_users(s), auth.list_api_tokens(s)))
    return render(
        request,
        "users.html",
        rows=rows,
        tokens=tokens,
        roles=ROLES,
        new_token=token,
        notice="API token created. Copy it now: it is not shown again.",
        notice_kind="ok",
    )


@routes.post(r"/admin/tokens/{id:\d+}/revoke")
@requires()
async def token_revoke(request: web.Request) -> web.StreamResponse:
    """Revoke an API token."""
    token_id = params.path_id(request)
    actor = user_of(request).username
    await request.app[DB_KEY].run_write(lambda s: auth.revoke_api_token(s, token_id, actor=actor))
    return finish(request, "/admin/users", "token_revoked")


@routes.get("/admin/audit")
@requires()
async def audit_page(request: web.Request) -> web.Response:
    """The audit log, newest first, 100 a page, optionally for one entity."""
    before = params.integer(request.query, "before", 1)
    entity = params.text(request.query, "entity", 32)
    entity_id = params.text(request.query, "entity_id", 64)
    rows = await request.app[DB_KEY].run_read(
        lambda s: audit.recent(s, limit=101, before_id=before, entity_type=entity, entity_id=entity_id)
    )
    next_before = rows[99].id if len(rows) > 100 else None
    return render(
        request,
        "audit.html",
        rows=rows[:100],
        next_before=next_before,
        entity=entity or "",
        entity_id=entity_id or "",
    )
