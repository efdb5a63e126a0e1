"""k-center greedy selection: the core-set of Sener & Savarese, "Active Learning for
Convolutional Neural Networks: A Core-Set Approach" (ICLR 2018).

The core-set problem picks ``b`` centres so that the largest distance from any image to its
nearest centre is smallest. Its greedy 2-approximation (Sener & Savarese, Algorithm 1) keeps
each image's distance to the nearest centre chosen so far and repeatedly makes the farthest
image a centre. The images already labelled are the first centres; without any, the first
centre is an image drawn with the seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import pairwise_distances_argmin_min
from sklearn.metrics.pairwise import euclidean_distances

from condet.selection.budget import check_budget


def kcenter_greedy(
    features: np.ndarray, budget: int, labeled: Sequence[int] = (), seed: int = 0
) -> list[int]:
    """``budget`` indices of rows of ``features``, each the farthest from those before it.

    Args:
        features: ``[N, D]`` image embeddings; distances are Euclidean.
        budget: how many images to choose.
        labeled: indices already labelled: the first centres, never chosen again.
        seed: draws the first centre when nothing is labelled.

    Returns:
        The chosen indices in the order they were chosen (the first ``k`` of them are the
        greedy choice for a budget of ``k``).

    >>> points = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]])
    >>> kcenter_greedy(points, 2, labeled=[0])
    [2, 3]
    """
    # float64: scikit-learn computes float32 distances in float64 chunks, slower than this copy
    features = np.asarray(features, dtype=np.float64)
    squared_norms = np.einsum("ij,ij->i", features, features)[:, None]
    labeled = np.asarray(labeled, dtype=np.int64)
    check_budget(budget, len(features) - len(np.unique(labeled)))
    chosen: list[int] = []
    if len(labeled):
        _, nearest = pairwise_distances_argmin_min(features, features[labeled])
    else:
        first = int(np.random.default_rng(seed).integers(len(features)))
        chosen.append(first)
        nearest = _distances_to(features, squared_norms, first)
    # A centre gets -1, below any distance, so that duplicates of a centre (distance 0) are
    # still chosen before a centre would be chosen twice.
    nearest[labeled] = -1.0
    nearest[chosen] = -1.0
    while len(chosen) < budget:
        farthest = int(np.argmax(nearest))
        chosen.append(farthest)
        nearest = np.minimum(nearest, _distances_to(features, squared_norms, farthest))
        nearest[farthest] = -1.0
    return chosen


def _distances_to(features: np.ndarray, squared_norms: np.ndarray, index: int) -> np.ndarray:
    """Euclidean distances ``[N]`` from every row to row ``index``; ``squared_norms`` ``[N, 1]``
    of the rows, computed once rather than at each of the ``budget`` steps."""
    return euclidean_distances(
        features,
        features[index : index + 1],
        X_norm_squared=squared_norms,
        Y_norm_squared=squared_norms[index : index + 1].T,
    ).ravel()
