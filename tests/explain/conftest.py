from __future__ import annotations

import pytest
import torch

from tests.explain.box_detector import make_scenes, train_box_detector


# package scope: the test detector is trained once for the detector CAM and command tests
@pytest.fixture(scope="package")
def scenes() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return make_scenes()


@pytest.fixture(scope="package")
def trained(scenes) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    return train_box_detector(scenes)
