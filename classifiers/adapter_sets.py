"""The packaged adapter sets, one per data licence, and what an adapter file says about itself (no torch needed).

``commercial`` is trained only on data whose licence allows commercial use; ``research`` adds sets
that are licensed for non-commercial or research use only (classifiers/MODEL_CARD.md names them).
Each set's folder holds its weights and the LICENSE.md they are distributed under.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierError

LICENCES = ("commercial", "research")
# A company can run the commercial set; the research set's data forbids commercial use.
DEFAULT_LICENCE = "commercial"
ADAPTER_FILE = "sentiment.safetensors"
_MAX_HEADER_BYTES = 100 * 1024 * 1024


def packaged_set_path(licence: str) -> Path:
    """The adapter file of a packaged set ("commercial" or "research")."""
    if licence not in LICENCES:
        raise ClassifierError(f"classifier option licence must be one of {', '.join(LICENCES)}, got {licence!r}")
    return Path(str(resources.files("classifiers").joinpath(f"models/{licence}/{ADAPTER_FILE}")))


def adapter_path(options: Mapping[str, Any]) -> Path:
    """The adapter file the default classifier loads for these options: ``model`` if given, else the licence's set."""
    if options.get("model"):
        return Path(str(options["model"])).expanduser()
    return packaged_set_path(str(options.get("licence", DEFAULT_LICENCE)))


def read_metadata(path: Path) -> dict[str, Any]:
    """The config stored in an adapter file's safetensors header, without loading any tensor."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > _MAX_HEADER_BYTES:
                raise ClassifierError(f"{path}: not a safetensors file (header of {length} bytes)")
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError) as err:
        raise ClassifierError(f"cannot read adapter file {path}: {err}") from err
    metadata = header.get("__metadata__") or {}
    try:
        config = json.loads(metadata.get("config", "{}"))
    except ValueError as err:
        raise ClassifierError(f"{path}: unreadable adapter config: {err}") from err
    return config if isinstance(config, dict) else {}


def model_id(path: Path, set_name: str) -> str:
    """The id mentions record as the model that scored them: the set and a digest of the adapter file."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"e5-small-sentiment-{set_name}@{digest}" if set_name else f"e5-small-sentiment@{digest}"


@dataclass(frozen=True, slots=True)
class AdapterSetInfo:
    """Which adapter file the default classifier runs, the set it belongs to and its licence."""

    path: Path
    set_name: str  # "commercial", "research" or "" for a file trained elsewhere
    licence: str
    model_id: str


def describe(options: Mapping[str, Any]) -> AdapterSetInfo:
    """What the default classifier would load with these ``[classifier]`` options (reads only the file header)."""
    path = adapter_path(options)
    if not path.is_file():
        raise ClassifierError(f"adapter file {path} does not exist")
    config = read_metadata(path)
    set_name = str(config.get("set_name", ""))
    licence = str(config.get("licence", "")) or "not stated in the file"
    return AdapterSetInfo(path, set_name, licence, model_id(path, set_name))
