"""``condet predict``: a trained detector on images."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.predict import PredictConfig


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
    from condet.run_folder import write_config, write_metrics

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
