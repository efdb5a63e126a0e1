"""``condet detect-train``: Faster R-CNN (FPN) fine-tuning on any backbone, at a label
fraction, supervised or semi-supervised."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.detect import DetectConfig


def run(config: DetectConfig) -> int:
    """Train and evaluate (the training writes the run folder), then show the metrics."""
    from condet.train.detect import run_detect_train
    from condet.train.trainer import is_global_zero

    run_folder = run_detect_train(config)
    if is_global_zero():
        print((run_folder / "metrics.md").read_text(), end="")
        print(f"detector and metrics written to {run_folder}")
    return 0


COMMAND = Command(
    name="detect-train",
    help="fine-tune a Faster R-CNN (FPN) on any backbone, at a label fraction",
    description="Train Faster R-CNN with a feature pyramid on a condet backbone (random, "
    "ImageNet, a file or a SimCLR run) on a VOC / COCO / YOLO data set, using a fraction "
    "of the training labels, and evaluate it on the test split: VOC AP50, COCO AP / AP50 / "
    "AP75, mean IoU and localization accuracy at IoU 0.5 / 0.7, PR curves.",
    config=DetectConfig,
    run=run,
    headline=(
        ("AP50_voc07", "VOC07 AP50"),
        ("AP", "AP"),
        ("AP50", "AP50"),
        ("AP75", "AP75"),
        ("mean_iou", "mean IoU"),
        ("loc_acc@0.5", "loc. acc@0.5"),
        ("loc_acc@0.7", "loc. acc@0.7"),
        ("det_loc_acc@0.5", "det. loc. acc@0.5"),
        ("det_loc_acc@0.7", "det. loc. acc@0.7"),
        ("corloc@0.5", "CorLoc"),
        ("train_objects", "labelled objects"),
        ("train_classes", "labelled classes"),
    ),
)
