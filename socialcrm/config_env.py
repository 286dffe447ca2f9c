"""Options from the environment (``SOCIALCRM_SECTION__KEY``), applied over the file, and where each value came from.

Precedence, highest first: the environment, then the config file, then the built-in default.
A variable names its place in the file with ``__`` between the parts, upper case:

- a table's option: ``SOCIALCRM_DATABASE__URL``, ``SOCIALCRM_WEB__PORT``, ``SOCIALCRM_DAEMON__LOG_FORMAT``;
- nested tables: ``SOCIALCRM_SLA__URGENT__FIRST_RESPONSE``, ``SOCIALCRM_TEMPLATES__THANKS__DE``;
- an entry of ``[[sources]]``, ``[[webhooks]]`` or ``[[rules]]`` by its name, with every character
  other than a letter or digit written as ``_``: ``SOCIALCRM_SOURCES__ACME_BLOG__INTERVAL`` sets
  ``interval`` of the source named ``acme-blog``. Entries themselves are only declared in the file.

A value is taken as text (the option's own validation turns ``"8080"`` into a number), or converted
to the type the file already has there (``true``/``false``, numbers); a list is written as a TOML
array (``["a", "b"]``). Anything that does not fit is a
config problem naming the variable. Variables with ``SOCIALCRM_`` but without ``__``
(``SOCIALCRM_CONFIG``) are not options.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PREFIX = "SOCIALCRM_"
SEPARATOR = "__"
ARRAY_SECTIONS = ("sources", "webhooks", "rules")
DEFAULT = "default"
FILE = "file"
# Keys checked outside pydantic (which turns "8080" into 8080 itself) that need a typed value.
TYPED_KEYS: dict[tuple[str, str], type] = {
    ("sources", "enabled"): bool,
    ("sources", "tags"): list,
    ("rules", "enabled"): bool,
    ("rules", "order"): int,
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_key(name: str) -> str:
    """How a name is spelled inside a variable: upper case, anything but letters and digits as ``_``."""
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def path_text(parts: tuple[str | int, ...]) -> str:
    """``("sources", 0, "url")`` -> ``sources[0].url``, the form config problems use."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class Overlay:
    """The config data with the environment applied, the variable behind each changed path, and problems."""

    data: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def apply_environment(data: Mapping[str, Any], environ: Mapping[str, str], sections: set[str]) -> Overlay:
    """Copy ``data`` and set every ``SOCIALCRM_A__B`` variable's value at its path."""
    overlay = Overlay(data=_copy(data))
    for name in sorted(environ):
        if not name.startswith(PREFIX) or SEPARATOR not in name[len(PREFIX) :]:
            continue
        parts = name[len(PREFIX) :].split(SEPARATOR)
        if any(not part for part in parts):
            overlay.problems.append(f"{name}: empty part between '__' separators")
            continue
        section = parts[0].lower()
        if section not in sections:
            overlay.problems.append(f"{name}: unknown section {section!r} (allowed: {', '.join(sorted(sections))})")
            continue
        _apply_one(overlay, name, section, parts[1:], environ[name])
    return overlay


def _apply_one(overlay: Overlay, name: str, section: str, rest: list[str], value: str) -> None:
    if not rest:
        overlay.problems.append(f"{name}: names a whole section; name an option, as in {PREFIX}{section.upper()}__KEY")
        return
    node: Any = overlay.data
    where: list[str | int] = [section]
    if section in ARRAY_SECTIONS:
        entries = node.get(section)
        matches = [
            index
            for index, entry in enumerate(entries if isinstance(entries, list) else [])
            if isinstance(entry, Mapping) and env_key(str(entry.get("name", ""))) == rest[0].upper()
        ]
        if len(matches) != 1:
            why = "no" if not matches else "more than one"
            overlay.problems.append(
                f"{name}: {why} [[{section}]] entry has a name spelled {rest[0].upper()} "
                "(entries are declared in the file; the environment only changes their options)"
            )
            return
        node = entries[matches[0]]
        where.append(matches[0])
        keys = rest[1:]
        if not keys:
            overlay.problems.append(f"{name}: name an option of that entry, as in {name}__KEY")
            return
    else:
        keys = rest
        keys_node = node.setdefault(section, {})
        if not isinstance(keys_node, dict):
            overlay.problems.append(f"{name}: {section} is not a table in the file")
            return
        node = keys_node
    for index, raw_key in enumerate(keys):
        key = _existing_key(node, raw_key)
        where.append(key)
        if index == len(keys) - 1:
            current = node.get(key)
            if current is None and len(where) == 3 and isinstance(where[1], int):
                typed = TYPED_KEYS.get((section, key))
                current = typed() if typed else None
            try:
                node[key] = _convert(value, current)
            except ValueError as err:
                overlay.problems.append(f"{name}: {err}")
                return
            overlay.origins[path_text(tuple(where))] = f"env:{name}"
            return
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            overlay.problems.append(f"{name}: {path_text(tuple(where))} is not a table")
            return
        node = child


def _existing_key(node: Mapping[str, Any], raw_key: str) -> str:
    """The file's own spelling of a key (template names may have capitals), else the lower-case key."""
    for key in node:
        if env_key(str(key)) == raw_key.upper():
            return str(key)
    return raw_key.lower()


def _convert(text: str, current: Any) -> Any:
    stripped = text.strip()
    if isinstance(current, bool):
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true or false")
    if isinstance(current, int):
        try:
            return int(stripped)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if isinstance(current, float):
        try:
            return float(stripped)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if isinstance(current, list) or stripped.startswith(("[", "{")):
        try:
            return tomllib.loads(f"value = {stripped}")["value"]
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f'not a TOML array or inline table (write lists as ["a", "b"]): {err}') from None
    return text


def _copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(item) for item in node]
    return node


def lookup(data: Mapping[str, Any], parts: tuple[str | int, ...]) -> tuple[bool, Any]:
    """Whether ``parts`` exists in ``data`` (found, value)."""
    node: Any = data
    for part in parts:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False, None
        elif not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def origin_of(parts: tuple[str | int, ...], raw: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """``env:VARIABLE``, ``file`` or ``default`` for one option."""
    text = path_text(parts)
    if text in origins:
        return origins[text]
    found, _ = lookup(raw, parts)
    return FILE if found else DEFAULT


def walk_values(node: Any, parts: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every leaf value under ``node`` with its path (lists of plain values count as one leaf)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from walk_values(value, (*parts, str(key)))
    elif isinstance(node, list) and any(isinstance(item, Mapping) for item in node):
        for index, item in enumerate(node):
            yield from walk_values(item, (*parts, index))
    else:
        yield parts, node


def effective_values(config: Any) -> list[tuple[str, Any, str]]:
    """(option path, value in force, origin) for every option of a loaded Config, defaults included."""
    from pydantic import BaseModel

    rows: list[tuple[tuple[str | int, ...], Any]] = []
    for section in ("database", "web", "classifier", "daemon", "linking", "retention", "tickets", "workers"):
        for key, value in getattr(config, section).model_dump().items():
            rows.append(((section, key), value))
    for priority, target in config.sla.items():
        for key, value in target.model_dump().items():
            rows.append((("sla", priority, key), value))
    for index, source in enumerate(config.sources):
        for key in ("name", "type", "interval", "enabled", "tags", "group"):
            rows.append((("sources", index, key), getattr(source, key)))
        if isinstance(source.options, BaseModel):
            for key, value in source.options.model_dump().items():
                rows.append((("sources", index, key), value))
    for index, hook in enumerate(config.webhooks):
        for key, value in hook.model_dump().items():
            rows.append((("webhooks", index, key), value))
    for name, texts in config.templates.items():
        for language, text in texts.items():
            rows.append((("templates", name, language), text))
    for index, rule in enumerate(config.rules):
        for parts, value in walk_values(rule, ("rules", index)):
            rows.append((parts, value))
    return [(path_text(parts), value, origin_of(parts, config.raw, config.origins)) for parts, value in rows]
