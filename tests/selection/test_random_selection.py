from __future__ import annotations

import numpy as np
import pytest

from condet.errors import CondetError
from condet.selection import random_selection

FEATURES = np.zeros((50, 3))


def test_the_same_seed_draws_the_same_images_and_another_seed_others():
    picks = random_selection(FEATURES, 10, seed=4)
    assert picks == random_selection(FEATURES, 10, seed=4)
    assert picks != random_selection(FEATURES, 10, seed=5)
    assert len(set(picks)) == 10 and all(0 <= index < 50 for index in picks)


def test_labelled_images_are_not_drawn_again():
    labelled = list(range(45))
    assert sorted(random_selection(FEATURES, 5, labeled=labelled)) == [45, 46, 47, 48, 49]
    with pytest.raises(CondetError, match="budget 6 is larger than the 5 images"):
        random_selection(FEATURES, 6, labeled=labelled)
