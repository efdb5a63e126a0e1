from __future__ import annotations

import numpy as np
import pytest

from condet.errors import CondetError
from condet.selection import coverage, kcenter_greedy

# Points on a line: from the labelled 0, the farthest is 20, then 10 (10 from both), then 2.
LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [20.0]])


def test_each_pick_is_the_farthest_from_the_centres_so_far():
    assert kcenter_greedy(LINE, 3, labeled=[0]) == [5, 3, 2]


def test_the_labelled_images_are_the_first_centres_and_never_chosen():
    assert kcenter_greedy(LINE, 2, labeled=[5]) == [0, 3]
    assert kcenter_greedy(LINE, 4, labeled=[0, 5]) == [3, 2, 1, 4]


def test_without_labels_the_first_centre_is_drawn_with_the_seed():
    first = int(np.random.default_rng(7).integers(len(LINE)))
    picks = kcenter_greedy(LINE, 3, seed=7)
    assert picks[0] == first
    assert picks[1:] == kcenter_greedy(LINE, 2, labeled=[first])
    assert len({kcenter_greedy(LINE, 1, seed=seed)[0] for seed in range(20)}) > 1


def test_from_the_centre_of_a_grid_the_corners_then_the_edges():
    grid = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)
    picks = kcenter_greedy(grid, 4, labeled=[12])  # the centre of the 5x5 grid
    assert sorted(picks) == [0, 4, 20, 24]  # its four corners, 2 * sqrt(2) away
    assert coverage(grid, [12, *picks]).max_distance == pytest.approx(2.0)  # edge midpoints
    assert sorted(kcenter_greedy(grid, 8, labeled=[12])[4:]) == [2, 10, 14, 22]


def test_duplicates_are_chosen_before_anything_twice():
    points = np.zeros((3, 2))
    assert sorted(kcenter_greedy(points, 3, seed=0)) == [0, 1, 2]


def test_a_budget_above_the_unlabelled_images_is_refused():
    with pytest.raises(CondetError, match="budget 5 is larger than the 4 images"):
        kcenter_greedy(LINE, 5, labeled=[0, 1])
