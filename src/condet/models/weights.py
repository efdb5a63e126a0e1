"""One weights format for backbones, detectors and crop encoders: safetensors with metadata.

A weights file holds a state dict as safetensors tensors and, in the safetensors header's
metadata, one entry ``condet``: a JSON object of everything saved with the weights (the
config, class names, normalisation ...). A tensor saved with them (an encoder's class
prototypes) is stored beside the state dict as the tensor ``metadata:NAME``; the ``:`` cannot
occur in a module's parameter names. Reading unpickles nothing.

Files written before this format (``detector.pt``, ``encoder.pt``: one ``torch.save``
dictionary of ``state_dict`` and the rest) are read by :func:`load_weights` too, with
``weights_only=True``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from condet.io import atomic_path

METADATA_ENTRY = "condet"
TENSOR_PREFIX = "metadata:"


def save_weights(
    path: str | Path, state_dict: Mapping[str, Tensor], metadata: Mapping[str, Any]
) -> Path:
    """Write ``state_dict`` and ``metadata`` (JSON values, or tensors) to ``path`` atomically."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
    described: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, Tensor):
            tensors[TENSOR_PREFIX + key] = value.detach().cpu().contiguous()
        else:
            described[key] = value
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata={METADATA_ENTRY: json.dumps(described)})
    return Path(path)


def load_weights(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The state dict and metadata of a weights file (or of an older condet ``.pt`` file).

    A safetensors file that another tool wrote has no ``condet`` entry: its metadata is then
    the header's own string entries.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        return _load_pickled_dictionary(path)
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    metadata = json.loads(header[METADATA_ENTRY]) if METADATA_ENTRY in header else dict(header)
    for key in [key for key in tensors if key.startswith(TENSOR_PREFIX)]:
        metadata[key.removeprefix(TENSOR_PREFIX)] = tensors.pop(key)
    return tensors, metadata


def _load_pickled_dictionary(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``detector.pt`` / ``encoder.pt`` as condet wrote them before: ``torch.save`` of a dict
    with the ``state_dict`` and the rest."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        raise ValueError("expected a dictionary with a state_dict")
    metadata = dict(saved)
    return metadata.pop("state_dict"), metadata
