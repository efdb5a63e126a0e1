"""Faster R-CNN fine-tuning at a label fraction, and its evaluation (``condet detect-train``).

Read top to bottom: the data (the labelled fraction of the training split, flipped at random
with a seed per step), the Lightning module (torchvision's Faster R-CNN, which returns its own
losses), and :func:`detect_train`, which ties them together in a run folder and evaluates with
:func:`~condet.evaluation.detectors.evaluate_detector`.

    condet detect-train --data ../shared/data/bccd/BCCD --split train --test-split test \
        --backbone resnet18 --weights runs/simclr-bccd --label-fraction 0.1 --out runs/det
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from torch.utils.data import Dataset

from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, detection_collate
from condet.data.skipped import SkippedRecords
from condet.data.splits import labelled_subset
from condet.data.transforms import detection_transforms
from condet.evaluation.detectors import detector_metrics_markdown, evaluate_detector
from condet.io import write_text_atomic
from condet.models.detector import DETECTOR_KEYS, detector_from_config
from condet.models.weights import save_weights
from condet.runs import prepare_run_folder
from condet.train.fit import fit
from condet.train.optim import make_optimizer
from condet.train.schedule import cosine_schedule

if TYPE_CHECKING:
    # the command's config, in annotations only: commands import this module, not the reverse
    from condet.commands.detect import DetectConfig


logger = logging.getLogger("condet")


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
        if config.get("channels_last"):
            self.model.to(memory_format=torch.channels_last)
        self.steps_per_epoch = steps_per_epoch

    def training_step(self, batch: tuple[list[Any], list[Any]], batch_index: int):
        # torchvision's proposal and RoI samplers draw from the global generator: seeded by the
        # step (and process), a resumed run samples exactly what an uninterrupted one would.
        torch.manual_seed(
            (self.config["seed"] * 1_000_003 + self.global_step) * 64 + self.global_rank
        )
        images, targets = batch
        targets = [{"boxes": t["boxes"], "labels": self._labels(t["labels"])} for t in targets]
        losses = self.model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the detection loss is {loss.item()} at step {self.global_step}; lower --lr"
            )
        self.log(
            "train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=len(images)
        )
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, batch_size=len(images))
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

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
                module.model,
                self.test,
                self.score_threshold,
                self.class_agnostic,
                progress=False,
                localization_threshold=self.localization_threshold,
            )
            for key in ("AP50_voc07", "AP", "AP50", "AP75", "mean_iou"):
                module.log(f"test/{key}", metrics[key], rank_zero_only=True)


def detect_train(config: DetectConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train, evaluate on the test split, and write the run folder; returns it."""
    run = prepare_run_folder(config, config, "detect-train")
    data = SkippedRecords(strict=config.strict)
    train = data.load(config.data, config.split, image_root=config.images)
    test = data.load(
        config.test_data or config.data,
        config.test_split,
        image_root=config.test_images,
        classes=train.classes,
    )
    skipped = data.report(run)
    labelled = labelled_subset(train, config.label_fraction, config.labeled_images, config.seed)
    logger.info(
        "training on %d of %d images (%d objects)", len(labelled), len(train), labelled.num_objects
    )
    dataset = DetectionDataset(labelled, detection_transforms(train=True))
    evaluation = PeriodicEvaluation(
        test,
        config.eval_every,
        config.score_threshold,
        config.class_agnostic,
        config.localization_threshold,
    )
    module_config = _module_config(config)
    trainer, module = fit(
        config,
        run,
        SeededDetectionBatches(dataset, config.seed),
        lambda steps_per_epoch: DetectorModule(module_config, len(train.classes), steps_per_epoch),
        callbacks=[evaluation, *(callbacks or [])],
        clip_grad_norm=config.clip_grad_norm,
    )
    if trainer.is_global_zero:
        metadata = {"config": module_config, "classes": train.classes}
        save_weights(run / "detector.safetensors", module.model.state_dict(), metadata)
        metrics = evaluate_detector(
            module.model,
            test,
            config.score_threshold,
            config.class_agnostic,
            progress=config.progress,
            pr_curves=run / "pr_curves.png",
            localization_threshold=config.localization_threshold,
        )
        metrics |= {
            "train_images": len(labelled),
            "train_objects": labelled.num_objects,
            "label_fraction": len(labelled) / len(train)
            if config.labeled_images
            else config.label_fraction,
            "skipped": skipped,
        }
        write_text_atomic(run / "metrics.json", json.dumps(metrics, indent=2))
        write_text_atomic(run / "metrics.md", detector_metrics_markdown(metrics))
    return run


def _module_config(config: DetectConfig) -> dict[str, Any]:
    keys = (
        "batch_size",
        "epochs",
        "lr",
        "weight_decay",
        "warmup_steps",
        "seed",
        "channels_last",
        *DETECTOR_KEYS,
    )
    return {key: getattr(config, key) for key in keys}
