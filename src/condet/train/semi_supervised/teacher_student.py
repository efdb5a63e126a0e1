"""The teacher–student Lightning module: the student learns from the labelled batch and from
the teacher's boxes on the unlabelled one; the mean teacher follows the student."""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors

from condet.data.strong_augmentation import StrongAugmentation
from condet.evaluation.pseudo_labels import PseudoLabelCounts
from condet.inference import load_detector
from condet.train.detector_module import DetectorModule

MEAN_TEACHER, PSEUDO_LABELS = "mean-teacher", "pseudo-labels"
# The losses a student learns from pseudo-labels: Unbiased Teacher leaves out box regression.
UNSUPERVISED_LOSSES = {
    MEAN_TEACHER: ("loss_objectness", "loss_classifier"),
    PSEUDO_LABELS: ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg"),
}
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
        self.strong = StrongAugmentation(config["min_size"], config["max_size"])
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

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep this epoch's pseudo-label counts so far, so that a run resumed inside the epoch
        scores the whole epoch as an uninterrupted one does, and the burn-in the run resolved,
        which a resume with another ``--max-steps`` would otherwise resolve anew."""
        checkpoint["pseudo_label_counts"] = asdict(self.counts)
        checkpoint["burn_in_steps"] = self.config["burn_in_steps"]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Called before :meth:`on_fit_start`, which keeps the burn-in restored here."""
        self.counts = PseudoLabelCounts(**checkpoint.get("pseudo_label_counts", {}))
        if self.config["burn_in_steps"] is None:
            self.config["burn_in_steps"] = checkpoint.get("burn_in_steps")

    def on_train_epoch_end(self) -> None:
        """Log the precision and recall of this epoch's pseudo-labels against the hidden true
        boxes (``pseudo/...``), where any were scored."""
        if self.counts.images:
            summary = self.counts.summary()
            for name in ("precision", "recall", "pseudo_labels_per_image", "true_boxes_per_image"):
                if summary[name] is not None:
                    self.log(f"pseudo/{name}", float(summary[name]), on_epoch=True)
        self.counts = PseudoLabelCounts()

    def detector(self) -> torch.nn.Module:
        """The teacher once it has followed the student (mean teacher), else the student."""
        if self.teacher is not None and self.global_step > self.config["burn_in_steps"]:
            return self.teacher
        return self.model


def teacher_weights(run: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of the detector of a ``detect-train`` run (or detector file)."""
    model, _, _ = load_detector(run)
    return model.state_dict()
