"""Optimizers for contrastive training: SGD or LARS, without weight decay on norms and biases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

import torch
from torch import nn


def parameter_groups(
    model: nn.Module, weight_decay: float, lr_scales: Mapping[str, float] | None = None
) -> list[dict]:
    """Weight decay on weights only: BatchNorm parameters and biases get none (SimCLR, MoCo v3).

    ``lr_scales`` maps names of ``model``'s children to a factor of their learning rate (kept in
    each group as ``lr_scale``), e.g. ``{"backbone": 0.1}`` to train pretrained weights slower
    than a new head.
    """
    lr_scales = lr_scales or {}
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            scale = lr_scales.get(name.split(".")[0], 1.0)
            groups.setdefault((parameter.ndim <= 1, scale), []).append(parameter)
    return [
        {"params": parameters, "weight_decay": 0.0 if no_decay else weight_decay, "lr_scale": scale}
        | ({"lars_exclude": True} if no_decay else {})
        for (no_decay, scale), parameters in sorted(groups.items(), key=lambda item: item[0])
    ]


class LARS(torch.optim.Optimizer):
    """Layer-wise adaptive rate scaling (You et al. 2017), as SimCLR trains large batches.

    Each parameter's step is scaled by ``trust * ||w|| / ||grad + weight_decay * w||``; groups
    marked ``lars_exclude`` (norms, biases) take plain SGD steps. Written here because neither
    torch nor torchvision ships LARS.

    The denominator is that of SimCLR's and MAE's implementations: the norm of the decayed
    gradient. The LARS paper (and lightly's ``LARS``) divides by ``||grad|| + weight_decay *
    ||w||`` instead, which is never smaller, so its steps are at most as long; the two agree
    without weight decay.

    Args:
        params: parameters or groups (see :func:`parameter_groups`).
        lr, momentum, weight_decay: as SGD.
        trust_coefficient: ``trust`` above (0.001 in the LARS paper and SimCLR).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "trust_coefficient": trust_coefficient,
            "lars_exclude": False,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                update = parameter.grad.add(parameter, alpha=group["weight_decay"])
                if not group["lars_exclude"]:
                    weight_norm = torch.linalg.vector_norm(parameter)
                    update_norm = torch.linalg.vector_norm(update)
                    trust = torch.where(
                        (weight_norm > 0) & (update_norm > 0),
                        group["trust_coefficient"] * weight_norm / update_norm,
                        torch.ones_like(weight_norm),
                    )
                    update = update.mul(trust)
                state = self.state[parameter]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = update.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                parameter.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def make_optimizer(
    model: nn.Module,
    name: Literal["sgd", "lars", "adamw"],
    lr: float,
    weight_decay: float,
    momentum: float = 0.9,
    lr_scales: Mapping[str, float] | None = None,
) -> torch.optim.Optimizer:
    """SGD, LARS or AdamW over :func:`parameter_groups` of ``model``."""
    groups = parameter_groups(model, weight_decay, lr_scales)
    for group in groups:
        group["lr"] = lr * group.pop("lr_scale")
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    for group in groups:
        group.pop("lars_exclude", None)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
