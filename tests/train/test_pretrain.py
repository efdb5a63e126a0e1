from __future__ import annotations

import math
import os
import subprocess
import sys

import lightning as L
import pytest
import torch
from safetensors.torch import load_file

from condet.cli import build_parser, main
from condet.commands.pretrain import COMMAND
from condet.config.pretrain import PretrainConfig
from condet.options import given_values
from condet.run_folder import read_training_log
from condet.train.pretrain import run_pretrain
from tests.helpers import condet_process, kill_after_checkpoint


def pretrain_args(data, out, *extra):
    return [
        "pretrain",
        "--data",
        str(data),
        "--split",
        "trainval",
        "--backbone",
        "resnet18",
        "--weights",
        "random",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--hidden-dim",
        "64",
        "--no-progress",
        "--out",
        str(out),
        *extra,
    ]


def parse(argv):
    return build_parser().parse_args(argv)


def weights(run):
    return load_file(run / "backbone.safetensors")


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.slow
def test_a_short_run_keeps_a_finite_loss_and_writes_the_run_folder(synthetic_root, tmp_path):
    """32 steps at batch 8 are too few for SimCLR to leave chance (log 15) on this set: it stays
    there, on 40 Imagenette images too, so this checks the run, not that SimCLR learns (which
    docs/results.md shows on Imagenette: NT-Xent 5.41 -> 4.62 in 15 epochs)."""
    run = tmp_path / "run"
    assert (
        main(
            pretrain_args(
                synthetic_root, run, "--epochs", "8", "--lr", "2.0", "--checkpoint-every", "100"
            )
        )
        == 0
    )
    epoch_losses = [
        float(r["train/loss_epoch"]) for r in read_training_log(run) if r["train/loss_epoch"]
    ]
    assert len(epoch_losses) == 8
    chance = math.log(2 * 8 - 1)
    assert all(math.isfinite(loss) and loss < chance + 0.3 for loss in epoch_losses)
    for name in (
        "config.yaml",
        "environment.json",
        "backbone.safetensors",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    assert list((run / "logs").glob("events.out.tfevents.*"))
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 32


@pytest.mark.slow
def test_resume_continues_exactly(synthetic_root, tmp_path):
    """EfficientNet-Lite's drop-connect draws from the global generator inside the step: the
    resumed steps must draw what the uninterrupted ones did (a resumed Lite0 crop encoder once
    drifted from its first part, docs/results.md)."""
    # 4 steps per epoch: stop mid-epoch (3), resume across the epoch boundary to 6
    lite0 = ("--backbone", "efficientnet_lite0", "--epochs", "2")
    straight = pretrain_args(synthetic_root, tmp_path / "straight", *lite0, "--max-steps", "6")
    assert main(straight) == 0
    torch.manual_seed(12345)  # the global generator in any other state than the first run left
    resumed = pretrain_args(
        synthetic_root, tmp_path / "resumed", *lite0, "--max-steps", "3", "--checkpoint-every", "2"
    )
    assert main(resumed) == 0
    assert (
        main(["pretrain", "--out", str(tmp_path / "resumed"), "--resume", "--max-steps", "6"]) == 0
    )
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)
    checkpoint = torch.load(tmp_path / "resumed/checkpoints/last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 6


class Killed(Exception):
    """Stands for a process killed after its checkpoint at ``step``."""


class KillAfter(L.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        # after LastCheckpoint, which the trainer calls first, has written this step
        if trainer.global_step == self.step:
            raise Killed


@pytest.mark.slow
@pytest.mark.parametrize("keep", [0.5, 0])
def test_resume_from_a_cut_checkpoint_continues_exactly_from_the_one_before(
    synthetic_root, tmp_path, capsys, keep
):
    """Issue 32: a cut last.ckpt was read as the latest, and the run folder was locked."""
    straight, cut = tmp_path / "straight", tmp_path / "cut"
    assert main(pretrain_args(synthetic_root, straight, "--epochs", "2", "--max-steps", "4")) == 0
    argv = pretrain_args(synthetic_root, cut, "--epochs", "2", "--max-steps", "4")
    config = COMMAND.build_config(
        given_values(PretrainConfig, parse([*argv, "--checkpoint-every", "1"]))
    )
    with pytest.raises(Killed):
        run_pretrain(config, callbacks=[KillAfter(3)])
    last = cut / "checkpoints" / "last.ckpt"
    assert torch.load(last.with_name("last.prev.ckpt"), weights_only=True)["global_step"] == 2
    last.write_bytes(last.read_bytes()[: int(last.stat().st_size * keep)])
    events = set((cut / "logs").glob("events.out.tfevents.*"))
    capsys.readouterr()
    assert main(["pretrain", "--out", str(cut), "--resume"]) == 0
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if "resuming" in line]
    assert warning.startswith(f"condet: {last} does not load (")
    assert warning.endswith("last.prev.ckpt (step 2) instead")
    assert torch.load(last, weights_only=True)["global_step"] == 4
    assert not last.with_name("last.prev.ckpt").exists(), "a run that ended keeps one checkpoint"
    assert len(set((cut / "logs").glob("events.out.tfevents.*")) - events) == 1
    expected, resumed = weights(straight), weights(cut)
    assert all(torch.equal(expected[key], resumed[key]) for key in expected)


@pytest.mark.slow
def test_views_made_in_workers_equal_views_made_in_the_step(synthetic_root, tmp_path):
    for workers in ("0", "1"):
        run = tmp_path / f"workers{workers}"
        argv = pretrain_args(synthetic_root, run, "--max-steps", "2", "--workers", workers)
        assert main(argv) == 0
    in_step, in_workers = weights(tmp_path / "workers0"), weights(tmp_path / "workers1")
    assert all(torch.equal(in_step[key], in_workers[key]) for key in in_step)


def test_resume_without_a_run_and_a_second_run_in_the_same_folder(synthetic_root, tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path / "none"), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 1}, run / "checkpoints" / "last.ckpt")
    assert main(pretrain_args(synthetic_root, run)) == 1
    assert "already holds a run; pass --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(synthetic_root, tmp_path):
    run = tmp_path / "run"
    argv = pretrain_args(synthetic_root, run, "--epochs", "50", "--checkpoint-every", "1")
    environment = {**os.environ, "CONDET_CACHE_DIR": str(tmp_path / "cache")}
    kill_after_checkpoint(condet_process(*argv, environment=environment), run, timeout=120)
    checkpoint = run / "checkpoints" / "last.ckpt"
    reached = torch.load(checkpoint, weights_only=True)["global_step"]
    assert reached >= 3
    assert main(["pretrain", "--out", str(run), "--resume", "--max-steps", str(reached + 2)]) == 0
    assert torch.load(checkpoint, weights_only=True)["global_step"] == reached + 2
    assert not list((run / "checkpoints").glob(".*.tmp"))
    for path in (run / "checkpoints").glob("*.ckpt"):
        torch.load(path, weights_only=True)
    assert (run / "backbone.safetensors").is_file()


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(synthetic_root, tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "condet",
        *pretrain_args(
            synthetic_root,
            run,
            "--accelerator",
            "cpu",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--epochs",
            "1",
            "--max-steps",
            "2",
        ),
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CONDET_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2
    assert (run / "backbone.safetensors").is_file()


@pytest.mark.slow
def test_continued_pretraining_starts_from_imagenet_and_transfers_to_detection(
    synthetic_root, tmp_path
):
    """In-domain SSL from an ImageNet start (what the SSL paper's comparison needs)."""
    from condet.inference import load_detector
    from condet.models.backbones import build_backbone

    run = tmp_path / "continued"
    lite = ["--backbone", "efficientnet_lite0", "--max-steps", "2", "--epochs", "1"]
    assert main([*pretrain_args(synthetic_root, run), *lite, "--weights", "imagenet"]) == 0
    imagenet = build_backbone("efficientnet_lite0", "imagenet").state_dict()
    random = build_backbone("efficientnet_lite0").state_dict()
    continued = weights(run)
    convolutions = [key for key, value in imagenet.items() if value.ndim == 4]
    for key in convolutions:
        change = (continued[key] - imagenet[key]).norm() / imagenet[key].norm()
        assert change < 0.05, key  # two steps at a tenth of the rate move little
    assert all(not torch.allclose(continued[key], random[key]) for key in convolutions)

    detector_run = tmp_path / "detector"
    detect = [
        "detect-train",
        "--data",
        str(synthetic_root),
        "--backbone",
        "efficientnet_lite0",
        "--weights",
        str(run),
        "--trainable-stages",
        "3",
        "--min-size",
        "128",
        "--max-size",
        "128",
        "--max-steps",
        "1",
        "--epochs",
        "1",
        "--no-progress",
        "--out",
        str(detector_run),
    ]
    assert main(detect) == 0
    detector, _, _ = load_detector(detector_run)
    stem = detector.backbone.body["stem"].conv.weight  # frozen: exactly the pretrained weights
    torch.testing.assert_close(stem, continued["body.stem.conv.weight"])


def test_backbone_learns_at_a_tenth_of_the_rate_from_pretrained_weights():
    from condet.models.backbones import build_backbone
    from condet.models.heads import ProjectionHead
    from condet.train.optim import make_optimizer
    from condet.train.pretrain import backbone_lr_scale

    assert backbone_lr_scale({"weights": "random"}) == 1.0
    assert backbone_lr_scale({"weights": "imagenet"}) == 0.1
    assert backbone_lr_scale({"weights": "imagenet", "backbone_lr_scale": 0.5}) == 0.5
    model = torch.nn.Module()
    model.backbone, model.head = build_backbone("resnet18"), ProjectionHead(512, 64, 16)
    optimizer = make_optimizer(model, "sgd", 1.0, 1e-4, lr_scales={"backbone": 0.1})
    backbone_parameters = {id(p) for p in model.backbone.parameters()}
    for group in optimizer.param_groups:
        in_backbone = {id(p) in backbone_parameters for p in group["params"]}
        assert len(in_backbone) == 1
        assert group["lr"] == (0.1 if in_backbone.pop() else 1.0)
        assert group["weight_decay"] == (0.0 if group["params"][0].ndim <= 1 else 1e-4)
