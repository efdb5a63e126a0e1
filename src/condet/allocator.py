"""Process-level settings that make PyTorch on CPU faster.

PyTorch's CPU tensors come straight from ``malloc``. glibc serves blocks above a few MB with
fresh ``mmap`` pages and returns them to the system on ``free``, so a training step that makes
and drops the same large tensors every iteration page-faults its way through gigabytes: on the
2-core VMs condet is developed on, a quarter of a contrastive loss's time (see
docs/results.md). PyTorch's performance guide advises swapping in jemalloc or TCMalloc; this is
the same effect with glibc alone, asked for once when a condet command starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_KEEP_BYTES = 1 << 30


def tune_cpu_allocator() -> bool:
    """Keep freed large blocks in the process for reuse; True when applied (glibc only)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return False
    # Fixed thresholds also switch off glibc's own, slower-adapting dynamic ones.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)
    )
