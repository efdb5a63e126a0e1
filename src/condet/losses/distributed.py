"""Gathering embeddings across processes so that every process contrasts against all negatives.

With ``gather_distributed=True`` a loss uses its own process's samples as anchors and the
samples of *all* processes as the contrast set. The gather keeps the autograd graph: its
backward sums every process's gradient for a process's samples back onto them, so the gradients
of a data-parallel run equal those of one process holding the whole batch once DDP has averaged
them.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def world_size() -> int:
    """Processes in the default group (1 without ``torch.distributed``)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 without ``torch.distributed``)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All processes' ``tensor`` concatenated along dim 0, in rank order, differentiably.

    Every process must pass the same shape (a ``DistributedSampler`` gives every process the
    same number of samples); unequal shapes are an error rather than a hang.
    """
    if world_size() == 1:
        return tensor
    _check_same_shape(tensor)
    return torch.cat(_GatherLayer.apply(tensor), dim=0)


def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All processes' ``tensor`` (labels, say) concatenated along dim 0, in rank order."""
    if world_size() == 1:
        return tensor
    _check_same_shape(tensor)
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)


class _GatherLayer(torch.autograd.Function):
    """``all_gather`` whose backward hands each process the sum of all processes' gradients.

    Written here because ``torch.distributed.nn.functional.all_gather`` is deprecated and its
    successor is private; all_reduce + slice works on every backend (gloo has no
    reduce_scatter).
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.empty_like(tensor) for _ in range(world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(grads)
        dist.all_reduce(stacked)
        return stacked[rank()]


def _check_same_shape(tensor: torch.Tensor) -> None:
    shape = torch.tensor(tensor.shape, device=tensor.device)
    shapes = [torch.empty_like(shape) for _ in range(world_size())]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(other, shape) for other in shapes):
        found = ", ".join(str(tuple(other.tolist())) for other in shapes)
        raise ValueError(f"gathered tensors must have one shape on every process, got {found}")
