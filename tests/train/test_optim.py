"""LARS against a loop-by-loop reading of its update, and the parameter groups it is given."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from condet.train.optim import LARS, make_optimizer, parameter_groups


def reference_lars(weights, gradients, lr, momentum, weight_decay, trust_coefficient, exclude):
    """Plain-float LARS: ``weights`` is a list of parameters (lists of floats), ``gradients``
    one such list per step; returns the weights after every step.

    Per parameter and step: ``u = g + weight_decay * w``; unless excluded, ``u *= trust *
    ||w|| / ||u||`` (1 when either norm is 0); the momentum buffer is ``u`` the first time and
    ``momentum * buffer + u`` after; ``w -= lr * buffer``.
    """
    weights = [list(w) for w in weights]
    buffers: list[list[float] | None] = [None] * len(weights)
    for step_gradients in gradients:
        for index, (w, g) in enumerate(zip(weights, step_gradients, strict=True)):
            update = [g_i + weight_decay * w_i for w_i, g_i in zip(w, g, strict=True)]
            if not exclude:
                weight_norm = math.sqrt(sum(w_i * w_i for w_i in w))
                update_norm = math.sqrt(sum(u_i * u_i for u_i in update))
                trust = (
                    trust_coefficient * weight_norm / update_norm
                    if weight_norm > 0 and update_norm > 0
                    else 1.0
                )
                update = [u_i * trust for u_i in update]
            if buffers[index] is None:
                buffers[index] = list(update)
            else:
                buffers[index] = [
                    momentum * b_i + u_i for b_i, u_i in zip(buffers[index], update, strict=True)
                ]
            weights[index] = [w_i - lr * b_i for w_i, b_i in zip(w, buffers[index], strict=True)]
    return weights


def run_lars(weights, gradients, exclude, **options):
    parameters = [nn.Parameter(torch.tensor(w, dtype=torch.float64)) for w in weights]
    optimizer = LARS([{"params": parameters, "lars_exclude": exclude}], **options)
    for step_gradients in gradients:
        for parameter, gradient in zip(parameters, step_gradients, strict=True):
            parameter.grad = torch.tensor(gradient, dtype=torch.float64)
        optimizer.step()
    return [parameter.detach().tolist() for parameter in parameters]


OPTIONS = {"lr": 0.5, "momentum": 0.9, "weight_decay": 1e-2, "trust_coefficient": 0.01}


def random_case(steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shapes = [6, 3, 1]
    weights = [torch.randn(n, generator=generator, dtype=torch.float64).tolist() for n in shapes]
    gradients = [
        [torch.randn(n, generator=generator, dtype=torch.float64).tolist() for n in shapes]
        for _ in range(steps)
    ]
    return weights, gradients


@pytest.mark.parametrize("steps", [1, 4])
@pytest.mark.parametrize("exclude", [False, True])
def test_lars_matches_the_loop_by_loop_reference(steps, exclude):
    weights, gradients = random_case(steps, seed=steps)
    result = run_lars(weights, gradients, exclude, **OPTIONS)
    expected = reference_lars(weights, gradients, exclude=exclude, **OPTIONS)
    for got, want in zip(result, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_one_lars_step_is_the_trust_ratio_times_the_update():
    weight, gradient = [3.0, 4.0], [0.6, 0.8]  # ||w|| = 5, ||g|| = 1
    (result,) = run_lars([weight], [[gradient]], False, lr=1.0, trust_coefficient=0.1)
    # trust = 0.1 * 5 / 1 = 0.5: w - 1.0 * 0.5 * g
    assert result == pytest.approx([3.0 - 0.3, 4.0 - 0.4])
    (plain,) = run_lars([weight], [[gradient]], True, lr=1.0, trust_coefficient=0.1)
    assert plain == pytest.approx([3.0 - 0.6, 4.0 - 0.8])  # excluded: a plain SGD step


def test_zero_weights_or_zero_updates_take_an_unscaled_step():
    (from_zero,) = run_lars([[0.0, 0.0]], [[[1.0, -2.0]]], False, lr=0.1)
    assert from_zero == pytest.approx([-0.1, 0.2])
    (still,) = run_lars([[1.0, 2.0]], [[[0.0, 0.0]]], False, lr=0.1)
    assert still == [1.0, 2.0]


def test_weight_decay_enters_the_update_before_the_trust_ratio():
    weights, gradients = [[1.0, 0.0]], [[[0.0, 1.0]]]
    options = {"lr": 1.0, "momentum": 0.0, "weight_decay": 1.0, "trust_coefficient": 1.0}
    (result,) = run_lars(weights, gradients, False, **options)
    # u = g + w = (1, 1), ||w|| / ||u|| = 1 / sqrt(2): w - u / sqrt(2)
    assert result == pytest.approx([1 - 1 / math.sqrt(2), -1 / math.sqrt(2)])
    assert result == pytest.approx(reference_lars(weights, gradients, exclude=False, **options)[0])


def test_parameters_without_gradients_are_left_alone_and_the_closure_is_called():
    used, unused = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    optimizer = LARS([used, unused], lr=0.1)

    def closure():
        loss = (used * torch.tensor([1.0, 2.0])).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 3.0
    assert torch.equal(unused.detach(), torch.ones(2)) and unused not in optimizer.state
    assert (
        not torch.equal(used.detach(), torch.ones(2)) and "momentum_buffer" in optimizer.state[used]
    )


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_parameter_groups_take_decay_off_norms_and_biases_and_scale_learning_rates():
    model = Small()
    groups = parameter_groups(model, 1e-4, {"backbone": 0.1})
    by_key = {(group["weight_decay"], group["lr_scale"]): group for group in groups}
    assert [(g["weight_decay"], g["lr_scale"]) for g in groups] == [
        (1e-4, 0.1),
        (1e-4, 1.0),
        (0.0, 0.1),
        (0.0, 1.0),
    ]
    backbone, head = model.backbone, model.head

    def ids(group):
        return {id(p) for p in group["params"]}

    assert ids(by_key[1e-4, 0.1]) == {id(backbone[0].weight)}
    assert ids(by_key[1e-4, 1.0]) == {id(head.weight)}
    assert ids(by_key[0.0, 0.1]) == {
        id(backbone[0].bias),
        id(backbone[1].weight),
        id(backbone[1].bias),
    }
    assert ids(by_key[0.0, 1.0]) == {id(head.bias)}
    assert all(group.get("lars_exclude") is True for group in groups if group["weight_decay"] == 0)
    assert all("lars_exclude" not in group for group in groups if group["weight_decay"] > 0)
    frozen = {id(p) for p in model.frozen.parameters()}
    assert not frozen & {id(p) for group in groups for p in group["params"]}


def test_parameter_groups_without_scales_are_two_groups():
    groups = parameter_groups(Small(), 0.5)
    assert [(g["weight_decay"], g["lr_scale"], g.get("lars_exclude")) for g in groups] == [
        (0.5, 1.0, None),
        (0.0, 1.0, True),
    ]


@pytest.mark.parametrize(
    ("name", "kind"), [("lars", LARS), ("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)]
)
def test_make_optimizer_sets_each_groups_learning_rate(name, kind):
    optimizer = make_optimizer(Small(), name, 0.2, 1e-4, lr_scales={"backbone": 0.1})
    assert type(optimizer) is kind
    lrs = [group["lr"] for group in optimizer.param_groups]
    assert lrs == pytest.approx([0.02, 0.2, 0.02, 0.2])
    assert [group["weight_decay"] for group in optimizer.param_groups] == [1e-4, 1e-4, 0.0, 0.0]
    assert all("lr_scale" not in group for group in optimizer.param_groups)
    if name == "lars":
        excluded = [group["lars_exclude"] for group in optimizer.param_groups]
        assert excluded == [False, False, True, True]
    else:
        assert all("lars_exclude" not in group for group in optimizer.param_groups)
    if name != "adamw":
        assert all(group["momentum"] == 0.9 for group in optimizer.param_groups)
