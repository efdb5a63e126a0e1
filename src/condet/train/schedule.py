"""The learning-rate schedule of every training command: linear warm-up, then cosine decay.

The schedule counts optimizer steps. Its warm-up is given in the unit natural to each command,
and :func:`warmup_steps` is the one place that turns it into steps:

- ``pretrain`` and ``classify-train`` take ``--warmup-epochs``: contrastive recipes (SimCLR,
  SupCon) state their warm-up in epochs, and an epoch-relative warm-up keeps its share of the
  run when the data set or batch size changes.
- ``detect-train`` takes ``--warmup-steps``: detection recipes (torchvision's references,
  Detectron2) warm up over a fixed number of iterations, to get the new heads past their first
  large gradients, which does not depend on how many images a label fraction leaves. An
  absolute count can exceed a short run, so it is capped at a fifth of the training steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch


def cosine_with_warmup(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: linear warm-up from 0, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def warmup_steps(config: dict[str, Any], steps_per_epoch: int) -> int:
    """The warm-up of a module config in optimizer steps, from its ``warmup_steps`` (capped at
    a fifth of the run, at least 1) or else its ``warmup_epochs``."""
    if "warmup_steps" in config:
        total = config["epochs"] * steps_per_epoch
        return min(config["warmup_steps"], max(1, total // 5))
    return round(config["warmup_epochs"] * steps_per_epoch)


def cosine_schedule(
    optimizer: torch.optim.Optimizer, config: dict[str, Any], steps_per_epoch: int
) -> dict[str, Any]:
    """Lightning's scheduler entry: :func:`cosine_with_warmup` over the config's ``epochs``,
    stepped every optimizer step."""
    total = config["epochs"] * steps_per_epoch
    factor = cosine_with_warmup(total, warmup_steps(config, steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"scheduler": scheduler, "interval": "step"}
