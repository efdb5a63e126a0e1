"""Object-crop encoders: SupCon, RINCE, ranked InfoNCE or cross-entropy (``condet classify-train``).

The contrastive-detection report's system, one training loop for every loss so comparisons
are fair: ground-truth boxes are cropped once (cached), each step makes two augmented crops of
every object (batched, seeded by the step), and the encoder
(:class:`~condet.models.encoder.CropEncoder`) is trained with the chosen loss. Then it is
evaluated on the test split by :func:`~condet.evaluation.encoders.evaluate_encoder`: known-class
top-1 / top-3 and, with ``--withhold``, how well the withheld classes are told apart.

    condet classify-train --data ../shared/data/aquarium/data.yaml --loss ranked \
        --rankings configs/rankings/aquarium.yaml --r 3 --withhold puffin stingray --out runs/c
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from condet.config.classify import ClassifyConfig
from condet.data.cache import default_cache_dir
from condet.data.load import DataSets
from condet.data.normalize import Normalize
from condet.data.splits import known_class_ids
from condet.data.views import LabelledTwoViews, TwoViews, crop_augmentation
from condet.evaluation.encoders import (
    crop_mean_std,
    encoder_results_markdown,
    evaluate_encoder,
    known_bank,
    recompute_batchnorm_statistics,
)
from condet.evaluation.ood import acceptance_threshold, class_prototypes
from condet.io import write_text_atomic
from condet.losses import (
    ranked_infonce_loss,
    supcon_loss,
)
from condet.losses.queue import LabelledQueue
from condet.models.backbones import input_normalization
from condet.models.encoder import CropEncoder
from condet.models.weights import save_weights
from condet.run_folder import prepare_run_folder, write_metrics
from condet.train.batches import LabelledCrops, StepBatches
from condet.train.crop_splits import load_crops, rank_matrix_for
from condet.train.encoder_evaluation import PeriodicEncoderEvaluation
from condet.train.fit import fit
from condet.train.optim import make_optimizer
from condet.train.schedule import cosine_schedule

logger = logging.getLogger("condet")


class ClassifyModule(L.LightningModule):
    """The crop encoder and its loss; only the loss differs between runs."""

    def __init__(
        self,
        config: dict[str, Any],
        known: list[int],
        rank_matrix: Tensor | None,
        steps_per_epoch: int,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config = config
        contrastive = config["loss"] != "ce"
        outputs = config["projection_dim"] if contrastive else len(known)
        self.encoder = CropEncoder(
            config["backbone"], config["weights"], outputs, contrastive, config["small_input_stem"]
        )
        # cross-entropy predicts among the known classes only: map class ids to 0..K-1
        to_known = torch.full((config["num_classes"],), -1, dtype=torch.long)
        to_known[torch.tensor(known)] = torch.arange(len(known))
        self.register_buffer("to_known", to_known, persistent=False)
        if rank_matrix is not None:
            self.register_buffer("rank_matrix", rank_matrix, persistent=False)
        self.queue = (
            LabelledQueue(config["queue"], outputs)
            if contrastive and config.get("queue", 0)
            else None
        )
        self.views_on_device: LabelledTwoViews | None = None
        self.steps_per_epoch = steps_per_epoch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.views_on_device is not None:
            crops_and_labels, step = batch
            return self.views_on_device.to(crops_and_labels[0].device)(crops_and_labels, step)
        return batch

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_index: int) -> Tensor:
        first, second, labels = batch
        outputs = self.encoder(torch.cat([first, second]))
        loss = self.loss(outputs, labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss is {loss.item()} at step {self.global_step}")
        if self.queue is not None:
            self.queue.push(F.normalize(outputs, dim=1), labels.repeat(2))
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True)
        return loss

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        config = self.config
        if config["loss"] == "ce":
            return F.cross_entropy(outputs, self.to_known[labels].repeat(2))
        features = torch.stack(outputs.chunk(2), dim=1)  # [N, 2, D]
        gather = self.trainer.world_size > 1
        memory = self.queue.contents() if self.queue is not None else None
        if config["loss"] == "supcon":
            return supcon_loss(features, labels, config["temperatures"][0], gather, memory)
        return ranked_infonce_loss(
            features,
            labels,
            self.rank_matrix,
            config["temperatures"][: self.ranks],
            config["mode"],
            gather,
            memory,
        )

    @property
    def ranks(self) -> int:
        return int(self.rank_matrix.max())

    def configure_optimizers(self):
        config = self.config
        lr = config["lr"] * config["batch_size"] * self.trainer.world_size / 256
        optimizer = make_optimizer(self.encoder, config["optimizer"], lr, config["weight_decay"])
        schedule = cosine_schedule(optimizer, config, self.steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": schedule}


def run_classify_train(config: ClassifyConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train the crop encoder, evaluate it, and write the run folder (``metrics.json`` holds
    the evaluation, as ``results.json``); returns it."""
    run = prepare_run_folder(config, "classify-train")
    cache_dir = config.cache_dir or default_cache_dir()
    data = DataSets(config.strict, cache_dir, progress=config.progress)
    train_crops, test_crops = load_crops(config, data, cache_dir)
    train_annotations = train_crops.annotations
    skipped = data.report(run)
    crops = {"train": train_crops, "test": test_crops}
    classes = train_annotations.classes
    known = known_class_ids(train_annotations)
    dropped = [name for name in train_annotations.withheld if name not in config.withhold]
    rank_matrix = rank_matrix_for(config, classes, list(train_annotations.withheld))
    if config.normalization == "dataset":
        mean, std = crop_mean_std(crops["train"].crops)
    else:
        mean, std = (list(values) for values in input_normalization(config.backbone))
    module_config = _module_config(config, len(classes))
    augment = crop_augmentation(config.crop_size, config.min_scale, mean, std)
    normalize = Normalize(mean, std)
    evaluation = PeriodicEncoderEvaluation(
        crops["train"], crops["test"], known, normalize, config.eval_every
    )
    trainer, module = fit(
        config,
        run,
        StepBatches(LabelledCrops(crops["train"].crops, crops["train"].labels)),
        lambda steps_per_epoch: ClassifyModule(module_config, known, rank_matrix, steps_per_epoch),
        views=lambda rank: LabelledTwoViews(TwoViews(augment, config.seed, rank)),
        callbacks=[evaluation, *(callbacks or [])],
    )
    if trainer.is_global_zero:
        recompute_batchnorm_statistics(module.encoder, crops["train"].crops, normalize)
        bank, bank_labels = known_bank(module.encoder, crops["train"], known, normalize)
        prototypes = class_prototypes(bank, bank_labels, len(classes))
        threshold = acceptance_threshold(bank, bank_labels, prototypes)
        metadata = {
            "config": module_config,
            "classes": classes,
            "known": known,
            "dropped": dropped,
            "mean": mean,
            "std": std,
            "prototypes": prototypes,
            "threshold": threshold,
        }
        save_weights(run / "encoder.safetensors", module.encoder.state_dict(), metadata)
        results = evaluate_encoder(
            module.encoder, bank, bank_labels, crops["test"], known, normalize, run
        )
        results |= {
            "loss": config.loss,
            "withheld": list(config.withhold),
            "dropped": dropped,
            "skipped": skipped,
        }
        write_text_atomic(run / "results.json", json.dumps(results, indent=2))
        write_text_atomic(run / "results.md", encoder_results_markdown(results))
        write_metrics(run, results)
    return run


def _module_config(config: ClassifyConfig, num_classes: int) -> dict[str, Any]:
    keys = (
        "loss",
        "temperatures",
        "mode",
        "backbone",
        "weights",
        "small_input_stem",
        "projection_dim",
        "queue",
        "optimizer",
        "batch_size",
        "epochs",
        "lr",
        "weight_decay",
        "warmup_epochs",
        "crop_size",
        "context",
        "seed",
    )
    return {key: getattr(config, key) for key in keys} | {"num_classes": num_classes}
