"""The ``[[sources]]`` section: names, types (with a guess for a misspelt one), intervals and connector options."""

from __future__ import annotations

import difflib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from connectors import ConnectorFactory
from socialcrm.config_sections import SOURCE_KEYS, SourceConfig
from socialcrm.durations import parse_duration
from socialcrm.registry import connector_kinds, load_connector_class
from socialcrm.rules.query import QuerySyntaxError, parse_query

_Model = TypeVar("_Model", bound=BaseModel)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_GROUP = 64


class SourceSection(ABC):
    """The ``[[sources]]`` checks of ConfigBuilder, which supplies ``problems``, ``_array`` and ``_validate``."""

    problems: list[str]

    @abstractmethod
    def _array(self, name: str) -> list[Mapping[str, Any]]:
        """The config's array of tables ``name`` (ConfigBuilder reads it and reports a wrong shape)."""

    @abstractmethod
    def _validate(
        self, model: type[_Model], raw: Mapping[str, Any], where: str, also_allowed: Sequence[str] = ()
    ) -> _Model | None:
        """``raw`` validated as ``model``, or None with its problems recorded (ConfigBuilder's check)."""

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
        elif isinstance(group, str) and len(group) > MAX_GROUP:  # what a mention's group column holds
            self.problems.append(f"{where}.group: at most {MAX_GROUP} characters (it has {len(group)})")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problems.append(f"{where}.enabled: must be true or false")
        private = raw.get("allow_private_network", False)
        if not isinstance(private, bool):
            self.problems.append(f"{where}.allow_private_network: must be true or false")
        keep_only = raw.get("keep_only")
        self._check_keep_only(keep_only, where)
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
            allow_private_network=bool(private),
            keep_only=keep_only,
            options=options,
        )

    def _check_keep_only(self, keep_only: Any, where: str) -> None:
        """Record a problem when ``keep_only`` is not a query the rules' query language can parse."""
        if keep_only is None:
            return
        if not isinstance(keep_only, str) or not keep_only.strip():
            self.problems.append(f"{where}.keep_only: must be a query string such as 'acme OR \"acme coffee\"'")
            return
        try:
            parse_query(keep_only)
        except QuerySyntaxError as err:
            self.problems.append(f"{where}.keep_only: {err}")

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
