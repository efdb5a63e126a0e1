from __future__ import annotations

import torch
import yaml

from condet.config.classify import ClassifyConfig
from condet.options import build_config
from condet.train.crop_splits import rank_matrix_for


def ranked_config(tmp_path, rankings: dict, r: int) -> ClassifyConfig:
    path = tmp_path / "rankings.yaml"
    path.write_text(yaml.safe_dump({"rankings": rankings}))
    values = {"loss": "ranked", "rankings": path, "r": r, "temperatures": [0.1, 0.2, 0.3]}
    return build_config(ClassifyConfig, values)


def test_a_class_without_training_crops_leaves_the_rankings_before_the_cut(tmp_path):
    classes = ["bird", "boat", "plane", "kite"]
    rankings = {"plane": ["kite", "bird", "boat"], "bird": ["plane"], "boat": [], "kite": []}
    matrix = rank_matrix_for(ranked_config(tmp_path, rankings, r=3), classes, untrained=["kite"])
    # plane's ranks 2 and 3 are bird and boat, not kite and bird
    assert matrix[2].tolist() == [2, 3, 1, 0]
    assert matrix[3].tolist() == [0, 0, 0, 1]


def test_a_file_may_leave_untrained_classes_out(tmp_path):
    classes = ["bird", "boat", "plane", "kite"]
    rankings = {"plane": ["bird"], "bird": ["plane"], "boat": []}
    matrix = rank_matrix_for(ranked_config(tmp_path, rankings, r=2), classes, untrained=["kite"])
    assert torch.equal(matrix.diagonal(), torch.ones(4, dtype=torch.long))
    assert matrix[0, 2] == matrix[2, 0] == 2
