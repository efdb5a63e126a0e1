"""``condet select`` on the four kinds of input, end to end, with a small random backbone."""

from __future__ import annotations

import json
import shutil

import pytest

from condet.cli import main
from condet.data import SYNTHETIC_CLASSES, load_annotations, load_voc, write_coco
from condet.data.splits import labelled_subset, read_image_ids
from tests.test_errors import one_error_line

FAST = ["--backbone", "resnet18", "--weights", "random", "--image-size", "32", "--no-progress"]


def select(source, out, *extra) -> int:
    cache = ["--cache-dir", str(out.parent / "cache")]
    return main(["select", str(source), "--out", str(out), *FAST, *cache, *extra])


@pytest.fixture(scope="module")
def inputs(synthetic_root, tmp_path_factory):
    """The synthetic training split as VOC, COCO, YOLO (no labels) and a plain folder of two
    subfolders: (arguments of condet select, the split's annotations, None for the folder)."""
    root = tmp_path_factory.mktemp("inputs")
    train = load_voc(synthetic_root, "train")
    coco = write_coco(train, root / "train.json")
    yolo_images = root / "yolo" / "train" / "images"
    folder = root / "photos"
    yolo_images.mkdir(parents=True)
    for index, image in enumerate(train):
        shutil.copy(image.image_path, yolo_images)
        nested = folder / ("a" if index % 2 else "b")
        nested.mkdir(parents=True, exist_ok=True)
        shutil.copy(image.image_path, nested)
    yolo = root / "yolo" / "data.yaml"
    yolo.write_text(f"path: .\ntrain: train/images\nnames: {list(SYNTHETIC_CLASSES)}\n")
    return {
        "voc": ([synthetic_root, "--split", "train"], train),
        "coco": (
            [coco, "--images", synthetic_root / "JPEGImages"],
            load_annotations(coco, image_root=synthetic_root / "JPEGImages"),
        ),
        "yolo": ([yolo, "--split", "train"], load_annotations(yolo, "train")),
        "folder": ([folder], None),
    }


@pytest.mark.parametrize("kind", ["voc", "coco", "yolo", "folder"])
@pytest.mark.parametrize("method", ["random", "kcenter", "typiclust"])
def test_every_input_kind_and_method_writes_ids_that_round_trip(inputs, kind, method, tmp_path):
    arguments, annotations = inputs[kind]
    out = tmp_path / "select"
    assert (
        select(arguments[0], out, *map(str, arguments[1:]), "--budget", "0.25", "--method", method)
        == 0
    )
    ids = read_image_ids(out / "selected.txt")
    assert len(ids) == len(set(ids)) == 6  # a quarter of the 24 training images
    record = json.loads((out / "selection.json").read_text())
    assert record["ids"] == ids and record["method"] == method and len(record["paths"]) == 6
    assert len(record["cluster_sizes"]) == 6 and all(size >= 1 for size in record["cluster_sizes"])
    for name in ("selection.png", "config.yaml", "metrics.json", "environment.json"):
        assert (out / name).is_file(), name
    if annotations is not None:  # the ids name the same images in training
        chosen = labelled_subset(annotations, ids_file=out / "selected.txt")
        assert sorted(image.image_id for image in chosen) == sorted(ids)
        assert {str(image.image_path) for image in chosen} == set(record["paths"])
    else:  # a folder's ids are its images' paths in it
        assert {str(arguments[0] / f"{image_id}.jpg") for image_id in ids} == set(record["paths"])


def test_the_same_seed_gives_the_same_ids_and_labelled_images_are_extended(inputs, tmp_path):
    arguments = [str(value) for value in inputs["voc"][0]]
    for name in ("first", "again"):
        assert (
            select(*arguments[:1], tmp_path / name, *arguments[1:], "--budget", "5", "--seed", "2")
            == 0
        )
    first = read_image_ids(tmp_path / "first" / "selected.txt")
    assert first == read_image_ids(tmp_path / "again" / "selected.txt")
    more = ["--budget", "4", "--labeled", str(tmp_path / "first" / "selected.txt")]
    assert select(*arguments[:1], tmp_path / "next", *arguments[1:], *more) == 0
    chosen = read_image_ids(tmp_path / "next" / "selected.txt")
    assert len(chosen) == 4 and not set(chosen) & set(first)
    assert read_image_ids(tmp_path / "next" / "labeled.txt") == first + chosen
    record = json.loads((tmp_path / "next" / "selection.json").read_text())
    assert record["labeled_before"] == first


def test_a_budget_larger_than_the_pool_is_one_line(inputs, tmp_path, capsys):
    arguments = [str(value) for value in inputs["voc"][0]]
    assert select(*arguments[:1], tmp_path / "run", *arguments[1:], "--budget", "25") == 1
    assert one_error_line(capsys) == (
        "budget 25 is larger than the 24 images that can be chosen (the split's images not yet "
        "labelled); lower --budget"
    )
    assert not (tmp_path / "run").exists()


def test_a_labelled_id_not_in_the_split_is_one_line(inputs, tmp_path, capsys):
    ids = tmp_path / "labelled.txt"
    ids.write_text("nope\n")
    arguments = [str(value) for value in inputs["voc"][0]]
    argv = [*arguments[1:], "--budget", "2", "--labeled", str(ids)]
    assert select(arguments[0], tmp_path / "run", *argv) == 1
    assert one_error_line(capsys).startswith(f"{ids}: image 'nope' is not in ")


@pytest.mark.slow
def test_an_experiment_selects_then_trains_on_the_selection(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    protocol = tmp_path / "select.yaml"
    protocol.write_text(
        """
name: select-then-train
synthetic: {images: 40}
runs:
  - name: sel
    command: select
    args: ["{data}"]
    options: {budget: 6, backbone: resnet18, weights: random, image-size: 32, progress: false}
  - name: det
    command: detect-train
    options: {data: "{data}", labeled-images: "{run:sel}/selected.txt", batch-size: 2,
              backbone: mobilenet_v3_large, weights: random, min-size: 128, max-size: 128,
              max-steps: 1,
              progress: false}
"""
    )
    out = tmp_path / "experiment"
    assert main(["experiment", str(protocol), "--out", str(out)]) == 0
    selected = read_image_ids(out / "sel" / "selected.txt")
    assert (
        json.loads((out / "det" / "metrics.json").read_text())["train_images"] == len(selected) == 6
    )
    assert "| sel | 1 | 6.000 |" in (out / "results.md").read_text()
