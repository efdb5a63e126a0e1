"""Evaluating a whole detector: its detections and their Markdown table."""

from __future__ import annotations

import numpy as np
import torch

from condet.data import load_voc
from condet.evaluation.detectors import detector_metrics_markdown, predict


def test_detector_metrics_markdown_prints_a_dash_for_no_objects():
    metrics = dict.fromkeys(
        ["AP50_voc07", "AP50_voc_all_point", "AP", "AP50", "mean_iou", "loc_acc@0.5"], 0.25
    )
    metrics |= {"AP75": -1.0, "loc_acc@0.7": 0.5, "det_loc_acc@0.5": 0.0, "corloc@0.5": 1.0}
    metrics["per_class_AP50_voc07"] = {"cell": 0.25}
    header, _, values = detector_metrics_markdown(metrics).splitlines()[:3]
    cells = dict(zip(header.strip("| ").split(" | "), values.strip("| ").split(" | "), strict=True))
    assert cells["AP75"] == "–" and cells["AP"] == "0.250" and cells["corloc@0.5"] == "1.000"


class FixedBoxes(torch.nn.Module):
    """A stand-in detector: one box per image, the image's width in its score."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, images):
        return [
            {
                "boxes": torch.tensor([[0.0, 0.0, 4.0, 4.0]]),
                "scores": torch.tensor([float(image.shape[-1])]),
                "labels": torch.tensor([1]),
            }
            for image in images
        ]


def test_predict_returns_numpy_detections_per_image_and_restores_the_mode(synthetic_root):
    annotations = load_voc(synthetic_root, "test")
    model = FixedBoxes().train()
    detections = predict(model, annotations, batch_size=3, progress=False)
    assert len(detections) == len(annotations) and model.training
    assert all(isinstance(found["boxes"], np.ndarray) for found in detections)
    assert all(found["boxes"].shape == (1, 4) for found in detections)
