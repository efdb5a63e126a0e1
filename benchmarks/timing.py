"""The timers every benchmark shares: a rate of timed steps, the best of a few calls, and the
machine and load a figure was measured under (the host is shared: a figure without its load
says little)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from typing import Any

import torch
import torchvision

from condet.run_folder import cpu_model


def synchronize() -> None:
    """Wait for a GPU's queued work, so that a timer measures it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def images_per_second(step: Callable[[], None], warmup: int, steps: int, batch: int) -> float:
    """Images a second over ``steps`` calls of ``step`` (``batch`` images each), after
    ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return steps * batch / (time.perf_counter() - start)


def images_per_second_between(starts: list[float], warmup: int, batch: int) -> float:
    """Images a second between the start of step ``warmup`` and of the last step, from the
    start time of every step (taken by a training loop's callback)."""
    steps = len(starts) - 1 - warmup
    return steps * batch / (starts[-1] - starts[warmup])


def timed(function: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """The fewest seconds of ``repeats`` calls of ``function``, and what the last returned."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def load_average() -> str:
    """``uptime``'s line (the load over 1, 5 and 15 minutes)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    """The CPU, the cores this process may use, the versions and the thread settings."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs ({usable} usable), torch {torch.__version__} "
        f"(torchvision {torchvision.__version__}), torch threads: {torch.get_num_threads()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
        f"Python {platform.python_version()}"
    )
