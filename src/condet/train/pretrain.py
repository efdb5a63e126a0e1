"""SimCLR pretraining of a backbone on unlabeled images (``condet pretrain``).

Read top to bottom: the Lightning module (backbone + projection head + NT-Xent, two augmented
views made on the device from uint8 batches), and :func:`run_pretrain`, which builds the data
and the run folder, trains with :func:`~condet.train.fit.fit`, and exports
``backbone.safetensors``.

    condet pretrain --data ../shared/data/imagenette2-160/train --backbone resnet18 \
        --image-size 64 --batch-size 128 --epochs 10 --out runs/simclr
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch

from condet.config.pretrain import PretrainConfig
from condet.data.cache import default_cache_dir
from condet.data.crops import ObjectCropDataset
from condet.data.images import ImageTensors, image_paths
from condet.data.load import DataSets
from condet.data.views import SimCLRAugmentation, TwoViews
from condet.io import write_text_atomic
from condet.losses import NTXentLoss
from condet.models.backbones import build_backbone, input_normalization, save_backbone
from condet.models.heads import ProjectionHead
from condet.run_folder import prepare_run_folder, read_training_log, write_metrics
from condet.train.batches import StepBatches
from condet.train.fit import fit
from condet.train.optim import make_optimizer
from condet.train.schedule import cosine_schedule

logger = logging.getLogger("condet")


class SimCLRModule(L.LightningModule):
    """Backbone + projection head trained with NT-Xent on two augmented views per image.

    Batches arrive either as two views made in data-loading workers, or as ``(uint8 images,
    step)``, which :meth:`on_after_batch_transfer` turns into two views on the device.
    """

    def __init__(self, config: dict[str, Any], steps_per_epoch: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        self.backbone = build_backbone(config["backbone"], config["weights"])
        self.head = ProjectionHead(
            self.backbone.out_channels, config["hidden_dim"], config["projection_dim"]
        )
        self.loss = NTXentLoss(config["temperature"])
        self.steps_per_epoch = steps_per_epoch
        self.views_on_device: TwoViews | None = None
        if config["channels_last"]:
            self.to(memory_format=torch.channels_last)

    def setup(self, stage: str) -> None:
        self.loss.gather_distributed = self.trainer.world_size > 1

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> tuple[torch.Tensor, ...]:
        if self.views_on_device is not None:
            images, step = batch
            batch = self.views_on_device.to(images.device)(images, step)
        if self.config["channels_last"]:
            batch = tuple(view.contiguous(memory_format=torch.channels_last) for view in batch)
        return batch

    def training_step(self, views: tuple[torch.Tensor, torch.Tensor], batch_index: int):
        first, second = views
        embeddings = self.head(self.backbone.pool(torch.cat([first, second])))
        z1, z2 = embeddings.chunk(2)
        loss = self.loss(z1, z2)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss is {loss.item()} at step {self.global_step}; lower --lr or use "
                "--precision 32-true"
            )
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

    def configure_optimizers(self):
        config = self.config
        global_batch = config["batch_size"] * self.trainer.world_size
        lr = config["lr"] * global_batch / 256
        optimizer = make_optimizer(
            self,
            config["optimizer"],
            lr,
            config["weight_decay"],
            lr_scales={"backbone": backbone_lr_scale(config)},
        )
        schedule = cosine_schedule(optimizer, config, self.steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def backbone_lr_scale(config: dict[str, Any]) -> float:
    """The backbone's share of the learning rate: all of it from random weights, a tenth when
    continuing from pretrained ones (ImageNet, an earlier run), unless the config says."""
    if config.get("backbone_lr_scale") is not None:
        return config["backbone_lr_scale"]
    return 1.0 if config["weights"] == "random" else 0.1


def pretraining_images(
    config: PretrainConfig, storage_size: int, run: Path
) -> tuple[ImageTensors | ObjectCropDataset, dict[str, Any]]:
    """The training images as uint8 squares of ``storage_size``, decoded once and cached, and
    what reading the data set skipped (reported into ``run`` before anything is decoded, see
    :class:`~condet.data.load.DataSets`; a plain image folder skips nothing)."""
    cache_dir = config.cache_dir or default_cache_dir()
    data = DataSets(config.strict, cache_dir, progress=config.progress)
    if config.crops:
        annotations = data.load(config.data, config.split, image_root=config.images)
        skipped = data.report(run)
        crops = ObjectCropDataset(
            annotations, size=storage_size, cache_dir=cache_dir, progress=config.progress
        )
        return crops, skipped
    paths = image_paths(config.data, config.split, config.images, data=data)
    skipped = data.report(run)
    images = ImageTensors(
        paths, storage_size, cache_dir=cache_dir, workers=config.workers, progress=config.progress
    )
    return images, skipped


def run_pretrain(config: PretrainConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train, then write ``RUN/backbone.safetensors`` and ``RUN/metrics.json`` (the last
    epoch's mean loss); returns the run folder.

    ``callbacks`` are added to the trainer's (to time or inspect a run).
    """
    run = prepare_run_folder(config, "pretrain")
    # Views are cropped from images stored a little larger, as 224 crops come from 256 images.
    dataset, skipped = pretraining_images(
        config, storage_size=round(config.image_size * 8 / 7), run=run
    )
    # Pretraining has no results file; what it trained on is recorded beside its config.
    data = {"crops" if config.crops else "images": len(dataset), "skipped": skipped}
    write_text_atomic(run / "data.json", json.dumps(data, indent=2))
    module_config = _module_config(config)
    if config.weights != "random":
        logger.info(
            "continuing from %s weights; the backbone learns at %g x the head's rate",
            config.weights,
            backbone_lr_scale(module_config),
        )
    mean, std = input_normalization(config.backbone)
    augment = SimCLRAugmentation(config.image_size, mean=mean, std=std)
    trainer, module = fit(
        config,
        run,
        StepBatches(dataset_tensor(dataset)),
        lambda steps_per_epoch: SimCLRModule(module_config, steps_per_epoch),
        views=lambda rank: TwoViews(augment, config.seed, rank),
        callbacks=callbacks,
    )
    if trainer.is_global_zero:
        save_backbone(module.backbone, run / "backbone.safetensors")
        logger.info("backbone written to %s", run / "backbone.safetensors")
        losses = [row["train/loss_epoch"] for row in read_training_log(run)]
        losses = [float(loss) for loss in losses if loss]
        write_metrics(run, {"final_loss": losses[-1]} if losses else {})
    return run


def dataset_tensor(dataset: ImageTensors | ObjectCropDataset) -> torch.Tensor:
    """The uint8 image tensor behind a decoded-image or crop dataset."""
    return dataset.crops if isinstance(dataset, ObjectCropDataset) else dataset.images


def _module_config(config: PretrainConfig) -> dict[str, Any]:
    keys = (
        "backbone",
        "weights",
        "image_size",
        "batch_size",
        "epochs",
        "optimizer",
        "lr",
        "backbone_lr_scale",
        "weight_decay",
        "warmup_epochs",
        "temperature",
        "projection_dim",
        "hidden_dim",
        "channels_last",
        "seed",
    )
    return {key: getattr(config, key) for key in keys}
