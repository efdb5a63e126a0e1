"""fit(): the one training set-up of pretrain, detect-train and classify-train."""

from __future__ import annotations

import dataclasses

import lightning as L
import pytest
import torch
from torch import nn

import condet.train.classify
import condet.train.detect
import condet.train.pretrain
from condet.cli import main
from condet.config.pretrain import PretrainConfig
from condet.data.views import SimCLRAugmentation, TwoViews
from condet.train.batches import StepBatches
from condet.train.fit import fit
from condet.train.schedule import cosine_schedule


class TinyContrastive(L.LightningModule):
    """A linear map of two views pulled together: a module with an optimizer state (momentum)
    and a learning-rate schedule to resume, small enough to train in a test."""

    def __init__(self, steps_per_epoch: int) -> None:
        super().__init__()
        self.layer = nn.Linear(3 * 8 * 8, 4)
        self.steps_per_epoch = steps_per_epoch
        self.views_on_device = None

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.views_on_device is not None:
            images, step = batch
            return self.views_on_device(images, step)
        return batch

    def training_step(self, views, batch_index):
        first, second = (self.layer(view.flatten(1)) for view in views)
        return (first - second).pow(2).mean() - first.std(0).mean()

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        config = {"epochs": 2, "warmup_epochs": 0.5}
        return {
            "optimizer": optimizer,
            "lr_scheduler": cosine_schedule(optimizer, config, self.steps_per_epoch),
        }


def train_tiny(run, workers: int, **options) -> TinyContrastive:
    # 16 images of batch 4: 4 steps per epoch
    images = torch.randint(0, 256, (16, 3, 10, 10), dtype=torch.uint8, generator=torch.Generator())
    augment = SimCLRAugmentation(8, blur=False)
    config = PretrainConfig(
        out=run, epochs=2, batch_size=4, progress=False, accelerator="cpu", workers=workers
    )
    config = dataclasses.replace(config, **options)
    _, module = fit(
        config,
        run,
        StepBatches(images),
        TinyContrastive,
        views=lambda rank: TwoViews(augment, config.seed, rank),
    )
    return module


@pytest.mark.parametrize("workers", [0, 1])
def test_a_resumed_fit_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, workers):
    # As tests/train/test_pretrain.py's resume: stop mid-epoch (3), resume across the epoch
    # boundary to 6.
    straight = train_tiny(tmp_path / "straight", workers, max_steps=6)
    train_tiny(tmp_path / "resumed", workers, max_steps=3, checkpoint_every=2)
    resumed = train_tiny(tmp_path / "resumed", workers, max_steps=6, resume=True)
    assert resumed.global_step == straight.global_step == 6
    expected = straight.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in resumed.state_dict().items())


def test_the_initial_weights_do_not_depend_on_random_draws_before_fit(tmp_path):
    torch.manual_seed(1)
    first = train_tiny(tmp_path / "first", 0, max_steps=0).state_dict()
    torch.rand(100)
    second = train_tiny(tmp_path / "second", 0, max_steps=0).state_dict()
    assert all(torch.equal(value, second[key]) for key, value in first.items())


class FitCalled(Exception):
    pass


@pytest.mark.parametrize(
    ("module", "argv"),
    [
        (condet.train.pretrain, ["pretrain", "--split", "trainval", "--image-size", "32"]),
        (condet.train.detect, ["detect-train", "--split", "train", "--test-split", "test"]),
        (
            condet.train.classify,
            ["classify-train", "--split", "trainval", "--test-split", "test", "--crop-size", "32"],
        ),
    ],
)
def test_every_training_command_trains_through_fit(
    synthetic_root, tmp_path, monkeypatch, module, argv
):
    monkeypatch.setenv("CONDET_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def record(config, run, batches, make_module, **options):
        calls.append((config, run, len(batches)))
        raise FitCalled

    monkeypatch.setattr(module, "fit", record)
    with pytest.raises(FitCalled):
        main([*argv, "--data", str(synthetic_root), "--out", str(tmp_path / "run"), "--debug"])
    [(config, run, size)] = calls
    assert run == tmp_path / "run" and config.out == run and size > 0
