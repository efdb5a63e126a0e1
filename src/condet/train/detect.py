"""Faster R-CNN fine-tuning at a label fraction, and its evaluation (``condet detect-train``).

Read top to bottom: the data (the labelled fraction of the training split, flipped at random
with a seed per step), the Lightning module (torchvision's Faster R-CNN, which returns its own
losses), :func:`evaluate_detector` (VOC AP50, COCO AP/AP50/AP75, mean IoU and localization
accuracy, PR curves), and :func:`detect_train`, which ties them together in a run folder.

    condet detect-train --data ../shared/data/bccd/BCCD --split train --test-split test \
        --backbone resnet18 --weights runs/simclr-bccd --label-fraction 0.1 --out runs/det
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset, continuous_boxes, detection_collate
from condet.data.skipped import SkippedRecords
from condet.data.splits import label_fraction_subset
from condet.data.transforms import detection_transforms
from condet.evaluation.detection import (
    coco_ap,
    localization_metrics,
    per_class_table,
    plot_pr_curves,
    voc_ap,
)
from condet.io import atomic_path, write_text_atomic
from condet.models.detector import DETECTOR_KEYS, detector_from_config
from condet.train.common import (
    ResumableLoader,
    StepBatchSampler,
    cosine_with_warmup,
    make_trainer,
    prepare_run_folder,
    quiet_lightning,
)
from condet.train.optim import make_optimizer

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
        total = config["epochs"] * self.steps_per_epoch
        warmup = min(config["warmup_steps"], max(1, total // 5))
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


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


@torch.inference_mode()
def predict(
    model: torch.nn.Module, annotations: Annotations, batch_size: int = 4, progress: bool = True
) -> list[dict[str, np.ndarray]]:
    """The model's detections on every image of ``annotations`` (continuous coordinates)."""
    was_training = model.training
    model.eval()
    dataset = DetectionDataset(annotations, detection_transforms(train=False))
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=detection_collate)
    device = next(model.parameters()).device
    detections = []
    for images, _ in tqdm(
        loader, desc="detecting", unit="batch", disable=not progress, leave=False
    ):
        for output in model([image.to(device) for image in images]):
            detections.append({key: value.cpu().numpy() for key, value in output.items()})
    model.train(was_training)
    return detections


def evaluate_detector(
    model: torch.nn.Module,
    test: Annotations,
    score_threshold: float = 0.05,
    class_agnostic: bool = False,
    progress: bool = True,
    pr_curves: Path | None = None,
    localization_threshold: float = 0.5,
) -> dict[str, Any]:
    """VOC AP50 (11-point and all-point), COCO AP/AP50/AP75, mean IoU, localization accuracy.

    VOC AP compares with the boxes as annotated (VOC's 1-based pixels), detections moved back
    to that convention as detectron2 does; COCO AP and localization use continuous coordinates.
    Crowd boxes count as difficult. With ``class_agnostic`` every box is of class "object".
    Detections below ``score_threshold`` are dropped; of the rest, those scoring at least
    ``localization_threshold`` are matched for mean IoU and localization accuracy (see
    :func:`~condet.evaluation.detection.localization_metrics`).
    """
    detections = predict(model, test, progress=progress)
    offset = 1.0 if test.one_based else 0.0
    voc_gts, continuous_gts, voc_dets, continuous_dets = [], [], [], []
    for image, found in zip(test, detections, strict=True):
        keep = found["scores"] >= score_threshold
        labels = found["labels"][keep] - 1  # torchvision's 0 is the background
        gt_labels = np.zeros_like(image.labels) if class_agnostic else image.labels
        ignored = image.difficult | image.iscrowd
        voc_gts.append({"boxes": image.boxes, "labels": gt_labels, "difficult": ignored})
        continuous_gts.append(
            {
                "boxes": continuous_boxes(image, test.one_based),
                "labels": gt_labels,
                "difficult": ignored,
            }
        )
        boxes = found["boxes"][keep]
        continuous_dets.append({"boxes": boxes, "scores": found["scores"][keep], "labels": labels})
        voc_dets.append(
            {
                "boxes": boxes + np.array([offset, offset, 0.0, 0.0]),
                "scores": found["scores"][keep],
                "labels": labels,
            }
        )
    voc07 = voc_ap(voc_gts, voc_dets, use_07_metric=True)
    metrics: dict[str, Any] = {
        "AP50_voc07": voc07["mAP"],
        "AP50_voc_all_point": voc_ap(voc_gts, voc_dets, use_07_metric=False)["mAP"],
        **coco_ap(continuous_gts, continuous_dets),
        **localization_metrics(
            continuous_gts,
            continuous_dets,
            class_aware=True,
            score_threshold=localization_threshold,
        ),
        "per_class_AP50_voc07": {
            ("object" if class_agnostic else test.classes[label]): ap
            for label, ap in voc07["per_class"].items()
        },
        "test_images": len(test),
        "test_objects": test.num_objects,
    }
    if pr_curves is not None:
        classes = ["object"] if class_agnostic else test.classes
        plot_pr_curves(voc_gts, voc_dets, classes, pr_curves)
    return metrics


def metrics_table(metrics: dict[str, Any]) -> str:
    """The headline detection metrics as a Markdown table, then per-class AP50."""
    keys = [
        "AP50_voc07",
        "AP50_voc_all_point",
        "AP",
        "AP50",
        "AP75",
        "mean_iou",
        "loc_acc@0.5",
        "loc_acc@0.7",
        "det_loc_acc@0.5",
        "corloc@0.5",
    ]
    # -1 is COCO's "no objects of this size", not a score
    cells = ["–" if metrics[key] == -1 else f"{metrics[key]:.3f}" for key in keys]
    lines = [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(cells) + " |",
        "",
    ]
    per_class = metrics["per_class_AP50_voc07"]
    table = per_class_table(dict(enumerate(per_class.values())), list(per_class))
    return "\n".join(lines) + table


def detect_train(config: DetectConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train, evaluate on the test split, and write the run folder; returns it."""
    quiet_lightning()
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
    labelled = label_fraction_subset(train, config.label_fraction, seed=config.seed)
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
    trainer = make_trainer(
        config,
        run,
        max_epochs=config.epochs,
        callbacks=[evaluation, *(callbacks or [])],
        log_every=max(1, min(10, len(labelled) // config.batch_size)),
        clip_grad_norm=config.clip_grad_norm,
    )
    sampler = StepBatchSampler(
        len(dataset),
        config.batch_size,
        config.seed,
        steps_done=lambda: trainer.global_step,
        rank=trainer.global_rank,
        world=trainer.world_size,
    )
    loader = ResumableLoader(
        SeededDetectionBatches(dataset, config.seed),
        sampler,
        num_workers=config.workers,
        persistent_workers=config.workers > 0,
    )
    L.seed_everything(config.seed, workers=True, verbose=False)
    module = DetectorModule(_module_config(config), len(train.classes), len(sampler))
    checkpoint = run / "checkpoints" / "last.ckpt"
    trainer.fit(module, train_dataloaders=loader, ckpt_path=checkpoint if config.resume else None)
    if trainer.is_global_zero:
        with atomic_path(run / "detector.pt") as temporary:
            torch.save(
                {
                    "config": _module_config(config),
                    "classes": train.classes,
                    "state_dict": module.model.state_dict(),
                },
                temporary,
            )
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
            "label_fraction": config.label_fraction,
            "skipped": skipped,
        }
        write_text_atomic(run / "metrics.json", json.dumps(metrics, indent=2))
        write_text_atomic(run / "metrics.md", metrics_table(metrics))
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
