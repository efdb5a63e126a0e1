"""Which images to label: image embeddings and selection methods behind ``condet select``.

- :func:`random_selection`: seeded uniform draw (the baseline);
- :func:`kcenter_greedy`: the core-set's greedy farthest-point (Sener & Savarese, ICLR 2018);
- :func:`typiclust`: the most typical image of each of the largest uncovered k-means clusters
  (Hacohen et al., ICML 2022);
- :func:`image_embeddings`: pooled backbone features of a pool's images, cached;
- :func:`coverage`: every image's distance to its nearest labelled one.

Every method takes embeddings ``[N, D]``, a budget, the indices labelled already and a seed,
and returns the chosen indices in the order chosen; none of them reads labels.
"""

from condet.selection.budget import budget_count
from condet.selection.coverage import Coverage, coverage
from condet.selection.embeddings import image_embeddings
from condet.selection.kcenter import kcenter_greedy
from condet.selection.random_selection import random_selection
from condet.selection.typiclust import typicality, typiclust, typiclust_clusters

__all__ = [
    "Coverage",
    "budget_count",
    "coverage",
    "image_embeddings",
    "kcenter_greedy",
    "random_selection",
    "typicality",
    "typiclust",
    "typiclust_clusters",
]
