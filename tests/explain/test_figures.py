"""Heatmap pictures and the side-by-side grid."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from condet.explain.figures import overlay, save_grid


def test_grid_has_one_row_per_image_and_one_column_per_model(tmp_path):
    picture = overlay(torch.rand(3, 32, 32), np.random.default_rng(0).random((32, 32)))
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    path = save_grid([[picture] * 3] * 2, ["image", "a", "b"], tmp_path / "grid.png", "title")
    width, height = Image.open(path).size
    assert width > height  # 3 columns, 2 rows
