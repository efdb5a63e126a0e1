from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from condet.cli import main
from condet.data import load_voc
from condet.data.normalize import Normalize
from condet.evaluation.ood import acceptance_threshold, class_prototypes
from condet.open_set import UNKNOWN, OpenSetClassifier, open_set_metrics, rejection_rates


class MeanColour(nn.Module):
    """A stand-in encoder: the mean colour of a crop (times a scale) is its embedding."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def embed(self, images):
        return images.mean(dim=(2, 3)) * self.scale

    def forward(self, images):
        return self.embed(images)


def solid(colour, count=1, size=8):
    return torch.tensor(colour, dtype=torch.uint8)[None, :, None, None].expand(count, 3, size, size)


class TestOpenSetClassifier:
    def classifier(self, threshold):
        # known classes 0 (red) and 2 (green); class 1 is withheld
        prototypes = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        identity = Normalize([0.0] * 3, [1.0] * 3)
        return OpenSetClassifier(
            MeanColour(), prototypes, torch.tensor([0, 2]), threshold, identity, 8
        )

    def test_nearest_prototype_labels_and_rejection_below_the_threshold(self):
        crops = torch.cat([solid([200, 0, 0]), solid([0, 180, 10]), solid([0, 0, 255])])
        labels, similarity = self.classifier(threshold=0.5).classify(crops)
        assert labels.tolist() == [0, 2, UNKNOWN]
        expected_green = 180 / np.hypot(180, 10)
        assert similarity.tolist() == pytest.approx([1.0, expected_green, 0.0], abs=1e-6)

    def test_no_crops(self):
        labels, similarity = self.classifier(0.5).classify(
            torch.zeros(0, 3, 8, 8, dtype=torch.uint8)
        )
        assert labels.shape == similarity.shape == (0,)


def test_acceptance_threshold_keeps_the_share_of_known_embeddings():
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(200, 16, generator=generator) + torch.tensor([3.0] + [0.0] * 15)
    labels = torch.zeros(200, dtype=torch.long)
    prototypes = class_prototypes(embeddings, labels, 1)
    threshold = acceptance_threshold(embeddings, labels, prototypes, accept=0.9)
    own = torch.nn.functional.normalize(embeddings, dim=1) @ prototypes[0]
    assert (own >= threshold).float().mean().item() == pytest.approx(0.9, abs=0.01)


def test_rejection_rates_on_hand_made_boxes():
    box = [0.0, 0.0, 10.0, 10.0]
    far = [50.0, 50.0, 60.0, 60.0]
    gts = [
        {"boxes": np.array([box, far]), "labels": np.array([0, 1])},  # 1 is withheld
        {"boxes": np.array([box, far]), "labels": np.array([1, 0])},
        {"boxes": np.zeros((0, 4)), "labels": np.zeros(0, np.int64)},
    ]
    dets = [
        # the known box is found and kept, the unknown one found and rejected
        {"boxes": np.array([box, far]), "labels": np.array([0, UNKNOWN])},
        # the unknown box is found but labelled as known, the known one is missed
        {"boxes": np.array([[1.0, 1.0, 10.0, 10.0]]), "labels": np.array([0])},
        {"boxes": np.array([box]), "labels": np.array([UNKNOWN])},
    ]
    rates = rejection_rates(gts, dets, withheld={1})
    assert rates["unknown_objects"] == 2 and rates["unknown_found"] == 2
    assert rates["rejection_rate"] == 0.5
    assert rates["known_found"] == 1 and rates["false_rejection_rate"] == 0.0


@pytest.mark.slow
def test_pipeline_command_writes_open_set_predictions(
    synthetic_root, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    detector, encoder, out = tmp_path / "det", tmp_path / "enc", tmp_path / "pipeline"
    small = ["--backbone", "mobilenet_v3_small", "--weights", "random", "--no-progress"]
    detect = ["--min-size", "128", "--max-size", "128", "--max-steps", "2"]
    # the detector never sees a star; it does see rings, which the encoder withholds too
    detect += ["--withhold", "star"]
    data = ["--data", str(synthetic_root), "--split", "trainval", "--test-split", "test"]
    assert main(["detect-train", *data, *small, *detect, "--out", str(detector)]) == 0
    scored = json.loads((detector / "metrics.json").read_text())["per_class_AP50_voc07"]
    assert "star" not in scored and "ring" in scored
    classify = ["--crop-size", "32", "--epochs", "1", "--batch-size", "16"]
    classify += ["--withhold", "star", "ring"]
    # the rarest known classes are dropped: the pipeline must not count them as unknown
    counts = load_voc(synthetic_root, "trainval").object_counts()
    known_counts = {name: count for name, count in counts.items() if name not in ("star", "ring")}
    classify += ["--min-crops", str(min(known_counts.values()) + 1)]
    assert main(["ood", *data, *small, *classify, "--out", str(encoder)]) == 0
    argv = ["pipeline", "--detector", str(detector), "--encoder", str(encoder)]
    argv += ["--data", str(synthetic_root), "--score-threshold", "0", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "condet: the detector learnt boxes of ring, which" in capsys.readouterr().err

    metrics = json.loads((out / "metrics.json").read_text())
    predictions = json.loads((out / "predictions.json").read_text())
    categories = json.loads((out / "categories.json").read_text())
    assert categories[-1]["name"] == "unknown" and len(categories) == 11
    assert len(predictions) == metrics["detections"] > 0
    ids = {category["id"] for category in categories}
    for prediction in predictions:
        assert prediction["category_id"] in ids and len(prediction["bbox"]) == 4
    unknown = sum(p["category_id"] == categories[-1]["id"] for p in predictions)
    assert unknown == metrics["labelled_unknown"]
    test_counts = load_voc(synthetic_root, "test").object_counts()
    assert metrics["unknown_objects"] == test_counts["star"] + test_counts["ring"] > 0
    for key in ("rejection_rate", "false_rejection_rate", "AP50_voc07", "AP"):
        assert 0 <= metrics[key] <= 1


def test_the_classifier_cuts_crops_with_the_margin_its_encoder_learnt_on(
    synthetic_root, tmp_path, monkeypatch
):
    from condet.models.encoder import load_encoder
    from tests.train.test_classify import classify_args

    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    run = tmp_path / "encoder"
    argv = classify_args(synthetic_root, run, "--context", "0.25", "--max-steps", "1")
    assert main(argv) == 0
    encoder, saved = load_encoder(run)
    assert OpenSetClassifier.from_saved(encoder, saved).context == 0.25
    del saved["config"]["context"]  # an encoder saved before the margin was recorded
    assert OpenSetClassifier.from_saved(encoder, saved).context == 0.0


def test_the_pipeline_scores_voc_boxes_as_detect_train_does():
    """A box of 10 x 10 pixels annotated 1-based as (1, 1, 10, 10), a detection over its top
    4.8 rows: IoU 0.48 on the annotated pixels, no match; scored as if the continuous corners
    were inclusive pixel indices, IoU 0.53 and a match."""
    gts = [{"boxes": np.array([[0.0, 0.0, 10.0, 10.0]]), "labels": np.array([0])}]
    gts[0]["difficult"] = np.array([False])
    dets = [
        {
            "boxes": np.array([[0.0, 0.0, 10.0, 4.8]]),
            "scores": np.array([0.9]),
            "labels": np.array([0]),
        }
    ]
    assert open_set_metrics(gts, dets, set(), ["a"], one_based=True)["AP50_voc07"] == 0.0
    assert open_set_metrics(gts, dets, set(), ["a"], one_based=False)["AP50_voc07"] == 1.0
