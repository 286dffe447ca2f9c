"""Reply templates: Jinja2 in a sandbox with StrictUndefined, checked completely when the config loads.

A template may use only the variables in ``TEMPLATE_VARIABLES`` (and the keys of ``customer``); a
template that names anything else, or does not parse, is a config error naming
``templates.NAME.LANG``, never a failure when a reply is drafted. Rules' templates and the saved
replies people insert in the composer share this engine and these variables.

A value that is missing (no customer name, no order) never leaves a gap: it renders as nothing and
the words around it close up, so ``Hallo {{ customer_name }}, danke`` becomes ``Hallo, danke``.
Dates are written the way the reply's language writes them (``01.10.2026`` / ``1 Oct 2026``), and a
common order status in its words (``shipped`` in a German reply: ``versandt``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes, pass_context
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from socialcrm.formatting import format_date, format_order_status

CUSTOMER_KEYS = ("name", "company", "customer_ref", "segment", "tags")
TEMPLATE_VARIABLES = {
    "author": "the author's handle",
    "author_name": "the author's display name (falls back to the handle)",
    "customer_name": "the customer's name, else the author's display name",
    "customer": "the customer record: " + ", ".join(CUSTOMER_KEYS),
    "title": "the post's title",
    "text": "the post's text",
    "url": "the post's address",
    "source": "the configured source name",
    "source_type": "the platform kind (feed, reddit, ...)",
    "language": "the language the reply is written in",
    "sentiment": "negative, neutral or positive",
    "rule": "the rule that drafted the reply",
    "ticket_id": "the id of the ticket for this thread, if one exists",
    "order_numbers": "order numbers of the customer (newest first)",
    "order_number": "the number of the customer's latest order",
    "order_product": "the products of the latest order",
    "order_date": "the date of the latest order, written as the reply's language writes dates",
    "order_status": "the status of the latest order, a common one in the reply's language (shipped: versandt)",
    "ticket_number": "the number of the customer's open ticket (this thread's first)",
    "agent_name": "the name of the person who sends the reply (empty in a rule's draft)",
}
FALLBACK_LANGUAGE = "en"

_GAP = "\ufffe"  # a noncharacter: stands for a missing value until the text is tidied
_missing: ContextVar[list[str] | None] = ContextVar("template_missing", default=None)
_zone: ContextVar[tzinfo] = ContextVar("template_zone", default=UTC)  # the zone dates are shown in


class Missing(str):
    """An empty value that knows which variable it stands for (falsy, renders as nothing)."""

    variable: str

    def __new__(cls, variable: str) -> Missing:
        """An empty string standing for ``variable``."""
        value = super().__new__(cls, "")
        value.variable = variable
        return value


class OrderStatus(str):
    """An order status as the shop wrote it; a template writes a common one in the reply's language."""

    __slots__ = ()


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every ``{{ ... }}`` output: a missing value becomes a gap marker, a date the language's date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        found = _missing.get()
        if found is not None:
            name = value.variable if isinstance(value, Missing) else "?"
            if name not in found:
                found.append(name)
        return _GAP
    if isinstance(value, datetime | date):
        return format_date(value, str(context.get("language") or "en"), _zone.get())
    if isinstance(value, OrderStatus):
        return format_order_status(value, str(context.get("language") or "en"))
    if isinstance(value, str):
        return value.replace(_GAP, "")
    return value


_env = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False, finalize=_finalize
)
_EMPTY_BRACKETS = re.compile(rf"[ \t]*[(\[][ \t]*{_GAP}[ \t]*[)\]]")
_GAP_RUN = re.compile(rf"{_GAP}(?:[ \t]*{_GAP})+")
_BEFORE_PUNCTUATION = re.compile(rf"[ \t]*{_GAP}[ \t]*(?=[,.;:!?)\]])")
_AT_LINE_EDGE = re.compile(rf"^[ \t]*{_GAP}[ \t]*|[ \t]*{_GAP}[ \t]*$", re.MULTILINE)
_BETWEEN_WORDS = re.compile(rf"[ \t]*{_GAP}[ \t]*")


def close_gaps(text: str) -> str:
    """Remove the markers of missing values and the space around them, so no empty gap is left."""
    if _GAP not in text:
        return text
    text = _EMPTY_BRACKETS.sub("", text)
    text = _GAP_RUN.sub(_GAP, text)
    text = _BEFORE_PUNCTUATION.sub("", text)
    text = _AT_LINE_EDGE.sub("", text)
    return _BETWEEN_WORDS.sub(" ", text)


@dataclass(frozen=True)
class Rendered:
    """A template's text for one post, and the variables that had no value there."""

    text: str
    missing: tuple[str, ...]


def render_source(source: str, context: Mapping[str, Any], zone: tzinfo = UTC) -> Rendered:
    """Render one template text; missing values close up and are named in ``missing`` ("?" when unnamed).

    Dates are the day in ``zone`` (an order placed at 23:30 UTC is the next day in Berlin).
    """
    found: list[str] = []
    token = _missing.set(found)
    zone_token = _zone.set(zone)
    try:
        text = _compiled(source).render(dict(context))
    finally:
        _zone.reset(zone_token)
        _missing.reset(token)
    return Rendered(close_gaps(text).strip(), tuple(found))


def sample_context() -> dict[str, Any]:
    """A context with every variable filled, used to try each template once at load time."""
    return {
        "author": "sample_author",
        "author_name": "Sample Author",
        "customer_name": "Sample Customer",
        "customer": {
            "name": "Sample Customer",
            "company": "Sample GmbH",
            "customer_ref": "C-1",
            "segment": "b2c",
            "tags": ["vip"],
        },
        "title": "Sample title",
        "text": "Sample text",
        "url": "https://example.invalid/post/1",
        "source": "sample-source",
        "source_type": "feed",
        "language": "en",
        "sentiment": "negative",
        "rule": "sample-rule",
        "ticket_id": "1",
        "order_numbers": ["A-1000"],
        "order_number": "A-1000",
        "order_product": "Sample product",
        "order_date": datetime(2026, 1, 31, tzinfo=UTC),
        "order_status": OrderStatus("shipped"),
        "ticket_number": "1",
        "agent_name": "Sample Agent",
    }


@dataclass(frozen=True)
class CompiledTemplate:
    """One named template in one or more languages."""

    name: str
    sources: Mapping[str, str]

    def language_for(self, language: str | None) -> str:
        """The language actually used: the mention's, else English, else the first one defined."""
        if language:
            for candidate in (language, language.split("-")[0].lower()):  # "de-AT" falls back to "de"
                if candidate in self.sources:
                    return candidate
        if FALLBACK_LANGUAGE in self.sources:
            return FALLBACK_LANGUAGE
        return next(iter(self.sources))

    def render(self, language: str | None, context: Mapping[str, Any], zone: tzinfo = UTC) -> tuple[str, str]:
        """Return (language used, text), dates in ``zone``; jinja2 errors only for data the load check missed."""
        used = self.language_for(language)
        return used, render_source(self.sources[used], dict(context, language=used), zone).text


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    return _env.from_string(source)


def check_template(source: str) -> list[str]:
    """Every problem with one template text (empty when it is fine)."""
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as err:
        return [f"syntax error on line {err.lineno}: {err.message}"]
    problems = [
        f"unknown variable {name!r} (known: {', '.join(sorted(TEMPLATE_VARIABLES))})"
        for name in sorted(meta.find_undeclared_variables(tree))
        if name not in TEMPLATE_VARIABLES
    ]
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(getattr(node, "arg", None), "value", None)
        if isinstance(target, nodes.Name) and target.name == "customer" and isinstance(key, str):
            if key not in CUSTOMER_KEYS:
                problems.append(f"unknown variable 'customer.{key}' (known: {', '.join(CUSTOMER_KEYS)})")
    if problems:
        return problems
    try:
        render_source(source, sample_context())
    except SecurityError as err:
        return [f"not allowed in the sandbox: {err}"]
    except TemplateError as err:
        return [f"cannot render: {err}"]
    except Exception as err:  # a filter applied to the wrong type, a division by zero, ...
        return [f"cannot render: {type(err).__name__}: {err}"]
    return []


def compile_templates(
    templates: Mapping[str, Mapping[str, str]],
) -> tuple[dict[str, CompiledTemplate], list[str]]:
    """Check every template in every language; return the compiled ones and ``templates.N.L: why`` lines."""
    compiled: dict[str, CompiledTemplate] = {}
    problems: list[str] = []
    for name, by_language in templates.items():
        ok = True
        for language, source in by_language.items():
            for problem in check_template(source):
                problems.append(f"templates.{name}.{language}: {problem}")
                ok = False
        if ok and by_language:
            compiled[name] = CompiledTemplate(name=name, sources=dict(by_language))
    return compiled, problems
