"""Reply templates: Jinja2 in a sandbox with StrictUndefined, checked completely when the config loads.

A template may use only the variables in ``TEMPLATE_VARIABLES`` (and the keys of ``customer``); a
template that names anything else, or does not parse, is a config error naming
``templates.NAME.LANG``, never a failure when a reply is drafted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import SandboxedEnvironment

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
}
FALLBACK_LANGUAGE = "en"

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


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
        "ticket_id": 1,
        "order_numbers": ["A-1000"],
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

    def render(self, language: str | None, context: Mapping[str, Any]) -> tuple[str, str]:
        """Return (language used, text); jinja2 errors only for data the load check missed."""
        used = self.language_for(language)
        template = _compiled(self.sources[used])
        return used, template.render(dict(context, language=used)).strip()


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
        _env.from_string(source).render(sample_context())
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
