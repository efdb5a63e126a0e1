from __future__ import annotations

import numpy as np

from condet.selection import coverage


def test_nearest_centre_distances_and_cell_sizes():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [10.0, 0.0], [11.0, 0.0], [0.0, 1.0]])
    covered = coverage(points, [0, 2])
    assert covered.nearest.tolist() == [0, 0, 1, 1, 0]
    assert covered.distance.tolist() == [0.0, 5.0, 0.0, 1.0, 1.0]
    assert covered.sizes.tolist() == [3, 2]
    assert covered.max_distance == 5.0 and covered.mean_distance == 7.0 / 5
