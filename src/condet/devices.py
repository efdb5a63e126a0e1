"""The torch device an ``--accelerator`` value names, for the commands that run without
Lightning's trainer (feature evaluation, prediction)."""

from __future__ import annotations

import torch


def accelerator_device(accelerator: str) -> torch.device:
    """``auto`` is the GPU when there is one, else the CPU; ``gpu`` (or ``cuda``) the GPU; any
    other value (``cpu``, ``mps``, ``cuda:1``) the device of that name, as Lightning reads it."""
    if accelerator == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device("cuda" if accelerator == "gpu" else accelerator)
