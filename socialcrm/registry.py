"""Entry-point discovery of connectors and classifiers; a duplicate or unknown kind is an error, never a warning."""

from __future__ import annotations

from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import cast

from connectors import ConnectorFactory
from socialcrm.errors import ConfigError

CONNECTOR_GROUP = "socialcrm.connectors"
CLASSIFIER_GROUP = "socialcrm.classifiers"


def _entry_points(group: str) -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=group):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ConfigError(
                f"two packages register the {group} kind {ep.name!r}: {found[ep.name].value} and {ep.value}"
            )
        found[ep.name] = ep
    return found


def connector_kinds() -> list[str]:
    """Names usable as ``type`` in ``[[sources]]``."""
    return sorted(_entry_points(CONNECTOR_GROUP))


def classifier_kinds() -> list[str]:
    """Names usable as ``kind`` in ``[classifier]``."""
    return sorted(_entry_points(CLASSIFIER_GROUP))


@cache
def load_connector_class(kind: str) -> ConnectorFactory:
    """Import the connector class registered for ``kind``."""
    eps = _entry_points(CONNECTOR_GROUP)
    if kind not in eps:
        raise ConfigError(f"unknown source type {kind!r} (known: {', '.join(sorted(eps))})")
    return cast(ConnectorFactory, eps[kind].load())
