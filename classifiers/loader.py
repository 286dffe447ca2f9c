"""Build the configured classifier from the ``socialcrm.classifiers`` entry points, with a loud fallback."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from classifiers.base import Classifier, ClassifierError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "socialcrm.classifiers"
LEXICON_KIND = "lexicon"
# Kinds that load model weights and may fall back to the lexicon when the weights cannot load.
MODEL_KINDS = frozenset({"default", "transformers"})


def known_kinds() -> dict[str, EntryPoint]:
    """Every registered classifier kind, by name; a name registered twice is an error."""
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in found and found[entry_point.name].value != entry_point.value:
            raise ClassifierError(
                f"classifier kind {entry_point.name!r} is registered twice: "
                f"{found[entry_point.name].value} and {entry_point.value}"
            )
        found[entry_point.name] = entry_point
    return found


def build_classifier(kind: str, options: Mapping[str, Any]) -> Classifier:
    """Build the classifier ``kind`` with ``options`` (the ``[classifier]`` table minus ``kind``).

    When a model kind cannot load its weights, the lexicon classifier is used instead after a
    WARNING that says why; the option ``fallback = false`` turns that into a ClassifierError.
    """
    kinds = known_kinds()
    if kind not in kinds:
        raise ClassifierError(f"unknown classifier kind {kind!r}; known kinds: {', '.join(sorted(kinds))}")
    fallback = options.get("fallback", True)
    if not isinstance(fallback, bool):
        raise ClassifierError(f"classifier option fallback must be true or false, got {fallback!r}")
    own_options = {key: value for key, value in options.items() if key != "fallback"}
    try:
        factory = kinds[kind].load()
        return factory(own_options)  # type: ignore[no-any-return]
    except (ClassifierError, OSError, ImportError, ValueError, RuntimeError) as err:
        if kind not in MODEL_KINDS or not fallback:
            if isinstance(err, ClassifierError):
                raise
            raise ClassifierError(f"classifier {kind!r} could not load: {err}") from err
        logger.warning(
            "Sentiment model %r could not load (%s); using the %r word-list classifier instead, which is "
            "less accurate. Set fallback = false in [classifier] to make this an error.",
            kind,
            err,
            LEXICON_KIND,
        )
        return kinds[LEXICON_KIND].load()({})  # type: ignore[no-any-return]
