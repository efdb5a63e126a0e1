"""``detect-train --semi``: the unlabelled batches, the mean teacher, offline pseudo-labels,
exact resume and the one-line errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from condet.cli import main
from condet.data import load_voc
from condet.data.datasets import DetectionDataset, continuous_boxes
from condet.data.detection_transforms import detection_transforms
from condet.data.unlabelled import UnlabelledPool
from condet.models.weights import load_weights
from condet.run_folder import read_training_log
from condet.train.semi_supervised.batches import SemiSupervisedBatches
from condet.train.semi_supervised.offline_labels import PSEUDO_LABELS_FILE, offline_pseudo_labels
from tests.helpers import condet_process, kill_after_checkpoint
from tests.train.test_detect import detect_args


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


def semi_args(data, out, *extra):
    return detect_args(data, out, "--label-fraction", "0.25", "--batch-size", "2", *extra)


def batches(root, rank=0, world=1):
    train = load_voc(root, "train")
    dataset = DetectionDataset(train, detection_transforms(train=True))
    known = np.arange(len(train)) % 2 == 0
    semi = SemiSupervisedBatches(dataset, dataset, known, seed=3, unlabelled_batch=3)
    semi.shard(rank, world)
    return semi


def test_unlabelled_batches_follow_the_step_and_each_process_has_its_own_share(synthetic_root):
    semi = batches(synthetic_root)
    first, again = semi[(5, [0, 1])], semi[(5, [0, 1])]
    assert all(torch.equal(a, b) for a, b in zip(first[1][0], again[1][0], strict=True))
    other = semi[(6, [0, 1])][1][0]
    assert not all(torch.equal(a, b) for a, b in zip(first[1][0], other, strict=True))
    assert all(target["known"] in (True, False) for target in first[1][1])

    def ids(semi, step):
        return {int(target["image_id"]) for target in semi[(step, [0])][1][1]}

    shares = [batches(synthetic_root, rank, 2) for rank in (0, 1)]
    per_pass = len(shares[0].unlabelled) // 2 // 3
    seen = [set().union(*(ids(share, step) for step in range(per_pass))) for share in shares]
    assert not seen[0] & seen[1] and len(seen[0]) == len(seen[1]) == per_pass * 3


@pytest.mark.slow
def test_the_mean_teacher_follows_the_student_by_its_rate(synthetic_root, tmp_path):
    """Rate 0: the teacher is the student after every step; rate 1: it stays the student of
    the burn-in's end. The run evaluates and saves the teacher."""
    options = (
        "--semi",
        "mean-teacher",
        "--burn-in-steps",
        "2",
        "--epochs",
        "5",
        "--max-steps",
        "4",
    )
    options += ("--pseudo-threshold", "0.05", "--checkpoint-every", "2")
    weights = {}
    for rate in ("0", "1"):
        run = tmp_path / f"rate{rate}"
        assert main(semi_args(synthetic_root, run, *options, "--ema-rate", rate)) == 0
        checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
        state = checkpoint["state_dict"]
        teacher = {
            k.removeprefix("teacher."): v for k, v in state.items() if k.startswith("teacher.")
        }
        student = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
        saved = load_weights(run / "detector.safetensors")[0]
        assert all(torch.equal(saved[key], teacher[key]) for key in saved)
        weights[rate] = (teacher, student)
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["semi"]["burn_in_steps"] == 2 and metrics["semi"]["unlabelled_images"] > 0
    teacher, student = weights["0"]
    assert all(torch.equal(teacher[key], student[key]) for key in teacher)
    teacher, student = weights["1"]
    moved = [key for key in teacher if teacher[key].is_floating_point()]
    assert any(not torch.equal(teacher[key], student[key]) for key in moved)


@pytest.mark.slow
def test_a_killed_mean_teacher_run_resumes_exactly(synthetic_root, tmp_path):
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    options = ("--semi", "mean-teacher", "--burn-in-steps", "2", "--ema-rate", "0.5")
    options += ("--pseudo-threshold", "0.05", "--epochs", "10", "--max-steps", "14")
    options += ("--checkpoint-every", "1")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert (
        condet_process(
            *semi_args(synthetic_root, straight, *options), environment=environment
        ).wait()
        == 0
    )
    process = condet_process(*semi_args(synthetic_root, killed, *options), environment=environment)
    kill_after_checkpoint(process, killed, step=4)  # after the burn-in: the teacher is moving
    assert not (killed / "detector.safetensors").is_file(), "the run finished before it was killed"
    resume = condet_process(
        "detect-train", "--out", str(killed), "--resume", environment=environment
    )
    assert resume.wait() == 0
    expected = load_weights(straight / "detector.safetensors")[0]
    resumed = load_weights(killed / "detector.safetensors")[0]
    assert all(torch.equal(expected[key], resumed[key]) for key in expected)
    # the epoch cut by the kill is scored whole: its pseudo-label counts were in the checkpoint
    curves = [
        [
            (row["step"], row["pseudo/precision"])
            for row in read_training_log(run)
            if row.get("pseudo/precision")
        ]
        for run in (straight, killed)
    ]
    assert len(curves[0]) >= 2
    assert curves[0] == curves[1]


@pytest.mark.slow
def test_a_resumed_mean_teacher_keeps_the_burn_in_it_started_with(synthetic_root, tmp_path):
    """The default burn-in is half the run's steps; a resume that lets the run go on for more
    steps continues the burn-in the checkpoint's run resolved."""
    run = tmp_path / "run"
    options = ("--semi", "mean-teacher", "--pseudo-threshold", "0.05", "--epochs", "10")
    assert main(semi_args(synthetic_root, run, *options, "--max-steps", "2")) == 0
    started = json.loads((run / "metrics.json").read_text())["semi"]["burn_in_steps"]
    assert started == 1
    assert main(["detect-train", "--out", str(run), "--resume", "--max-steps", "4"]) == 0
    assert json.loads((run / "metrics.json").read_text())["semi"]["burn_in_steps"] == started


@pytest.mark.slow
def test_offline_pseudo_labels_are_kept_scored_and_trained_on(synthetic_root, tmp_path):
    teacher = tmp_path / "teacher"
    assert main(semi_args(synthetic_root, teacher, "--max-steps", "2")) == 0
    student = tmp_path / "student"
    options = ("--semi", "pseudo-labels", "--teacher", str(teacher), "--max-steps", "2")
    assert main(semi_args(synthetic_root, student, *options, "--pseudo-threshold", "0")) == 0
    labels = json.loads((student / "pseudo_labels.json").read_text())
    train = load_voc(synthetic_root, "train")
    assert len(labels["images"]) == len(train) - round(0.25 * len(train))
    assert labels["teacher"] == str(teacher) and labels["threshold"] == 0
    quality = json.loads((student / "metrics.json").read_text())["pseudo_labels"]
    given = sum(len(image["labels"]) for image in labels["images"])
    assert quality["pseudo_labels_per_image"] == given / len(labels["images"])
    assert quality["images"] == len(labels["images"]) and 0 <= quality["recall"] <= 1


def kept_labels(run, pool, teacher="teacher", threshold=0.5):
    """A ``pseudo_labels.json`` in ``run`` that gives each image of ``pool`` its first true box,
    labelled as class 1 (the detector's first class) with score 0.9."""
    entries = []
    for image in pool.images:
        box = continuous_boxes(image, pool.images.one_based)[:1]
        entries.append(
            {"path": str(image.image_path), "width": image.width, "height": image.height}
            | {"boxes": box.tolist(), "labels": [1], "scores": [0.9]}
        )
    document = {"teacher": teacher, "threshold": threshold, "images": entries}
    (run / PSEUDO_LABELS_FILE).write_text(json.dumps(document))


def test_kept_pseudo_labels_are_read_only_on_resume_of_the_same_teacher_threshold_and_images(
    synthetic_root, tmp_path
):
    train = load_voc(synthetic_root, "train")
    pool = UnlabelledPool(train[:4], np.ones(4, dtype=bool))
    # the kept labels name a teacher that is not there: labelling again fails on loading it
    missing = str(tmp_path / "absent-teacher")
    kept_labels(tmp_path, pool, teacher=missing)

    def labels(teacher=missing, threshold=0.5, resume=True, images=pool):
        return offline_pseudo_labels(teacher, images, threshold, tmp_path, 2, False, resume)

    images, _ = labels()
    assert [image.boxes.tolist() for image in images] == [
        continuous_boxes(image, train.one_based)[:1].tolist() for image in pool.images
    ]
    other_images = UnlabelledPool(train[4:8], np.ones(4, dtype=bool))
    for changed in (
        {"resume": False},
        {"teacher": missing + "-2"},
        {"threshold": 0.7},
        {"images": other_images},
    ):
        with pytest.raises(Exception, match="absent-teacher"):
            labels(**changed)


def test_class_agnostic_pseudo_labels_are_scored_against_boxes_of_every_class(
    synthetic_root, tmp_path
):
    train = load_voc(synthetic_root, "train")
    pool = UnlabelledPool(train[:6], np.ones(6, dtype=bool))
    assert any(image.labels[0] != 0 for image in pool.images), "every first box is of class 0"
    kept_labels(tmp_path, pool)
    scores = {
        agnostic: offline_pseudo_labels(
            "teacher", pool, 0.5, tmp_path, 2, False, resume=True, class_agnostic=agnostic
        )[1]
        for agnostic in (False, True)
    }
    assert scores[True]["precision"] == 1.0
    assert scores[False]["precision"] < 1.0


def test_bad_semi_supervised_requests_are_one_line(synthetic_root, tmp_path, capsys):
    assert main(semi_args(synthetic_root, tmp_path / "a", "--semi", "pseudo-labels")) == 1
    assert "--semi pseudo-labels needs --teacher RUN" in capsys.readouterr().err
    everything = detect_args(synthetic_root, tmp_path / "b", "--semi", "mean-teacher")
    assert main(everything) == 1
    assert "has no unlabelled images: --label-fraction 1.0 leaves none" in capsys.readouterr().err
