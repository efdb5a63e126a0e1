"""The data and the Lightning module of detector training (``condet detect-train``).

:class:`SeededDetectionBatches` serves the labelled images flipped at random with a seed per
step; :class:`DetectorModule` is torchvision's Faster R-CNN, which returns its own losses, made
of small steps (losses, logging) that the teacher–student module reuses;
:class:`PeriodicEvaluation` scores the test split during training.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch.utils.data import Dataset

from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, detection_collate
from condet.evaluation.detectors import evaluate_detector
from condet.models.detector import detector_from_config
from condet.models.focal_heads import FocalLossRoIHeads
from condet.train.optim import make_optimizer
from condet.train.schedule import cosine_schedule


class SeededDetectionBatches(Dataset):
    """Batches of a :class:`DetectionDataset` keyed by ``(step, indices)``.

    The random transforms of a batch (the flips) are seeded by its step, so a resumed run
    trains on exactly the batches it would have.
    """

    def __init__(self, dataset: DetectionDataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, list[int]]) -> tuple[list[Any], list[Any]]:
        step, indices = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            return detection_collate([self.dataset[index] for index in indices])


class DetectorModule(L.LightningModule):
    """torchvision's Faster R-CNN, trained on the sum of its RPN and box-head losses."""

    def __init__(self, config: dict[str, Any], num_classes: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.model = detector_from_config(config, num_classes)
        if config.get("focal_gamma"):
            self.model.roi_heads = FocalLossRoIHeads(self.model.roi_heads, config["focal_gamma"])
        if config.get("channels_last"):
            self.model.to(memory_format=torch.channels_last)
        self.steps_per_epoch = steps_per_epoch

    def training_step(self, batch: tuple[list[Any], list[Any]], batch_index: int):
        images, targets = batch
        losses = self.detection_losses(images, targets)
        loss = sum(losses.values())
        self.log_losses(loss, losses, len(images))
        return loss

    def detection_losses(self, images: list[Any], targets: list[Any]) -> dict[str, torch.Tensor]:
        """The detector's RPN and box-head losses on ``images`` and their ``targets``."""
        targets = [{"boxes": t["boxes"], "labels": self._labels(t["labels"])} for t in targets]
        return self.model(images, targets)

    def log_losses(self, loss: torch.Tensor, losses: dict[str, torch.Tensor], batch: int) -> None:
        """Stop on a loss that is not finite; log it, its parts and the learning rate."""
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the detection loss is {loss.item()} at step {self.global_step}; lower --lr "
                "or set --clip-grad-norm (train/grad_norm in the run's logs shows it rising)"
            )
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, batch_size=batch)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning clips after this hook: the norm logged is the one a run diverges with (the
        # trained network's; under a sharded strategy, this process's shard's)
        gradients = [weight.grad for weight in self.model.parameters() if weight.grad is not None]
        self.log("train/grad_norm", torch.nn.utils.get_total_norm(gradients), on_step=True)

    def detector(self) -> torch.nn.Module:
        """The network this run evaluates and saves."""
        return self.model

    def _labels(self, labels: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(labels) if self.config["class_agnostic"] else labels

    def configure_optimizers(self):
        config = self.config
        lr = config["lr"] * config["batch_size"] * self.trainer.world_size / 16
        optimizer = make_optimizer(self.model, "sgd", lr, config["weight_decay"])
        schedule = cosine_schedule(optimizer, config, self.steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


class PeriodicEvaluation(L.Callback):
    """Evaluates on the test split every ``every`` epochs (rank 0), logging the metrics."""

    def __init__(
        self,
        test: Annotations,
        every: int,
        score_threshold: float,
        class_agnostic: bool,
        localization_threshold: float = 0.5,
    ) -> None:
        self.test, self.every = test, every
        self.score_threshold, self.class_agnostic = score_threshold, class_agnostic
        self.localization_threshold = localization_threshold

    def on_train_epoch_end(self, trainer: L.Trainer, module: DetectorModule) -> None:
        epoch = trainer.current_epoch + 1
        if self.every <= 0 or epoch % self.every or epoch == trainer.max_epochs:
            return
        if trainer.is_global_zero:
            metrics = evaluate_detector(
                module.detector(),
                self.test,
                self.score_threshold,
                self.class_agnostic,
                progress=False,
                localization_threshold=self.localization_threshold,
            )
            for key in ("AP50_voc07", "AP", "AP50", "AP75", "mean_iou"):
                module.log(f"test/{key}", metrics[key], rank_zero_only=True)
