"""Random selection: the baseline every other method must beat.

A seeded uniform draw, without replacement, from the images not yet labelled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from condet.selection.budget import check_budget


def random_selection(
    features: np.ndarray, budget: int, labeled: Sequence[int] = (), seed: int = 0
) -> list[int]:
    """``budget`` indices of rows of ``features`` drawn uniformly, none of them in ``labeled``.

    Args:
        features: ``[N, D]``; only its length is used (the methods share one signature).
        budget: how many images to choose.
        labeled: indices already labelled, never chosen again.
        seed: the same seed draws the same images.

    >>> random_selection(np.zeros((10, 2)), 3, labeled=[0, 1], seed=0)
    [4, 6, 5]
    """
    available = np.setdiff1d(np.arange(len(features)), np.asarray(labeled, dtype=np.int64))
    check_budget(budget, len(available))
    order = np.random.default_rng(seed).permutation(available)
    return [int(index) for index in order[:budget]]
