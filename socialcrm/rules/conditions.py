"""The conditions of ``[rules.when]``: each compiles from TOML once and checks Facts without I/O.

Every condition reports what it expected and what it found, which becomes the stored explanation.
Only ``volume`` reads the database, and it does so in ``build_facts`` (``count``), never in ``check``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from socialcrm.durations import parse_duration
from socialcrm.models import SENTIMENT_LABELS
from socialcrm.rules.condition_result import Condition, ConditionError, ConditionResult
from socialcrm.rules.facts import Facts
from socialcrm.rules.query import Query, QuerySyntaxError, parse_query
from socialcrm.rules.text import fold
from socialcrm.rules.volume import VolumeCondition

CUSTOMER_STATES = ("linked", "unknown", "prospect", "any")
LABEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # the names services.labels accepts


@dataclass(frozen=True)
class OneOf:
    """A fact (sentiment, language, source, source type, segment) is one of the listed values."""

    name: str
    allowed: tuple[str, ...]
    read: Callable[[Facts], str | None]

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the fact, case-folded, is one of the allowed values."""
        value = self.read(facts)
        matched = value is not None and value.casefold() in self.allowed
        return ConditionResult(self.name, matched, list(self.allowed), value)


@dataclass(frozen=True)
class ScoreRange:
    """The sentiment score lies within [min_score, max_score]."""

    name: str
    low: float | None
    high: float | None

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the sentiment score lies within the bounds."""
        score = facts.sentiment_score
        matched = (
            score is not None and (self.low is None or score >= self.low) and (self.high is None or score <= self.high)
        )
        return ConditionResult(self.name, matched, {"min": self.low, "max": self.high}, score)


@dataclass(frozen=True)
class QueryCondition:
    """The title and text match a query of the rules' query language."""

    query: Query
    name: str = "query"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the query matches the words; found shows the terms that did."""
        matched = self.query.matches(facts.words)
        return ConditionResult(self.name, matched, self.query.source, self.query.found_terms(facts.words))


@dataclass(frozen=True)
class RegexCondition:
    """Any of the regular expressions finds a match in the title and text (case-insensitive)."""

    patterns: tuple[re.Pattern[str], ...]
    name: str = "regex"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched by the first pattern that finds something; found shows what it found."""
        for pattern in self.patterns:
            found = pattern.search(facts.text)
            if found:
                return ConditionResult(self.name, True, [p.pattern for p in self.patterns], found.group(0)[:200])
        return ConditionResult(self.name, False, [p.pattern for p in self.patterns], None)


@dataclass(frozen=True)
class CustomerCondition:
    """Whether the author is a known customer: linked | unknown (none or prospect) | prospect | any."""

    state: str
    name: str = "customer"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the author's customer state is the wanted one."""
        if facts.customer_linked:
            actual = "linked"
        elif facts.customer_is_prospect:
            actual = "prospect"
        else:
            actual = "unknown"
        if self.state == "any":
            matched = True
        elif self.state == "unknown":
            matched = actual in ("unknown", "prospect")
        else:
            matched = actual == self.state
        return ConditionResult(self.name, matched, self.state, {"state": actual, "customer_ref": facts.customer_ref})


@dataclass(frozen=True)
class CustomerTagCondition:
    """The customer carries any of the tags."""

    tags: tuple[str, ...]
    name: str = "customer_tag"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the customer has any of the tags."""
        hits = [t for t in self.tags if t in facts.customer_tags]
        return ConditionResult(self.name, bool(hits), list(self.tags), sorted(facts.customer_tags))


@dataclass(frozen=True)
class OpenTicketCondition:
    """The customer has (true) or has not (false) a ticket that is new, open or pending."""

    wanted: bool
    name: str = "has_open_ticket"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when having an open ticket is as wanted."""
        has = bool(facts.open_ticket_ids)
        return ConditionResult(self.name, has == self.wanted, self.wanted, list(facts.open_ticket_ids))


@dataclass(frozen=True)
class ConsentCondition:
    """The customer has (true) or has not (false) agreed to marketing contact."""

    wanted: bool
    name: str = "consent_marketing"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the customer's marketing consent is as wanted."""
        has = facts.customer_linked and facts.consent_marketing
        return ConditionResult(self.name, has == self.wanted, self.wanted, has)


@dataclass(frozen=True)
class OrderedProductCondition:
    """The customer has ordered any of the products (compared case- and umlaut-insensitively)."""

    products: tuple[str, ...]
    name: str = "ordered_product"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the customer ordered any of the products."""
        hits = [p for p in self.products if fold(p) in facts.ordered_products]
        return ConditionResult(self.name, bool(hits), list(self.products), hits)


@dataclass(frozen=True)
class LabelCondition:
    """The mention has any of these custom labels (predicted at or above the label's threshold, or ``min_score``)."""

    labels: tuple[str, ...]
    min_score: float | None = None
    name: str = "label"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when one of the labels was predicted; found shows every label the mention has, with its score."""
        floor = self.min_score or 0.0
        matched = any(facts.labels.get(label, -1.0) >= floor for label in self.labels)
        expected: Any = list(self.labels)
        if self.min_score is not None:
            expected = {"labels": list(self.labels), "min_score": floor}
        return ConditionResult(self.name, matched, expected, dict(sorted(facts.labels.items())))


@dataclass(frozen=True)
class AuthorMetricCondition:
    """An author metric the platform reports (followers, karma, ...) lies within bounds."""

    metric: str
    low: float | None
    high: float | None

    @property
    def name(self) -> str:
        """``author_metrics.<metric>``."""
        return f"author_metrics.{self.metric}"

    def check(self, facts: Facts) -> ConditionResult:
        """Matched when the metric is a number within the bounds."""
        value = facts.author_metrics.get(self.metric)
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        matched = (
            number is not None
            and (self.low is None or number >= self.low)
            and (self.high is None or number <= self.high)
        )
        return ConditionResult(self.name, matched, {"min": self.low, "max": self.high}, value)


# ---- compiling [rules.when] -------------------------------------------------------------------------


def _strings(field: str, value: Any, allowed: Sequence[str] | None = None) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise ConditionError(field, "must be a non-empty string or list of strings")
    folded = tuple(v.strip().casefold() for v in items)
    if allowed is not None:
        unknown = [v for v in folded if v not in allowed]
        if unknown:
            raise ConditionError(field, f"unknown value {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return folded


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConditionError(field, "must be a number")
    return float(value)


def _query(field: str, value: Any) -> Query:
    if not isinstance(value, str):
        raise ConditionError(field, "must be a query string")
    try:
        return parse_query(value)
    except QuerySyntaxError as err:
        raise ConditionError(field, str(err)) from None


def _bounds(field: str, value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), None
    if isinstance(value, Mapping):
        unknown = set(value) - {"min", "max"}
        if unknown or not value:
            raise ConditionError(field, "use a number (the minimum) or a table with min and/or max")
        low = _number(f"{field}.min", value["min"]) if "min" in value else None
        high = _number(f"{field}.max", value["max"]) if "max" in value else None
        return low, high
    raise ConditionError(field, "use a number (the minimum) or a table with min and/or max")


def _compile_sentiment(value: Any, when: Mapping[str, Any]) -> list[Condition]:
    if isinstance(value, Mapping):
        unknown = set(value) - {"labels", "min_score", "max_score"}
        if unknown:
            raise ConditionError(
                f"sentiment.{sorted(unknown)[0]}", "unknown key (allowed: labels, max_score, min_score)"
            )
        labels = _strings("sentiment.labels", value.get("labels", list(SENTIMENT_LABELS)), SENTIMENT_LABELS)
        low = _number("sentiment.min_score", value["min_score"]) if "min_score" in value else None
        high = _number("sentiment.max_score", value["max_score"]) if "max_score" in value else None
    else:
        labels = _strings("sentiment", value, SENTIMENT_LABELS)
        low = high = None
    conditions: list[Condition] = [OneOf("sentiment", labels, lambda f: f.sentiment)]
    if low is not None or high is not None:
        conditions.append(ScoreRange("sentiment_score", low, high))
    return conditions


def _compile_score(when: Mapping[str, Any]) -> list[Condition]:
    low = _number("min_score", when["min_score"]) if "min_score" in when else None
    high = _number("max_score", when["max_score"]) if "max_score" in when else None
    if low is not None and not 0 <= low <= 1:
        raise ConditionError("min_score", "must lie between 0 and 1")
    if high is not None and not 0 <= high <= 1:
        raise ConditionError("max_score", "must lie between 0 and 1")
    return [ScoreRange("sentiment_score", low, high)]


def _compile_regex(value: Any) -> list[Condition]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise ConditionError("regex", "must be a regular expression or a list of them")
    patterns = []
    for index, source in enumerate(items):
        try:
            patterns.append(re.compile(source, re.IGNORECASE))
        except re.error as err:
            where = "regex" if isinstance(value, str) else f"regex[{index}]"
            raise ConditionError(where, f"invalid regular expression: {err}") from None
    return [RegexCondition(tuple(patterns))]


def _compile_customer(value: Any) -> list[Condition]:
    if not isinstance(value, str) or value not in CUSTOMER_STATES:
        raise ConditionError("customer", f"must be one of: {', '.join(CUSTOMER_STATES)}")
    return [CustomerCondition(value)]


def _compile_open_ticket(value: Any) -> list[Condition]:
    if not isinstance(value, bool):
        raise ConditionError("has_open_ticket", "must be true or false")
    return [OpenTicketCondition(value)]


def _compile_consent(value: Any) -> list[Condition]:
    if not isinstance(value, bool):
        raise ConditionError("consent_marketing", "must be true or false")
    return [ConsentCondition(value)]


def _compile_label(value: Any) -> list[Condition]:
    if isinstance(value, Mapping):
        unknown = set(value) - {"labels", "min_score"}
        if unknown:
            raise ConditionError(f"label.{sorted(unknown)[0]}", "unknown key (allowed: labels, min_score)")
        if "labels" not in value:
            raise ConditionError("label.labels", "required: the label names")
        names = _label_names("label.labels", value["labels"])
        low = _number("label.min_score", value["min_score"]) if "min_score" in value else None
        if low is not None and not 0 <= low <= 1:
            raise ConditionError("label.min_score", "must lie between 0 and 1")
        return [LabelCondition(names, low)]
    return [LabelCondition(_label_names("label", value))]


def _label_names(field: str, value: Any) -> tuple[str, ...]:
    names = _strings(field, value)
    for name in names:
        if not LABEL_NAME.match(name):
            raise ConditionError(field, f"{name!r} is not a label name (lower-case letters, digits, '-' and '_')")
    return names


def _compile_metrics(value: Any) -> list[Condition]:
    if not isinstance(value, Mapping) or not value:
        raise ConditionError(
            "author_metrics", "must be a table such as { followers = 1000 } or { karma = { min = 10 } }"
        )
    conditions: list[Condition] = []
    for metric, bound in value.items():
        low, high = _bounds(f"author_metrics.{metric}", bound)
        conditions.append(AuthorMetricCondition(str(metric), low, high))
    return conditions


def _compile_volume(value: Any, rule_name: str, when: Mapping[str, Any]) -> list[Condition]:
    if not isinstance(value, Mapping):
        raise ConditionError("volume", 'must be a table such as { count = 20, window = "1h" }')
    unknown = set(value) - {"count", "window", "query", "sentiment", "source", "source_type"}
    if unknown:
        raise ConditionError(
            f"volume.{sorted(unknown)[0]}",
            "unknown key (allowed: count, query, sentiment, source, source_type, window)",
        )
    count = value.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConditionError("volume.count", "must be a whole number of at least 1")
    try:
        window = parse_duration(value.get("window"))
    except ValueError as err:
        raise ConditionError("volume.window", str(err)) from None
    query_source = value.get("query", when.get("query"))
    query = _query("volume.query", query_source) if query_source is not None else None
    sentiments = _strings("volume.sentiment", value["sentiment"], SENTIMENT_LABELS) if "sentiment" in value else ()
    sources = tuple(_strings("volume.source", value["source"])) if "source" in value else ()
    source_types = tuple(_strings("volume.source_type", value["source_type"])) if "source_type" in value else ()
    return [VolumeCondition(f"{rule_name}#volume", count, window, query, sentiments, sources, source_types)]


def _one_of(name: str, read: Callable[[Facts], str | None]) -> Callable[[Any], list[Condition]]:
    return lambda value: [OneOf(name, _strings(name, value), read)]


_SIMPLE: dict[str, Callable[[Any], list[Condition]]] = {
    "language": _one_of("language", lambda f: f.language),
    "source_type": _one_of("source_type", lambda f: f.source_type),
    "source": _one_of("source", lambda f: f.source),
    "segment": _one_of("segment", lambda f: f.segment),
    "query": lambda value: [QueryCondition(_query("query", value))],
    "regex": _compile_regex,
    "customer": _compile_customer,
    "customer_tag": lambda value: [CustomerTagCondition(tuple(fold(t) for t in _strings("customer_tag", value)))],
    "has_open_ticket": _compile_open_ticket,
    "consent_marketing": _compile_consent,
    "ordered_product": lambda value: [OrderedProductCondition(_strings("ordered_product", value))],
    "author_metrics": _compile_metrics,
    "label": _compile_label,
}
WHEN_KEYS = tuple(sorted({*_SIMPLE, "sentiment", "min_score", "max_score", "volume"}))


def compile_when(when: Mapping[str, Any], rule_name: str) -> tuple[list[Condition], list[ConditionError]]:
    """Compile a ``[rules.when]`` table; return the conditions and every problem found."""
    conditions: list[Condition] = []
    problems: list[ConditionError] = []
    for key, value in when.items():
        try:
            if key == "sentiment":
                conditions.extend(_compile_sentiment(value, when))
            elif key == "min_score":
                conditions.extend(_compile_score(when))
            elif key == "max_score":
                if "min_score" not in when:
                    conditions.extend(_compile_score(when))
            elif key == "volume":
                conditions.extend(_compile_volume(value, rule_name, when))
            elif key in _SIMPLE:
                conditions.extend(_SIMPLE[key](value))
            else:
                raise ConditionError(key, f"unknown condition (allowed: {', '.join(WHEN_KEYS)})")
        except ConditionError as err:
            problems.append(err)
    return conditions, problems
