"""Every connector class in connectors/ is registered as a ``socialcrm.connectors`` entry point, and back."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from datetime import timedelta
from importlib.metadata import entry_points

import pytest

import connectors
from connectors.base import ConnectorOptions, ReplyPolicy

SOCIAL = {"reddit", "mastodon", "bluesky", "discourse", "hackernews"}


def defined_connectors() -> dict[str, str]:
    """``kind -> module:Class`` for every class in a public connectors module that looks like a connector."""
    found: dict[str, str] = {}
    for info in pkgutil.iter_modules(connectors.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"connectors.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            if isinstance(getattr(cls, "kind", None), str) and inspect.iscoroutinefunction(getattr(cls, "fetch", None)):
                found[cls.kind] = f"{module.__name__}:{name}"
    return found


def registered() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="socialcrm.connectors")}


def test_every_connector_module_is_registered() -> None:
    defined = defined_connectors()
    assert SOCIAL <= set(defined)
    missing = {kind: target for kind, target in defined.items() if registered().get(kind) != target}
    assert not missing, f"connectors without a matching entry point in pyproject.toml: {missing}"


def test_every_entry_point_loads_a_connector_of_that_kind() -> None:
    for ep in entry_points(group="socialcrm.connectors"):
        cls = ep.load()
        assert cls.kind == ep.name
        assert issubclass(cls.Options, ConnectorOptions)
        assert isinstance(cls.reply_policy, ReplyPolicy)
        assert isinstance(cls.min_interval, timedelta)


@pytest.mark.parametrize("kind", sorted(SOCIAL))
def test_social_connectors_keep_the_contract(kind: str) -> None:
    cls = next(ep for ep in entry_points(group="socialcrm.connectors") if ep.name == kind).load()
    assert cls.min_interval >= timedelta(seconds=60), "cloud services are polled at most once a minute"
    for method in ("fetch", "reply", "find_reply", "aclose"):
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{kind}.{method} must be async"
    params = list(inspect.signature(cls.__init__).parameters)
    assert params[1:4] == ["name", "options", "http"]
    assert cls.reply_policy.can_reply == (kind != "hackernews")
    if cls.reply_policy.can_reply:
        assert cls.reply_policy.max_length and cls.reply_policy.note
    with pytest.raises(ValueError, match="[Ee]xtra inputs"):
        cls.Options.model_validate({"definitely_not_an_option": 1})
    words = ("secret", "password", "token", "api_key")
    secrets = [f for f in cls.Options.model_fields if any(w in f for w in words)]
    assert all(f.endswith("_env") for f in secrets), f"secrets must be *_env options: {secrets}"
