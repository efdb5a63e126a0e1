"""``--labeled-images FILE``: detect-train and classify-train use exactly the images it names."""

from __future__ import annotations

import json

import pytest

from condet.cli import main
from condet.config.classify import ClassifyConfig
from condet.data import load_voc
from condet.data.load import DataSets
from condet.train import detect as detect_module
from condet.train.crop_splits import load_splits
from tests.test_errors import one_error_line
from tests.train.test_detect import detect_args


@pytest.fixture
def chosen(synthetic_root, tmp_path):
    """An id file naming three training images, out of split order; and those images."""
    train = load_voc(synthetic_root, "train")
    images = [train[index] for index in (5, 0, 11)]
    path = tmp_path / "selected.txt"
    path.write_text("".join(f"{image.image_id}\n" for image in images))
    return path, images


@pytest.mark.slow
def test_detect_train_trains_on_exactly_the_listed_images(
    synthetic_root, chosen, tmp_path, monkeypatch
):
    path, images = chosen
    trained_on = []
    real_dataset = detect_module.DetectionDataset

    def recording_dataset(annotations, *args, **kwargs):
        trained_on.append(annotations)
        return real_dataset(annotations, *args, **kwargs)

    monkeypatch.setattr(detect_module, "DetectionDataset", recording_dataset)
    argv = detect_args(synthetic_root, tmp_path / "run", "--labeled-images", str(path))
    assert main([*argv, "--max-steps", "1", "--batch-size", "2"]) == 0
    assert [sorted(image.image_id for image in split) for split in trained_on] == [
        sorted(image.image_id for image in images)
    ]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train_images"] == 3
    assert metrics["train_objects"] == sum(len(image) for image in images)
    assert metrics["train_classes"] == len(
        {int(label) for image in images for label in image.labels}
    )
    assert metrics["label_fraction"] == pytest.approx(3 / len(load_voc(synthetic_root, "train")))


def test_an_image_not_in_the_split_is_one_line_naming_it_and_the_file(
    synthetic_root, tmp_path, capsys
):
    path = tmp_path / "selected.txt"
    path.write_text("no_such_image\n")
    argv = detect_args(synthetic_root, tmp_path / "run", "--labeled-images", str(path))
    assert main(argv) == 1
    assert one_error_line(capsys) == (
        f"{path}: image 'no_such_image' is not in the split {synthetic_root}:train"
    )


def test_a_label_fraction_as_well_is_one_line(synthetic_root, chosen, tmp_path, capsys):
    path, _ = chosen
    argv = detect_args(synthetic_root, tmp_path / "run", "--labeled-images", str(path))
    assert main([*argv, "--label-fraction", "0.5"]) == 1
    assert one_error_line(capsys) == (
        f"--label-fraction 0.5 and --labeled-images {path} both choose the labelled images; "
        "give one"
    )


def test_classify_train_crops_only_the_listed_images(synthetic_root, chosen):
    path, images = chosen
    config = ClassifyConfig(data=synthetic_root, split="train", labeled_images=path)
    train, test = load_splits(config, DataSets())
    assert sorted(image.image_id for image in train) == sorted(image.image_id for image in images)
    assert len(test) == len(load_voc(synthetic_root, "test"))
