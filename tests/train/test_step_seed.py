from __future__ import annotations

from types import SimpleNamespace

import torch

from condet.train.step_seed import SeedEachStep, seed_global_generator


def test_seed_each_step_seeds_by_step_and_process():
    callback = SeedEachStep(seed=3)
    draws = {}
    for step, rank in [(5, 0), (5, 1), (6, 0), (5, 0)]:
        torch.rand(7)  # whatever ran before the step does not matter
        trainer = SimpleNamespace(global_step=step, global_rank=rank)
        callback.on_train_batch_start(trainer, None, None, 0)
        draws.setdefault((step, rank), []).append(torch.rand(4))
    seed_global_generator(3, 5, 0)
    assert torch.equal(draws[5, 0][0], torch.rand(4))
    assert torch.equal(draws[5, 0][0], draws[5, 0][1])
    assert not torch.equal(draws[5, 0][0], draws[5, 1][0])
    assert not torch.equal(draws[5, 0][0], draws[6, 0][0])
