"""How well labelled images cover a pool: every image's distance to its nearest labelled one.

The largest of these distances is the core-set objective k-center greedy minimises (Sener &
Savarese, ICLR 2018); the mean says how far a typical image is from a labelled example. Both
compare selections made on the same embeddings, whatever method made them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import pairwise_distances_argmin_min


@dataclass(frozen=True)
class Coverage:
    """``nearest[i]``: position in ``centres`` of image i's nearest centre; ``distance[i]`` the
    Euclidean distance to it; ``sizes[j]`` how many images are nearest to centre j."""

    nearest: np.ndarray
    distance: np.ndarray
    sizes: np.ndarray

    @property
    def max_distance(self) -> float:
        return float(self.distance.max())

    @property
    def mean_distance(self) -> float:
        return float(self.distance.mean())


def coverage(features: np.ndarray, centres: Sequence[int]) -> Coverage:
    """The nearest of ``centres`` (row indices) to every row of ``features`` ``[N, D]``.

    >>> points = np.array([[0.0], [1.0], [4.0], [6.0]])
    >>> covered = coverage(points, [0, 3])
    >>> covered.sizes.tolist(), covered.max_distance
    ([2, 2], 2.0)
    """
    features = np.asarray(features)
    centres = np.asarray(centres, dtype=np.int64)
    nearest, distance = pairwise_distances_argmin_min(features, features[centres])
    return Coverage(nearest, distance, np.bincount(nearest, minlength=len(centres)))
