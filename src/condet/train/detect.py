"""Faster R-CNN fine-tuning at a label fraction, and its evaluation (``condet detect-train``).

:func:`run_detect_train` reads the data (the labelled fraction of the training split, and for
``--semi`` the unlabelled rest), trains :mod:`~condet.train.detector_module`'s module (or the
teacher–student one of :mod:`~condet.train.semi_supervised`) through the shared
:func:`~condet.train.fit.fit`, and evaluates with
:func:`~condet.evaluation.detectors.evaluate_detector` in a run folder.

    condet detect-train --data ../shared/data/bccd/BCCD --split train --test-split test \
        --backbone resnet18 --weights runs/simclr-bccd --label-fraction 0.1 --out runs/det
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import Dataset

from condet.config.detect import DetectConfig
from condet.data.datasets import DetectionDataset
from condet.data.detection_transforms import detection_transforms
from condet.data.load import DataSets
from condet.data.splits import (
    ignore_classes,
    labelled_indices,
    refuse_shared_images,
    withhold_classes,
)
from condet.data.unlabelled import images_without_labels, unlabelled_pool
from condet.errors import CondetError
from condet.evaluation.detectors import detector_metrics_markdown, evaluate_detector
from condet.io import write_text_atomic
from condet.models.detector import DETECTOR_KEYS
from condet.models.weights import save_weights
from condet.run_folder import prepare_run_folder, write_metrics
from condet.train.detector_module import DetectorModule, PeriodicEvaluation, SeededDetectionBatches
from condet.train.fit import fit
from condet.train.semi_supervised.prepare import semi_summary, semi_supervised_batches
from condet.train.semi_supervised.teacher_student import SEMI_KEYS, TeacherStudentModule

logger = logging.getLogger("condet")


def run_detect_train(config: DetectConfig, callbacks: list[L.Callback] | None = None) -> Path:
    """Train, evaluate on the test split, and write the run folder; returns it."""
    run = prepare_run_folder(config, "detect-train")
    data = DataSets(config.strict, progress=config.progress)
    train = data.load(config.data, config.split, image_root=config.images)
    test = data.load(
        config.test_data or config.data,
        config.test_split,
        image_root=config.test_images,
        classes=train.classes,
    )
    if config.withhold:
        train, test = (
            withhold_classes(train, config.withhold),
            ignore_classes(test, config.withhold),
        )
        if not train.num_objects:
            raise CondetError(
                f"--withhold {' '.join(config.withhold)} leaves no boxes to train on in the "
                f"split {config.split!r}"
            )
    labelled_ids = labelled_indices(
        train, config.label_fraction, config.labeled_images, config.seed
    )
    labelled = train.subset(labelled_ids)
    extra = (
        images_without_labels(config.unlabeled, config.unlabeled_split)
        if config.semi != "none" and config.unlabeled is not None
        else []
    )
    # a teacher–student run learns from every training image, labelled or not
    trained_on = labelled if config.semi == "none" else [*train, *extra]
    refuse_shared_images(
        trained_on,
        test,
        "give the test images with --test-data (and --test-images), or a --test-split of "
        "other images",
    )
    skipped = data.report(run)
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
    metrics: dict[str, Any] = {}
    if config.semi == "none":
        batches: Dataset = SeededDetectionBatches(dataset, config.seed)
        module_class: type[DetectorModule] = DetectorModule
    else:
        pool = unlabelled_pool(train, labelled_ids, extra)
        batches, metrics = semi_supervised_batches(
            config, run, dataset, pool, train.classes, module_config
        )
        module_class = TeacherStudentModule
    trainer, module = fit(
        config,
        run,
        batches,
        lambda steps_per_epoch: module_class(module_config, len(train.classes), steps_per_epoch),
        callbacks=[evaluation, *(callbacks or [])],
        clip_grad_norm=config.clip_grad_norm,
    )
    if trainer.is_global_zero:
        metadata = {"config": module_config, "classes": train.classes}
        save_weights(run / "detector.safetensors", module.detector().state_dict(), metadata)
        metrics = (
            evaluate_detector(
                module.detector(),
                test,
                config.score_threshold,
                config.class_agnostic,
                progress=config.progress,
                pr_curves=run / "pr_curves.png",
                localization_threshold=config.localization_threshold,
            )
            | metrics
        )
        metrics |= {
            "train_images": len(labelled),
            "train_objects": labelled.num_objects,
            "train_classes": sum(count > 0 for count in labelled.object_counts().values()),
            "label_fraction": len(labelled) / len(train)
            if config.labeled_images
            else config.label_fraction,
            "skipped": skipped,
        }
        if config.semi != "none":
            metrics["semi"] = semi_summary(module_config, len(batches.unlabelled), run)
        write_metrics(run, metrics)
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
        "focal_gamma",
        "withhold",
        *DETECTOR_KEYS,
        *SEMI_KEYS,
    )
    return {key: _plain(getattr(config, key)) for key in keys}


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
