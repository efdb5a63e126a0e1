"""Semi-supervised Faster R-CNN: a teacher labels the unlabelled images for a student
(``condet detect-train --semi``).

Every step trains on a batch of labelled images (the supervised loss of ``detect-train``) and a
batch of ``--unlabeled-ratio`` times as many unlabelled ones, whose targets are a teacher's
boxes scoring at least ``--pseudo-threshold``, strongly augmented
(:class:`~condet.data.strong_augmentation.StrongAugmentation`); the loss is the supervised one
plus ``--unsupervised-weight`` times the unsupervised one. Two recipes:

- ``mean-teacher``, Unbiased Teacher (Liu et al., ICLR 2021): after a burn-in on the labelled
  images (``--burn-in-steps``, or a finished detector given as ``--teacher``), the teacher is a
  copy of the student that then follows it as an exponential moving average (``--ema-rate``);
  it labels each unlabelled batch on the fly, flipped only (the weak view), and the student
  learns from the pseudo-labels of the strong view only the RPN's objectness and the box
  classification: their box regression is unreliable, as the paper argues. The teacher is the
  model evaluated and saved.
- ``pseudo-labels``, STAC (Sohn et al. 2020): a finished detector (``--teacher``) labels the
  unlabelled images once (``RUN/pseudo_labels.json``), and a new student trains on them with
  every loss.

Data order and augmentation are functions of the seed and the step, and the teacher is part of
the checkpoint, so ``--resume`` continues exactly, as for supervised training.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from condet.data.annotations import Annotations, ImageAnnotation
from condet.data.datasets import DetectionDataset, continuous_boxes, detection_collate
from condet.data.strong_augmentation import StrongAugmentation
from condet.data.transforms import detection_transforms
from condet.data.unlabelled import UnlabelledPool
from condet.errors import CondetError
from condet.evaluation.pseudo_labels import PseudoLabelCounts, pseudo_label_quality
from condet.inference import predict_images
from condet.io import write_text_atomic
from condet.train.detector_module import DetectorModule

logger = logging.getLogger("condet")

MEAN_TEACHER, PSEUDO_LABELS = "mean-teacher", "pseudo-labels"
# The losses a student learns from pseudo-labels: Unbiased Teacher leaves out box regression.
UNSUPERVISED_LOSSES = {
    MEAN_TEACHER: ("loss_objectness", "loss_classifier"),
    PSEUDO_LABELS: ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"),
}
PSEUDO_LABELS_FILE = "pseudo_labels.json"
# detect-train's options the teacher–student module reads (its config beside the detector's)
SEMI_KEYS = (
    "semi",
    "teacher",
    "pseudo_threshold",
    "unsupervised_weight",
    "unlabeled_ratio",
    "ema_rate",
    "burn_in_steps",
)


class SemiSupervisedBatches(Dataset):
    """``(labelled batch, unlabelled batch)`` keyed by ``(step, labelled indices)``.

    The labelled batch is what supervised training gets at that step; the unlabelled batch is
    ``unlabelled_batch`` images of a seeded permutation of the pool per pass over it (process
    ``r`` of ``w`` takes every ``w``-th: each labels its own shard), flipped at random with a
    seed per step. Each unlabelled target carries ``known``: whether its boxes (the true boxes
    a label fraction hid, or offline pseudo-labels) may be used.
    """

    def __init__(
        self,
        labelled: DetectionDataset,
        unlabelled: DetectionDataset,
        known: np.ndarray,
        seed: int,
        unlabelled_batch: int,
    ) -> None:
        if len(unlabelled) < unlabelled_batch:
            raise CondetError(
                f"{len(unlabelled)} unlabelled images cannot fill a batch of {unlabelled_batch}; "
                "lower --batch-size or --unlabeled-ratio"
            )
        self.labelled, self.unlabelled, self.known = labelled, unlabelled, known
        self.seed, self.unlabelled_batch = seed, unlabelled_batch
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> None:
        """Take process ``rank``'s share of the unlabelled images (``fit`` calls this)."""
        if len(self.unlabelled) // world < self.unlabelled_batch:
            raise CondetError(
                f"{len(self.unlabelled)} unlabelled images over {world} processes cannot fill a "
                f"batch of {self.unlabelled_batch} each; lower --batch-size or --unlabeled-ratio"
            )
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self.labelled)

    def __getitem__(self, key: tuple[int, list[int]]) -> tuple[Any, Any]:
        step, indices = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            labelled = detection_collate([self.labelled[index] for index in indices])
        per_pass = len(self.unlabelled) // self.world // self.unlabelled_batch
        passes, position = divmod(step, per_pass)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 500_009 + passes)
        order = torch.randperm(len(self.unlabelled), generator=generator)[self.rank :: self.world]
        chosen = order[position * self.unlabelled_batch : (position + 1) * self.unlabelled_batch]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + step) * 7 + 3)
            images, targets = detection_collate([self.unlabelled[int(i)] for i in chosen])
        for target, index in zip(targets, chosen.tolist(), strict=True):
            target["known"] = bool(self.known[index])
        return labelled, (images, targets)


class TeacherStudentModule(DetectorModule):
    """The student (``model``, trained) and, for ``mean-teacher``, its EMA ``teacher``."""

    def __init__(self, config: dict[str, Any], num_classes: int, steps_per_epoch: int) -> None:
        super().__init__(config, num_classes, steps_per_epoch)
        self.method = config["semi"]
        self.teacher: torch.nn.Module | None = None
        if self.method == MEAN_TEACHER:
            if config["teacher"]:
                self.model.load_state_dict(teacher_weights(config["teacher"]))
            self.teacher = copy.deepcopy(self.model).requires_grad_(False)
        self.strong = StrongAugmentation()
        self.counts = PseudoLabelCounts()

    def on_fit_start(self) -> None:
        """Resolve the burn-in: none from a finished teacher or with offline pseudo-labels,
        else half the run (Unbiased Teacher's 2000 of 180 000 steps does not carry over to
        runs of a thousand: the teacher must be worth following when it starts)."""
        if self.config["burn_in_steps"] is None:
            started = self.method == PSEUDO_LABELS or self.config["teacher"]
            steps = self.trainer.estimated_stepping_batches
            self.config["burn_in_steps"] = 0 if started else int(steps) // 2

    def training_step(self, batch: tuple[Any, Any], batch_index: int):
        self.seed_samplers()
        (images, targets), unlabelled = batch
        losses = self.detection_losses(images, targets)
        loss = sum(losses.values())
        if self.global_step >= self.config["burn_in_steps"]:
            if self.method == MEAN_TEACHER and self.global_step == self.config["burn_in_steps"]:
                self.teacher.load_state_dict(self.model.state_dict())
            student_images, student_targets = self._student_batch(*unlabelled)
            unsupervised = self.detection_losses(student_images, student_targets)
            unsupervised = {
                f"unsupervised_{name}": value
                for name, value in unsupervised.items()
                if name in UNSUPERVISED_LOSSES[self.method]
            }
            loss = loss + self.config["unsupervised_weight"] * sum(unsupervised.values())
            losses |= unsupervised
        self.log_losses(loss, losses, len(images))
        return loss

    def _student_batch(self, images: list[Any], targets: list[Any]) -> tuple[list, list]:
        """The student's unlabelled images and targets at this step: the teacher's boxes on the
        strongly augmented images (mean teacher), or the batch as it came (offline labels)."""
        if self.method == PSEUDO_LABELS:
            return images, targets
        self.teacher.eval()
        with torch.no_grad():
            detections = self.teacher(images)
        pseudo = [
            {
                key: output[key][output["scores"] >= self.config["pseudo_threshold"]]
                for key in output
            }
            for output in detections
        ]
        for labels, target in zip(pseudo, targets, strict=True):
            if target["known"]:
                truth = {"boxes": target["boxes"], "labels": self._labels(target["labels"])}
                self.counts.add(labels, truth)
        strong_images, strong_targets = [], []
        device = images[0].device
        with (
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
            # autocast would compute the moved boxes in low precision: they are targets
            torch.autocast(device.type, enabled=False),
        ):
            torch.manual_seed((self.config["seed"] * 1_000_003 + self.global_step) * 7 + 5)
            for image, labels in zip(images, pseudo, strict=True):
                boxes = tv_tensors.BoundingBoxes(
                    labels["boxes"], format="XYXY", canvas_size=tuple(image.shape[-2:])
                )
                image, target = self.strong(
                    tv_tensors.Image(image), {"boxes": boxes, "labels": labels["labels"]}
                )
                strong_images.append(image)
                strong_targets.append(target)
        return strong_images, strong_targets

    def optimizer_step(self, *arguments: Any, **keywords: Any) -> None:
        """The student's step, then the teacher follows it: ``teacher = rate * teacher + (1 -
        rate) * student`` over the whole state (weights and norm statistics). Done here, not
        after the batch, so that a checkpoint written after the batch holds both."""
        super().optimizer_step(*arguments, **keywords)
        if self.teacher is None or self.global_step < self.config["burn_in_steps"]:
            return
        rate = self.config["ema_rate"]
        student = self.model.state_dict()
        with torch.no_grad():
            for name, value in self.teacher.state_dict().items():
                if value.is_floating_point():
                    value.mul_(rate).add_(student[name].detach(), alpha=1 - rate)
                else:  # counters (BatchNorm's batches seen) are not averaged
                    value.copy_(student[name])

    def on_train_epoch_end(self) -> None:
        """Log the precision and recall of this epoch's pseudo-labels against the hidden true
        boxes (``pseudo/...``), where any were scored."""
        if self.counts.images:
            summary = self.counts.summary()
            for name in ("precision", "recall", "pseudo_labels_per_image"):
                if summary[name] is not None:
                    self.log(f"pseudo/{name}", float(summary[name]), on_epoch=True)
        self.counts = PseudoLabelCounts()

    def detector(self) -> torch.nn.Module:
        """The teacher once it has followed the student (mean teacher), else the student."""
        if self.teacher is not None and self.global_step > self.config["burn_in_steps"]:
            return self.teacher
        return self.model


def above(detections: dict[str, torch.Tensor], threshold: float) -> dict[str, torch.Tensor]:
    """One image's detections (boxes, labels, scores) scoring at least ``threshold``."""
    keep = detections["scores"] >= threshold
    return {key: detections[key][keep] for key in ("boxes", "labels", "scores")}


def teacher_weights(run: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of the detector of a ``detect-train`` run (or detector file)."""
    from condet.inference import load_detector

    model, _, _ = load_detector(run)
    return model.state_dict()


def check_teacher(run: str | Path, classes: list[str], method: str, config: dict[str, Any]) -> None:
    """One line unless ``run`` is a detector of these ``classes`` (and, for the mean teacher,
    whose network this run continues, of the same architecture)."""
    from condet.inference import load_detector
    from condet.models.detector import DETECTOR_KEYS

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


def offline_pseudo_labels(
    teacher: str | Path,
    pool: UnlabelledPool,
    threshold: float,
    run: Path,
    batch_size: int,
    progress: bool,
) -> tuple[Annotations, dict[str, Any]]:
    """The teacher's boxes above ``threshold`` on every image of ``pool`` as annotations
    (continuous coordinates, class indices), kept in ``RUN/pseudo_labels.json`` and read from
    it on ``--resume``, and their quality against the hidden true boxes."""
    from condet.inference import load_detector

    path = run / PSEUDO_LABELS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        outputs = [
            {
                "boxes": torch.tensor(entry["boxes"], dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(entry["labels"], dtype=torch.int64),
                "scores": torch.tensor(entry["scores"], dtype=torch.float32),
            }
            for entry in saved["images"]
        ]
    else:
        model, _, _ = load_detector(teacher)
        logger.info("labelling %d unlabelled images with %s", len(pool), teacher)
        files = [image.image_path for image in pool.images]
        outputs = predict_images(model, files, batch_size, "cpu", progress)
        outputs = [above(output, threshold) for output in outputs]
        entries = [
            {"path": str(image.image_path), "width": image.width, "height": image.height}
            | {key: output[key].tolist() for key in ("boxes", "labels", "scores")}
            for image, output in zip(pool.images, outputs, strict=True)
        ]
        document = {"teacher": str(teacher), "threshold": threshold, "images": entries}
        write_text_atomic(path, json.dumps(document))
    images = [
        ImageAnnotation(
            image.image_id,
            image.image_path,
            image.width,
            image.height,
            output["boxes"].numpy(),
            output["labels"].numpy() - 1,  # the detector's labels count the background as 0
        )
        for image, output in zip(pool.images, outputs, strict=True)
    ]
    one_based = pool.images.one_based
    truths = (
        {
            "boxes": torch.from_numpy(continuous_boxes(image, one_based)),
            "labels": torch.from_numpy(image.labels + 1),  # as the detector counts them
        }
        for image in pool.images
    )
    quality = pseudo_label_quality(
        (output, truth)
        for output, truth, known in zip(outputs, truths, pool.known, strict=True)
        if known
    )
    return pool.images.derive(images, one_based=False), quality


def unlabelled_dataset(images: Annotations, method: str) -> DetectionDataset:
    """The unlabelled images as training reads them: flipped for the teacher (mean teacher), or
    with their offline pseudo-labels, strongly augmented (STAC)."""
    if method == MEAN_TEACHER:
        return DetectionDataset(images, detection_transforms(train=True))
    strong = v2.Compose([v2.ToDtype(torch.float32, scale=True), StrongAugmentation()])
    return DetectionDataset(images, strong)


def semi_supervised_batches(
    config: Any,
    run: Path,
    labelled: DetectionDataset,
    pool: UnlabelledPool,
    classes: list[str],
    module_config: dict[str, Any],
) -> tuple[SemiSupervisedBatches, dict[str, Any]]:
    """The batches of a ``--semi`` run, and the offline pseudo-labels' quality (STAC) for its
    metrics. ``config`` is detect-train's."""
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
            config.teacher, pool, config.pseudo_threshold, run, config.batch_size, config.progress
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
        unlabelled_dataset(images, config.semi),
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
    from condet.runs import read_metrics

    curves: dict[str, list[float]] = {"step": [], "precision": [], "recall": []}
    for row in read_metrics(run):
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

    from condet.io import atomic_path

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
