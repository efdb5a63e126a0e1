"""Seeding the global random generator by the training step, so that a resumed run draws what
an uninterrupted one would.

Some layers draw from the global generator inside the training step: torchvision's proposal
and RoI samplers, and EfficientNet-Lite's drop-connect (``efficientnet-lite-pytorch`` calls
``torch.rand``). Lightning does not keep the generator's state in a checkpoint, and restoring
it would not be enough: the state a step starts from also depends on what ran between
checkpoints. Seeding each step from ``(seed, step, process)`` makes those draws a function of
the step alone. :func:`~condet.train.fit.fit` gives every trainer a :class:`SeedEachStep`.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch


def seed_global_generator(seed: int, step: int, rank: int) -> None:
    """Seed the global generator (CPU and every GPU) for training step ``step`` of process
    ``rank`` of a run seeded ``seed``; distinct for every (seed, step, rank) below 64 ranks."""
    torch.manual_seed((seed * 1_000_003 + step) * 64 + rank)


class SeedEachStep(L.Callback):
    """Seeds the global generator before each training step by (``seed``, step, process):
    Lightning calls this hook after the batch has reached its device and before the step."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_index: int
    ) -> None:
        seed_global_generator(self.seed, trainer.global_step, trainer.global_rank)
