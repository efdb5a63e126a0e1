from __future__ import annotations

import numpy as np
import pytest

from condet.selection import typicality, typiclust, typiclust_clusters

# Cluster A: a 3x3 grid with its centre first. With k = 9 // 2 = 4 neighbours the centre's mean
# distance is 1, an edge midpoint's 1.10, a corner's 1.35, so the centre is the most typical.
A = np.array([[1.0, 1.0]] + [[x, y] for x in range(3) for y in range(3) if (x, y) != (1, 1)])
# Cluster B: a plus sign with one arm twice as long, its centre first, far from A. With k = 3
# the centre's mean distance is 1, the arms' at least 1.14.
B = np.array([[10.0, 0.0], [11.0, 0.0], [9.0, 0.0], [10.0, 1.0], [10.0, -1.0], [12.0, 0.0]])
# Cluster C: 3 outliers, a cluster of at most 5 that TypiClust does not visit.
C = np.array([[0.0, 10.0], [0.5, 10.0], [0.0, 10.5]])
POINTS = np.vstack([A, B, C])
CLUSTERS = np.repeat([0, 1, 2], [len(A), len(B), len(C)])
CENTRE_A, CENTRE_B = 0, len(A)


def test_typicality_is_the_inverse_mean_distance_to_the_nearest_neighbours():
    points = np.array([[0.0], [1.0], [3.0]])
    # nearest other points: 0 -> 1 (1), 1 -> 0 (1), 3 -> 1 (2)
    assert typicality(points, 1) == pytest.approx([1 / (1 + 1e-5), 1 / (1 + 1e-5), 1 / (2 + 1e-5)])
    assert typicality(A, 4)[0] == pytest.approx(1 / (1 + 1e-5))
    assert int(np.argmax(typicality(A, 4))) == 0
    assert int(np.argmax(typicality(B, 3))) == 0


def test_the_most_typical_image_of_the_largest_clusters_first():
    assert typiclust(POINTS, 2, clusters=CLUSTERS) == [CENTRE_A, CENTRE_B]


def test_small_clusters_are_skipped_and_the_largest_visited_again():
    picks = typiclust(POINTS, 3, clusters=CLUSTERS)
    assert picks[:2] == [CENTRE_A, CENTRE_B]
    assert CLUSTERS[picks[2]] == 0  # A again, never the outliers C


def test_clusters_with_labelled_images_are_visited_last():
    assert typiclust(POINTS, 1, labeled=[CENTRE_A], clusters=CLUSTERS) == [CENTRE_B]
    picks = typiclust(POINTS, 2, labeled=[CENTRE_A], clusters=CLUSTERS)
    assert picks[0] == CENTRE_B and CLUSTERS[picks[1]] == 0 and picks[1] != CENTRE_A


def test_a_pool_of_small_clusters_is_still_chosen_from():
    clusters = np.arange(len(C))  # three clusters of one image each
    assert sorted(typiclust(C, 3, clusters=clusters)) == [0, 1, 2]


def test_k_means_finds_the_clusters_and_the_same_seed_the_same_picks():
    points = np.vstack([A, B])
    found = typiclust_clusters(points, 2, seed=0)
    assert len(set(found[: len(A)])) == 1 and len(set(found[len(A) :])) == 1
    assert found[0] != found[-1]
    assert typiclust(points, 2, seed=3) == [CENTRE_A, CENTRE_B]


def test_the_same_seed_gives_the_same_ids_on_random_features():
    features = np.random.default_rng(0).normal(size=(200, 8))
    assert typiclust(features, 10, seed=1) == typiclust(features, 10, seed=1)
    assert len(set(typiclust(features, 10, seed=1))) == 10
