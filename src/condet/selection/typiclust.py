"""TypiClust: Hacohen, Dekel & Weinshall, "Active Learning on a Budget: Opposite Strategies
Suit High and Low Budgets" (ICML 2022).

With few labels, the images worth labelling are *typical* ones (in dense regions of a
self-supervised embedding) and *diverse* ones (from different regions). TypiClust:

1. clusters the embeddings with k-means into as many clusters as there will be labelled images
   (already labelled + budget, at most 500);
2. visits the clusters that hold the fewest labelled images first, the largest of those first,
   skipping clusters of 5 images or fewer (the outliers of the embedding);
3. from each visited cluster takes its most typical image not yet chosen, where
   ``typicality(x) = 1 / mean distance from x to its k nearest neighbours`` within the cluster,
   ``k = min(20, cluster size // 2)``;
4. when every eligible cluster has been visited, starts over (a budget above 500, or many
   small clusters).

The constants and the visiting order are those of the authors' code (``pycls/al/typiclust.py``
in avihu111/TypiClust). Their code measures squared distances (faiss); this uses the paper's
Euclidean distance, which ranks the neighbourhoods almost the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from condet.selection.budget import check_budget

MAX_CLUSTERS = 500
MIN_CLUSTER_SIZE = 5  # clusters of at most this many images are not visited
NEIGHBOURS = 20
# Lloyd's k-means passes over every image per iteration and restart; above this many images,
# mini-batches of 5000 (the authors' batch size) cost far less. (The authors switch above 50
# clusters instead; here a small pool gets full k-means whatever the budget.)
MINIBATCH_ABOVE = 5000
SINGLE_THREAD_UP_TO = 2000  # images of a cluster searched for neighbours on one thread


def cluster_count(budget: int, labeled: int, images: int) -> int:
    """How many k-means clusters: one per image labelled after this round (``labeled`` +
    ``budget``), at most :data:`MAX_CLUSTERS` and at most ``images``."""
    return min(labeled + budget, MAX_CLUSTERS, images)


def typiclust_clusters(features: np.ndarray, clusters: int, seed: int = 0) -> np.ndarray:
    """k-means cluster of each row of ``features`` ``[N, D]``: int ``[N]`` in ``0..clusters-1``.

    scikit-learn's ``KMeans`` (10 restarts), or ``MiniBatchKMeans`` (batches of 5000, 3
    restarts) above :data:`MINIBATCH_ABOVE` images, seeded with ``seed``.
    """
    # float64: on float32 features scikit-learn's mini-batch k-means took 10x as long on this
    # project's CPU (52 s against 5 s for 10 000 x 1280 features into 100 clusters)
    features = np.asarray(features, dtype=np.float64)
    if len(features) > MINIBATCH_ABOVE:
        kmeans = MiniBatchKMeans(clusters, batch_size=5000, n_init=3, random_state=seed)
    else:
        kmeans = KMeans(clusters, n_init=10, random_state=seed)
    return kmeans.fit_predict(features)


def typicality(features: np.ndarray, neighbours: int) -> np.ndarray:
    """``1 / mean distance to the `neighbours` nearest other rows`` of ``features`` ``[M, D]``:
    float ``[M]``, higher in denser places. ``neighbours`` must be below ``M``.

    >>> typicality(np.array([[0.0], [1.0], [2.0], [10.0]]), 1).round(3).tolist()
    [1.0, 1.0, 1.0, 0.125]
    """
    # Searching a cluster of a few hundred images is too little work to share: on a busy 2-core
    # machine, starting scikit-learn's OpenMP threads took 10-30x the search itself.
    with threadpool_limits(1 if len(features) <= SINGLE_THREAD_UP_TO else None):
        distances, _ = NearestNeighbors(n_neighbors=neighbours).fit(features).kneighbors()
    # the authors' 1e-5 keeps a point with duplicates (distance 0) finite
    return 1.0 / (distances.mean(axis=1) + 1e-5)


def typiclust(
    features: np.ndarray,
    budget: int,
    labeled: Sequence[int] = (),
    seed: int = 0,
    clusters: np.ndarray | None = None,
) -> list[int]:
    """``budget`` indices of rows of ``features`` chosen by TypiClust (see the module docstring).

    Args:
        features: ``[N, D]`` image embeddings (the authors L2-normalise them first).
        budget: how many images to choose.
        labeled: indices already labelled: their clusters count as covered, and they are
            never chosen again.
        seed: seeds k-means.
        clusters: int ``[N]``, a clustering to use instead of k-means (from
            :func:`typiclust_clusters`, to report its cluster sizes).

    Returns:
        The chosen indices, in the order the clusters were visited.
    """
    features = np.asarray(features)
    labeled = np.unique(np.asarray(labeled, dtype=np.int64))
    check_budget(budget, len(features) - len(labeled))
    if clusters is None:
        count = cluster_count(budget, len(labeled), len(features))
        clusters = typiclust_clusters(features, count, seed)
    available = np.ones(len(features), bool)
    available[labeled] = False
    members_of = {int(c): np.flatnonzero(clusters == c) for c in np.unique(clusters)}
    chosen: list[int] = []
    for visiting in _visiting_orders(clusters, labeled):
        while len(chosen) < budget:
            before = len(chosen)
            for cluster in visiting:
                members = members_of[cluster][available[members_of[cluster]]]
                if len(members) == 0:
                    continue
                pick = int(members[_most_typical(features[members])])
                chosen.append(pick)
                available[pick] = False
                if len(chosen) == budget:
                    return chosen
            if len(chosen) == before:
                break
    return chosen


def _most_typical(features: np.ndarray) -> int:
    """The row of ``features`` ``[M, D]`` of highest typicality, with the authors' ``k``
    (20, or half the rows of a small cluster)."""
    neighbours = min(NEIGHBOURS, len(features) // 2)
    return 0 if neighbours == 0 else int(np.argmax(typicality(features, neighbours)))


def _visiting_orders(clusters: np.ndarray, labeled: np.ndarray) -> tuple[list[int], list[int]]:
    """Cluster ids in the order they are visited, fewest labelled images first, then largest
    first: the clusters above :data:`MIN_CLUSTER_SIZE` images, and then, once those have
    nothing left, all clusters (a pool whose clusters are all small)."""
    ids, sizes = np.unique(clusters, return_counts=True)
    covered = np.array([np.count_nonzero(clusters[labeled] == i) for i in ids])
    order = np.lexsort((-sizes, covered))  # the last key sorts first
    eligible = [int(ids[i]) for i in order if sizes[i] > MIN_CLUSTER_SIZE]
    return eligible, [int(ids[i]) for i in order]
