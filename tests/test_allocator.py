from __future__ import annotations

import sys

import pytest
import torch

from condet.allocator import tune_cpu_allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_allocator_tuning_applies_on_linux_and_tensors_still_work():
    assert tune_cpu_allocator() is True
    big = torch.ones(4096, 4096)
    del big
    assert torch.ones(4096, 4096).sum().item() == 4096 * 4096
