"""One weights format for backbones, detectors and crop encoders: safetensors with metadata.

A weights file holds a state dict as safetensors tensors and, in the safetensors header's
metadata, one entry ``condet``: a JSON object of everything saved with the weights (the
config, class names, normalisation ...). A tensor saved with them (an encoder's class
prototypes) is stored beside the state dict as the tensor ``metadata:NAME``; the ``:`` cannot
occur in a module's parameter names. Reading unpickles nothing.

Files written before this format (``detector.pt``, ``encoder.pt``: one ``torch.save``
dictionary of ``state_dict`` and the rest) are read by :func:`load_weights` too, with
``weights_only=True``; :func:`read_state_dict` reads the weight files other tools write
(torchvision's ``.pth``, Lightning checkpoints), for a backbone's ``--weights FILE``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from condet.errors import CondetError
from condet.io import atomic_path


class WeightsError(CondetError):
    """A weights file that cannot be read, or holds no state dict."""


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


def read_state_dict(path: Path) -> tuple[dict[str, Tensor], str | None]:
    """The tensors of a weights file and the backbone name recorded in it, if any.

    Besides condet's own files, the files others write: a safetensors file of another tool, a
    ``.pth`` state dict (torchvision's downloads) or a Lightning ``.ckpt`` (its ``state_dict``,
    the backbone named in its hyper-parameters' config).
    """
    if path.suffix == ".safetensors":
        try:
            tensors, metadata = load_weights(path)
        except Exception as error:
            raise WeightsError(f"{path}: not a readable safetensors file ({error})") from None
        # Backbones saved before the one weights format recorded their name as condet_backbone.
        return tensors, metadata.get("backbone") or metadata.get("condet_backbone")
    try:
        with warnings.catch_warnings():
            # Torch warns, on a second stderr line, about pickles it is about to refuse.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # Torch's own message spans lines and advises weights_only=False, which would run
        # the file's code: condet never does that, so say only what is wrong.
        raise WeightsError(
            f"{path}: not a plain state dict or checkpoint (it is read with weights_only=True, "
            "so pickled objects are refused)"
        ) from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        hyper_parameters = loaded.get("hyper_parameters") or {}
        config = hyper_parameters.get("config") or {}
        return loaded["state_dict"], config.get("backbone")
    if not isinstance(loaded, dict) or not all(isinstance(v, Tensor) for v in loaded.values()):
        raise WeightsError(f"{path}: expected a state dict (names to tensors)")
    return loaded, None
