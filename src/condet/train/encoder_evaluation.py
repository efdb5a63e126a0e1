"""Scoring a crop encoder on the test crops while it trains (``classify-train --eval-every``).

A learning curve for crop encoders, as :class:`~condet.train.detector_module.PeriodicEvaluation`
gives one for detectors: where NCM top-1 and OOD AUROC stop improving is the budget a study
should train every loss for.
"""

from __future__ import annotations

import copy
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins import TorchSyncBatchNorm

from condet.data.crops import ObjectCropDataset
from condet.data.normalize import Normalize
from condet.evaluation.encoders import (
    evaluate_encoder,
    known_bank,
    recompute_batchnorm_statistics,
)


def curve_point(results: dict[str, Any]) -> dict[str, float]:
    """:func:`~condet.evaluation.encoders.evaluate_encoder`'s results as flat scores: top-1 of
    each classifier, the AUROC of each OOD score and the best of them (``best_auroc``)."""
    point = {f"{name}_top1": results[name]["top1"] for name in ("ncm", "knn", "linear")}
    aurocs = {
        "auroc_" + name.lower().replace("-", "").replace(" ", "_"): metrics["auroc"]
        for name, metrics in results.get("ood", {}).items()
    }
    if aurocs:
        point |= aurocs | {"best_auroc": max(aurocs.values())}
    return point


class PeriodicEncoderEvaluation(L.Callback):
    """Every ``every`` epochs but the last (the run's own evaluation scores that one), on the
    global-zero process, scores the encoder as the end of the run does and logs
    :func:`curve_point`'s scores as ``test/...`` in ``logs/metrics.csv``.

    The scoring works on a copy with exact BatchNorm statistics, and under a forked random
    state, so the run trains exactly as it would without it.
    """

    def __init__(
        self,
        train: ObjectCropDataset,
        test: ObjectCropDataset,
        known: list[int],
        normalize: Normalize,
        every: int,
    ) -> None:
        self.train, self.test, self.known = train, test, known
        self.normalize, self.every = normalize, every

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every <= 0 or epoch % self.every or epoch == trainer.max_epochs:
            return
        # --max-steps can end the run inside an epoch; the end of the run scores that one
        stopped_early = 0 < trainer.max_steps <= trainer.global_step
        if stopped_early or not trainer.is_global_zero:
            return
        devices = [module.device] if module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            # plain BatchNorm: SyncBatchNorm would wait for the other processes, which train on
            encoder = TorchSyncBatchNorm().revert(copy.deepcopy(module.encoder))
            recompute_batchnorm_statistics(encoder, self.train.crops, self.normalize)
            bank, bank_labels = known_bank(encoder, self.train, self.known, self.normalize)
            results = evaluate_encoder(
                encoder, bank, bank_labels, self.test, self.known, self.normalize
            )
        for name, value in curve_point(results).items():
            module.log(f"test/{name}", value, rank_zero_only=True)
