"""The learning-rate schedule and the one conversion of each command's warm-up to steps."""

from __future__ import annotations

import pytest
import torch

from condet.train.schedule import cosine_schedule, cosine_with_warmup, warmup_steps


def test_warmup_epochs_become_steps_per_epoch_times_epochs():
    # pretrain and classify-train: --warmup-epochs, fractions of an epoch allowed
    assert warmup_steps({"epochs": 10, "warmup_epochs": 0.5}, steps_per_epoch=7) == 4
    assert warmup_steps({"epochs": 10, "warmup_epochs": 2.0}, steps_per_epoch=7) == 14


@pytest.mark.parametrize(
    ("steps", "epochs", "expected"),
    [(8, 10, 8), (20, 10, 10), (100, 2, 2), (100, 1, 1), (100, 0, 1)],
)
def test_warmup_steps_are_capped_at_a_fifth_of_the_run(steps, epochs, expected):
    # detect-train: --warmup-steps, at most a fifth of the run (and at least one step)
    assert warmup_steps({"epochs": epochs, "warmup_steps": steps}, steps_per_epoch=5) == expected


def test_the_factor_warms_up_linearly_then_decays_to_zero():
    factor = cosine_with_warmup(total_steps=10, warmup_steps=4)
    assert [factor(step) for step in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert factor(4) == 1.0 and factor(7) == pytest.approx(0.5) and factor(10) == 0.0
    assert factor(50) == 0.0


def test_the_scheduler_steps_every_optimizer_step():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    entry = cosine_schedule(optimizer, {"epochs": 2, "warmup_epochs": 1.0}, steps_per_epoch=2)
    assert entry["interval"] == "step"
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        entry["scheduler"].step()
    assert rates == [0.5, 1.0, 1.0, 0.5]
