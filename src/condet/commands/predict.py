"""``condet predict``: a trained detector on images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from condet.commands.outputs import write_config, write_metrics
from condet.commands.registry import Command


@dataclass
class PredictConfig:
    """``condet predict``: detections of a detect-train run on image files or folders."""

    images: list[Path] = field(metadata={"help": "image files or folders", "positional": True})
    checkpoint: Path = field(metadata={"help": "detect-train run folder"})
    out: Path = field(default=Path("runs/predictions"), metadata={"help": "output folder"})
    batch_size: int = field(default=4, metadata={"help": "images per forward pass", "minimum": 1})
    accelerator: str = field(default="auto", metadata={"help": "cpu, gpu, mps or auto"})
    score_threshold: float = field(
        default=0.3,
        metadata={
            "help": "boxes scoring at least this are drawn and, with --format, written as labels",
            "minimum": 0,
            "maximum": 1,
        },
    )
    draw: bool = field(default=True, metadata={"help": "write the images with boxes drawn"})
    format: Literal["results", "voc", "coco", "yolo"] = field(
        default="results",
        metadata={
            "help": "results: COCO-results predictions.json; voc, coco, yolo: the boxes above "
            "--score-threshold as a data set of that format (images linked or copied), for a "
            "labelling tool to import and condet to read back"
        },
    )
    split: str = field(
        default="train", metadata={"help": "the split name of a voc or yolo data set"}
    )


def run(config: PredictConfig) -> int:
    """Predict; ``metrics.json`` counts the images and detections."""
    from condet.devices import accelerator_device
    from condet.inference import (
        image_files,
        load_detector,
        predict_images,
        write_predictions,
        write_prelabels,
    )

    model, classes, _ = load_detector(config.checkpoint)
    files = image_files(config.images)
    device = accelerator_device(config.accelerator)
    outputs = predict_images(model, files, config.batch_size, device)
    if config.format == "results":
        path = write_predictions(
            files, outputs, classes, config.out, config.score_threshold, config.draw
        )
    else:
        path = write_prelabels(
            files, outputs, classes, config.out, config.format, config.score_threshold, config.split
        )
        if config.draw:
            write_predictions(
                files, outputs, classes, config.out / "drawn", config.score_threshold, draw=True
            )
    detections = sum(len(output["boxes"]) for output in outputs)
    write_config(config.out, config)
    write_metrics(config.out, {"images": len(files), "detections": detections})
    print(f"{detections} detections in {len(files)} images: {path}")
    return 0


COMMAND = Command(
    name="predict",
    help="run a trained detector on images",
    description="Detect objects in images (files or folders) with a detect-train run: "
    "writes COCO-results predictions.json (images.json names the image ids) and the images "
    "with their boxes drawn, or, with --format voc|coco|yolo, the boxes as a data set to "
    "correct in a labelling tool and train on.",
    config=PredictConfig,
    run=run,
)
