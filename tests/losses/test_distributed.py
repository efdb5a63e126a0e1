"""Two CPU processes (gloo) give the loss and gradients of one process holding the whole batch."""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import socket
import weakref
from collections.abc import Iterator

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from condet.losses import ntxent_loss, ranked_infonce_loss, supcon_loss
from condet.losses.distributed import gather_with_grad

WORLD_SIZE = 2
RANK_MATRIX = torch.tensor([[1, 2, 3, 0], [2, 1, 0, 0], [0, 3, 1, 2], [0, 0, 2, 1]])

LOSSES = {
    "ntxent": lambda f, y, gather: ntxent_loss(f[:, 0], f[:, 1], 0.5, gather_distributed=gather),
    "supcon": lambda f, y, gather: supcon_loss(f, y, 0.1, gather_distributed=gather),
    "ranked_in": lambda f, y, gather: ranked_infonce_loss(
        f, y, RANK_MATRIX, [0.1, 0.2, 0.4], "in", gather_distributed=gather
    ),
    "ranked_out": lambda f, y, gather: ranked_infonce_loss(
        f, y, RANK_MATRIX, [0.1, 0.2, 0.4], "out", gather_distributed=gather
    ),
}


def batch_and_model():
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(12, 2, 10, generator=generator)
    labels = torch.randint(4, (12,), generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Linear(10, 6)
    return inputs, labels, model


def single_process(name):
    inputs, labels, model = batch_and_model()
    loss = LOSSES[name](model(inputs), labels, False)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@contextlib.contextmanager
def gloo_group(rank: int, port: int) -> Iterator[None]:
    """The default gloo group of a worker, freed (its threads joined) before the worker returns."""
    # torch.distributed.nn binds the default group of the moment as its functions' default
    # argument. Imported after init (DDP imports it through torch._dynamo) it keeps the group
    # alive past destroy_process_group, so gloo's worker threads, which stop only when the group
    # is freed, still release their last tensors while the interpreter shuts down; taking the
    # GIL then aborts the process ("terminate called without an active exception").
    importlib.import_module("torch.distributed.nn")
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        yield
    finally:
        group = weakref.ref(dist.group.WORLD)
        dist.destroy_process_group()
    # only after passing checks: a failed check's traceback still holds its DDP, and the
    # failure is what the worker must report
    assert group() is None, "the process group outlived destroy_process_group"


def check_loss(rank, name):
    # a function of its own so that its DDP, which holds the process group, is gone on return
    inputs, labels, model = batch_and_model()
    expected_loss, expected_grads = single_process(name)
    ddp = DistributedDataParallel(copy.deepcopy(model))
    local = slice(rank * 6, rank * 6 + 6)
    loss = LOSSES[name](ddp(inputs[local]), labels[local], True)
    loss.backward()
    # every process computed the mean over its own anchors; their mean is the full loss
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    torch.testing.assert_close(mean_loss / WORLD_SIZE, expected_loss, msg=name)
    # DDP averages the parameter gradients, which then equal the single-process ones
    for parameter, expected in zip(ddp.parameters(), expected_grads, strict=True):
        torch.testing.assert_close(parameter.grad, expected, msg=name)


def worker(rank, port, names):
    with gloo_group(rank, port):
        for name in names:
            check_loss(rank, name)


def unequal_worker(rank, port):
    with (
        gloo_group(rank, port),
        pytest.raises(ValueError, match="one shape on every process"),
    ):
        gather_with_grad(torch.zeros(3 + rank, 4))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one():
    # one process group for all losses: starting processes costs seconds each time; the
    # workers assert (check_loss), and spawn raises when one of them fails
    mp.spawn(worker, args=(free_port(), list(LOSSES)), nprocs=WORLD_SIZE, join=True)


@pytest.mark.slow
def test_unequal_batches_are_an_error_not_a_hang():
    # the workers expect the error (unequal_worker); spawn raises when one of them fails
    mp.spawn(unequal_worker, args=(free_port(),), nprocs=WORLD_SIZE, join=True)


def test_without_a_process_group_gathering_is_the_identity():
    tensor = torch.randn(3, 4)
    assert gather_with_grad(tensor) is tensor
