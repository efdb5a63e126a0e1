"""What a ``--semi`` run does around training: check the teacher, make the batches of labelled
and unlabelled images, and sum up what it used (with its pseudo-labels' quality over time)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2

from condet.config.detect import DetectConfig
from condet.data.annotations import Annotations
from condet.data.datasets import DetectionDataset
from condet.data.detection_transforms import detection_transforms
from condet.data.strong_augmentation import StrongAugmentation
from condet.data.unlabelled import UnlabelledPool
from condet.errors import CondetError
from condet.inference import load_detector
from condet.io import atomic_path
from condet.models.detector import DETECTOR_KEYS
from condet.run_folder import read_training_log
from condet.train.semi_supervised.batches import SemiSupervisedBatches
from condet.train.semi_supervised.offline_labels import offline_pseudo_labels
from condet.train.semi_supervised.teacher_student import MEAN_TEACHER, PSEUDO_LABELS, SEMI_KEYS

logger = logging.getLogger("condet")


def check_teacher(run: str | Path, classes: list[str], method: str, config: dict[str, Any]) -> None:
    """One line unless ``run`` is a detector of these ``classes`` (and, for the mean teacher,
    whose network this run continues, of the same architecture)."""
    _, names, saved = load_detector(run)
    if saved["class_agnostic"] != config["class_agnostic"] or (
        not saved["class_agnostic"] and names != list(classes)
    ):
        raise CondetError(
            f"--teacher {run} detects {', '.join(names)}, not this data set's classes "
            f"({', '.join(classes)}); give a detector trained on them"
        )
    if method == MEAN_TEACHER:
        architecture = [key for key in DETECTOR_KEYS if key not in ("weights", "trainable_stages")]
        differ = [key for key in architecture if saved.get(key) != config.get(key)]
        if differ:
            shown = ", ".join(f"{key} {saved.get(key)} (here {config.get(key)})" for key in differ)
            raise CondetError(
                f"--teacher {run} is another network ({shown}); the mean teacher continues it, "
                "so train with the same options"
            )


def unlabelled_dataset(
    images: Annotations, method: str, min_size: int, max_size: int
) -> DetectionDataset:
    """The unlabelled images as training reads them: flipped for the teacher (mean teacher), or
    with their offline pseudo-labels, strongly augmented (STAC) for a detector whose input is
    ``min_size`` / ``max_size``."""
    if method == MEAN_TEACHER:
        return DetectionDataset(images, detection_transforms(train=True))
    strong = v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), StrongAugmentation(min_size, max_size)]
    )
    return DetectionDataset(images, strong)


def semi_supervised_batches(
    config: DetectConfig,
    run: Path,
    labelled: DetectionDataset,
    pool: UnlabelledPool,
    classes: list[str],
    module_config: dict[str, Any],
) -> tuple[SemiSupervisedBatches, dict[str, Any]]:
    """The batches of a ``--semi`` run, and the offline pseudo-labels' quality (STAC) for its
    metrics."""
    if not len(pool):
        raise CondetError(
            f"--semi {config.semi} has no unlabelled images: --label-fraction "
            f"{config.label_fraction} leaves none; lower it or add --unlabeled PATH"
        )
    if config.teacher is not None:
        check_teacher(config.teacher, classes, config.semi, module_config)
    metrics: dict[str, Any] = {}
    images, known = pool.images, pool.known
    if config.semi == PSEUDO_LABELS:
        images, metrics["pseudo_labels"] = offline_pseudo_labels(
            config.teacher,
            pool,
            config.pseudo_threshold,
            run,
            config.batch_size,
            config.progress,
            resume=config.resume,
            class_agnostic=module_config["class_agnostic"],
        )
        known = np.ones(len(pool), dtype=bool)
    logger.info(
        "%s: %d unlabelled images (%d with hidden true boxes)",
        config.semi,
        len(pool),
        int(pool.known.sum()),
    )
    batches = SemiSupervisedBatches(
        labelled,
        unlabelled_dataset(
            images, config.semi, module_config["min_size"], module_config["max_size"]
        ),
        known,
        config.seed,
        config.batch_size * config.unlabeled_ratio,
    )
    return batches, metrics


def semi_summary(module_config: dict[str, Any], unlabelled: int, run: Path) -> dict[str, Any]:
    """What a ``--semi`` run used, and for the mean teacher its pseudo-labels' precision and
    recall at the last epoch, drawn over training in ``RUN/pseudo_labels.png``."""
    summary = {key: module_config[key] for key in SEMI_KEYS} | {"unlabelled_images": unlabelled}
    curves = pseudo_label_curves(run)
    if curves["step"]:
        summary |= {f"last_epoch_{name}": values[-1] for name, values in curves.items()}
        plot_pseudo_labels(curves, run / "pseudo_labels.png")
    return summary


def pseudo_label_curves(run: Path) -> dict[str, list[float]]:
    """The logged ``pseudo/precision`` and ``pseudo/recall`` of each epoch, with the step."""
    curves: dict[str, list[float]] = {"step": [], "precision": [], "recall": []}
    for row in read_training_log(run):
        if row.get("pseudo/precision") and row.get("pseudo/recall"):
            curves["step"].append(float(row["step"]))
            curves["precision"].append(float(row["pseudo/precision"]))
            curves["recall"].append(float(row["pseudo/recall"]))
    return curves


def plot_pseudo_labels(curves: dict[str, list[float]], path: Path) -> None:
    """Precision and recall of the pseudo-labels against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(curves["step"], curves["precision"], marker="o", label="precision")
    axes.plot(curves["step"], curves["recall"], marker="o", label="recall")
    axes.set(xlabel="step", ylabel="share", ylim=(0, 1), title="pseudo-labels vs hidden truth")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=120)
    plt.close(figure)
