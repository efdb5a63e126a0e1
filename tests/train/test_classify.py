from __future__ import annotations

import json
import os

import lightning as L
import pytest
import torch
import yaml

from condet.cli import main
from condet.data import SYNTHETIC_CLASSES, load_annotations, load_voc
from condet.losses import load_rankings
from condet.models.weights import load_weights
from condet.run_folder import read_training_log
from tests.helpers import condet_process, kill_after_checkpoint


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


def classify_args(data, out, *extra):
    return [
        "classify-train",
        "--data",
        str(data),
        "--split",
        "trainval",
        "--test-split",
        "test",
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--crop-size",
        "32",
        "--batch-size",
        "16",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


class LabelRecorder(L.Callback):
    def __init__(self):
        self.labels = set()

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        self.labels |= set(batch[2].tolist())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("loss", "extra"),
    [
        ("supcon", []),
        ("ce", []),
        ("ranked", ["--r", "3"]),
        ("rince", ["--mode", "in"]),
        # a queue of one step's embeddings (2 x 32): full from the second step, so the loss
        # curve shows learning, not the queue filling up with more negatives
        ("supcon", ["--queue", "64"]),
    ],
)
def test_every_loss_trains_lowers_its_loss_and_reports(synthetic_root, tmp_path, loss, extra):
    run = tmp_path / loss
    argv = classify_args(
        synthetic_root,
        run,
        "--loss",
        loss,
        "--epochs",
        "15",
        "--batch-size",
        "32",
        "--optimizer",
        "adamw",
        "--lr",
        "0.004",
        "--rankings",
        str(synthetic_root / "rankings.yaml"),
        *extra,
    )
    assert main(argv) == 0
    losses = [
        float(row["train/loss_epoch"]) for row in read_training_log(run) if row["train/loss_epoch"]
    ]
    # per-epoch losses of contrastive batches are noisy: compare the first and last three
    assert len(losses) == 15 and sum(losses[-3:]) < sum(losses[:3])
    results = json.loads((run / "results.json").read_text())
    for name in ("ncm", "knn", "linear"):
        assert 0 <= results[name]["top1"] <= results[name]["top3"] <= 1
    assert results["loss"] == loss and (run / "encoder.safetensors").is_file()


@pytest.mark.slow
def test_withheld_classes_never_train_and_are_scored_as_unknown(synthetic_root, tmp_path):
    from condet.config.classify import ClassifyConfig
    from condet.options import build_config
    from condet.train.classify import run_classify_train

    recorder = LabelRecorder()
    config = build_config(
        ClassifyConfig,
        {
            "data": synthetic_root,
            "split": "trainval",
            "test_split": "test",
            "loss": "ce",
            "backbone": "mobilenet_v3_small",
            "weights": "random",
            "crop_size": 32,
            "batch_size": 16,
            "epochs": 2,
            "withhold": ["star", "ring"],
            "out": tmp_path / "ood",
            "progress": False,
        },
    )
    run = run_classify_train(config, callbacks=[recorder])
    withheld = {SYNTHETIC_CLASSES.index("star"), SYNTHETIC_CLASSES.index("ring")}
    assert recorder.labels and not recorder.labels & withheld
    results = json.loads((run / "results.json").read_text())
    assert set(results["ood"]) == {
        "prototype cosine",
        "k-NN distance",
        "Mahalanobis",
        "max softmax",
        "energy",
    }
    for metrics in results["ood"].values():
        assert 0 <= metrics["auroc"] <= 1 and 0 <= metrics["fpr@95tpr"] <= 1
    assert results["ood_crops"] > 0 and (run / "roc.png").is_file()


def test_a_withheld_class_gives_its_rank_to_the_next_neighbour(synthetic_root, tmp_path):
    from condet.config.classify import ClassifyConfig
    from condet.options import build_config
    from condet.train.classify import run_classify_train

    class RankMatrixRecorder(L.Callback):
        def on_train_start(self, trainer, module):
            self.matrix = module.rank_matrix.clone()

    first, second, third = SYNTHETIC_CLASSES[:3]
    rankings = {name: [] for name in SYNTHETIC_CLASSES} | {first: [second, third]}
    (tmp_path / "rankings.yaml").write_text(yaml.safe_dump({"rankings": rankings}))
    recorder = RankMatrixRecorder()
    config = build_config(
        ClassifyConfig,
        {
            "data": synthetic_root,
            "split": "trainval",
            "test_split": "test",
            "loss": "ranked",
            "rankings": tmp_path / "rankings.yaml",
            "r": 2,
            "backbone": "mobilenet_v3_small",
            "weights": "random",
            "crop_size": 32,
            "batch_size": 16,
            "max_steps": 1,
            "withhold": [second],
            "out": tmp_path / "ood",
            "progress": False,
        },
    )
    run_classify_train(config, callbacks=[recorder])
    # as if the withheld class did not exist: the third class moves up to rank 2
    assert recorder.matrix[0, 1] == 0 and recorder.matrix[0, 2] == 2


def test_ood_command_needs_withheld_classes(synthetic_root, tmp_path, capsys):
    argv = classify_args(synthetic_root, tmp_path / "run")
    argv[0] = "ood"
    assert main(argv) == 1
    assert "condet ood needs --withhold" in capsys.readouterr().err


def test_ranked_loss_needs_a_rankings_file(synthetic_root, tmp_path, capsys):
    assert main(classify_args(synthetic_root, tmp_path / "run", "--loss", "ranked")) == 1
    assert "--loss ranked needs --rankings FILE" in capsys.readouterr().err


@pytest.mark.slow
def test_rankings_derive_writes_a_usable_file(synthetic_root, tmp_path):
    out = tmp_path / "derived.yaml"
    argv = [
        "rankings",
        "derive",
        str(synthetic_root),
        "--split",
        "trainval",
        "--out",
        str(out),
        "--backbone",
        "mobilenet_v3_small",
        "--weights",
        "random",
        "--crop-size",
        "32",
        "--neighbours",
        "3",
    ]
    assert main(argv) == 0
    rankings = load_rankings(out)
    assert sorted(rankings) == sorted(SYNTHETIC_CLASSES)
    assert all(len(neighbours) == 3 for neighbours in rankings.values())
    assert "derived by condet rankings derive" in out.read_text()
    assert yaml.safe_load(out.read_text())["rankings"] == rankings


@pytest.mark.slow
def test_killed_run_resumes_exactly(synthetic_root, tmp_path):
    """SIGKILL mid-run, --resume: the same encoder and results as a run that never stopped,
    with EfficientNet-Lite0, whose drop-connect draws from the global generator in the step."""
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "CONDET_CACHE_DIR": str(tmp_path / "cache"),
    }
    options = ("--epochs", "4", "--max-steps", "10", "--checkpoint-every", "1")
    options += ("--backbone", "efficientnet_lite0")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    argv = classify_args(synthetic_root, straight, *options)
    assert condet_process(*argv, environment=environment).wait() == 0
    argv = classify_args(synthetic_root, killed, *options)
    kill_after_checkpoint(condet_process(*argv, environment=environment), killed, settle=0)
    assert not (killed / "results.json").is_file(), "the run finished before it was killed"
    resume = condet_process(
        "classify-train", "--out", str(killed), "--resume", environment=environment
    )
    assert resume.wait() == 0
    expected = json.loads((straight / "results.json").read_text())
    resumed = json.loads((killed / "results.json").read_text())
    assert expected["ncm"] == resumed["ncm"]
    assert expected["knn"] == resumed["knn"]
    state_dicts = [load_weights(run / "encoder.safetensors")[0] for run in (straight, killed)]
    assert all(torch.equal(state_dicts[0][key], state_dicts[1][key]) for key in state_dicts[0])


@pytest.mark.slow
def test_two_ddp_processes_train_and_process_zero_writes_the_results(synthetic_root, tmp_path):
    """A 2-process gloo run ends like a 1-process one, with the encoder and results written
    once (process 1 used to crash reading results.md). Its weights do not follow the 1-process
    run's: each process draws its own views and normalises BatchNorm over its own crops (the
    gathered loss itself is exact: tests/losses/test_distributed.py); docs/results.md."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = tmp_path / "two"
    argv = classify_args(synthetic_root, run, "--accelerator", "cpu", "--epochs", "1")
    argv += ["--batch-size", "8", "--devices", "2", "--strategy", "ddp"]
    assert condet_process(*argv, environment=environment).wait() == 0
    results = json.loads((run / "results.json").read_text())
    assert 0 <= results["ncm"]["top1"] <= 1
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] > 0
    assert (run / "encoder.safetensors").is_file()


def test_test_image_ids_keep_those_test_images_only(synthetic_root, tmp_path):
    from condet.config.classify import ClassifyConfig
    from condet.data.load import DataSets
    from condet.options import build_config
    from condet.train.crop_splits import load_splits

    test = load_voc(synthetic_root, "test")
    chosen = [image.image_id for image in test][:3]
    ids = tmp_path / "test_ids.txt"
    ids.write_text("".join(f"{image_id}\n" for image_id in chosen))
    config = build_config(
        ClassifyConfig,
        {"data": synthetic_root, "split": "trainval", "test_split": "test", "test_image_ids": ids},
    )
    train, kept = load_splits(config, DataSets())
    assert [image.image_id for image in kept] == chosen
    assert len(train) == len(load_voc(synthetic_root, "trainval"))


def test_test_image_ids_of_a_coco_json_that_trains_on_them_are_one_line(
    synthetic_root, tmp_path, capsys
):
    """A COCO JSON has no splits: --test-image-ids alone leaves its images in training too;
    with --labeled-images of the other images the splits are apart."""
    from condet.data.export import write_dataset
    from tests.data.test_export import continuous

    trainval = load_voc(synthetic_root, "trainval")
    coco = write_dataset(continuous(trainval), tmp_path / "coco", "coco")
    ids = [image.image_id for image in load_annotations(coco)]
    test_ids, train_ids = tmp_path / "test.txt", tmp_path / "train.txt"
    test_ids.write_text("".join(f"{i}\n" for i in ids[:4]))
    train_ids.write_text("".join(f"{i}\n" for i in ids[4:]))
    argv = classify_args(coco, tmp_path / "run", "--test-image-ids", str(test_ids))
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "4 of the 4 test images are also training images" in error
    from condet.config.classify import ClassifyConfig
    from condet.data.load import DataSets
    from condet.options import build_config
    from condet.train.crop_splits import load_splits

    options = {"data": coco, "test_image_ids": test_ids, "labeled_images": train_ids}
    train, test = load_splits(build_config(ClassifyConfig, options), DataSets())
    assert len(train) == len(ids) - 4 and len(test) == 4


def test_classes_with_too_few_crops_are_dropped_from_both_splits(synthetic_root, caplog):
    from condet.config.classify import ClassifyConfig
    from condet.data.load import DataSets
    from condet.options import build_config
    from condet.train.crop_splits import load_splits

    counts = load_voc(synthetic_root, "trainval").object_counts()
    rarest = min(counts, key=counts.get)
    config = build_config(
        ClassifyConfig,
        {
            "data": synthetic_root,
            "split": "trainval",
            "test_split": "test",
            "min_crops": counts[rarest] + 1,
            "withhold": [name for name in SYNTHETIC_CLASSES if name != rarest][:1],
        },
    )
    dropped = [name for name in SYNTHETIC_CLASSES if counts[name] <= counts[rarest]]
    dropped = [name for name in dropped if name not in config.withhold]
    train, test = load_splits(config, DataSets())
    assert train.withheld == (*config.withhold, *dropped) and test.withheld == tuple(
        config.withhold
    )
    dropped_ids = train.class_ids(dropped)
    for split in (train, test):
        assert not any(set(image.labels.tolist()) & set(dropped_ids) for image in split)
    assert f"fewer than {counts[rarest] + 1} training crops: {', '.join(dropped)}" in caplog.text


@pytest.mark.slow
def test_eval_every_logs_a_learning_curve_and_leaves_training_unchanged(synthetic_root, tmp_path):
    runs = {}
    for every in (0, 1):
        runs[every] = tmp_path / f"every-{every}"
        argv = classify_args(
            synthetic_root,
            runs[every],
            "--loss",
            "ce",
            "--epochs",
            "3",
            "--withhold",
            "star",
            "ring",
            "--eval-every",
            str(every),
        )
        assert main(argv) == 0
    curve = [row for row in read_training_log(runs[1]) if row.get("test/ncm_top1")]
    assert [int(row["epoch"]) for row in curve] == [0, 1]
    for row in curve:
        aurocs = [float(value) for key, value in row.items() if key.startswith("test/auroc_")]
        assert len(aurocs) == 5 and float(row["test/best_auroc"]) == max(aurocs)
        assert 0 <= float(row["test/ncm_top1"]) <= 1
    plain, curved = (json.loads((runs[e] / "results.json").read_text()) for e in (0, 1))
    assert curved == plain
