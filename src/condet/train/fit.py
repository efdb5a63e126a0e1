"""The one training set-up that ``pretrain``, ``detect-train`` and ``classify-train`` share.

Each command reads its data, calls :func:`fit` and, on the global-zero process, writes its
outputs from the trained module. :func:`fit` does what lies between, in the same order for all
three: quiet Lightning, make the trainer (:func:`~condet.train.trainer.make_trainer`), the
seeded batch sampler and its resumable loader, seed every generator, build the module, train
(from ``RUN/checkpoints/last.ckpt`` with ``--resume``), seeding the global generator before
each step (:class:`~condet.train.step_seed.SeedEachStep`).

Seeding comes after the data and before the module: decoding may or may not draw random
numbers (a cache hit does not), and the initial weights must not depend on that. The data
order and augmentations have their own seeds (:class:`~condet.train.batches.StepBatchSampler`,
:class:`~condet.data.views.TwoViews`), so they do not depend on it either.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.accelerators import CPUAccelerator
from torch.utils.data import Dataset

from condet.checkpoints import last_checkpoint, previous_checkpoint
from condet.config.training import TrainingOptions
from condet.train.batches import ResumableLoader, StepBatches, StepBatchSampler
from condet.train.step_seed import SeedEachStep
from condet.train.trainer import make_trainer, quiet_lightning


def fit(
    config: TrainingOptions,
    run: Path,
    batches: Dataset,
    make_module: Callable[[int], L.LightningModule],
    *,
    views: Callable[[int], Callable[..., Any]] | None = None,
    callbacks: list[L.Callback] | None = None,
    clip_grad_norm: float = 0.0,
) -> tuple[L.Trainer, L.LightningModule]:
    """Train ``make_module(steps_per_epoch)`` on ``batches`` in ``run``; the trainer and module.

    ``config`` is the command's config: its training options and ``epochs`` and
    ``batch_size``. ``batches`` is keyed by ``(step, indices)``, as the sampler yields them.
    ``views``, when given, makes the seeded two-view transform of a process rank; ``batches``
    is then a :class:`StepBatches` without one, and the views are made in the loader's worker
    processes on a CPU with ``--workers`` (beside the training step), else on the device
    (the module's ``views_on_device``, applied after the batch is moved there). ``callbacks``
    are added to the trainer's; ``clip_grad_norm`` above 0 clips the gradient norm.
    """
    quiet_lightning()
    trainer = make_trainer(
        config,
        run,
        max_epochs=config.epochs,
        callbacks=[SeedEachStep(config.seed), *(callbacks or [])],
        log_every=max(1, min(10, len(batches) // config.batch_size)),
        clip_grad_norm=clip_grad_norm,
    )
    sampler = StepBatchSampler(
        len(batches),
        config.batch_size,
        config.seed,
        steps_done=lambda: trainer.global_step,
        rank=trainer.global_rank,
        world=trainer.world_size,
    )
    shard = getattr(batches, "shard", None)
    if shard is not None:  # a semi-supervised run's unlabelled images: a share per process
        shard(trainer.global_rank, trainer.world_size)
    views_on_device = None
    if views is not None:
        rank_views = views(trainer.global_rank)
        if config.workers > 0 and isinstance(trainer.accelerator, CPUAccelerator):
            batches = StepBatches(batches.images, rank_views)
        else:
            views_on_device = rank_views
    loader = ResumableLoader(
        batches,
        sampler,
        num_workers=config.workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.workers > 0,
    )
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = make_module(len(sampler))
    if views_on_device is not None:
        module.views_on_device = views_on_device
    checkpoint = last_checkpoint(run)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=checkpoint if config.resume else None)
    if trainer.is_global_zero:
        # The previous checkpoint is there for a run stopped while writing the last one; a run
        # that ended wrote it whole (and synced), and a protocol's runs would keep two each.
        previous_checkpoint(checkpoint).unlink(missing_ok=True)
    return trainer, module
