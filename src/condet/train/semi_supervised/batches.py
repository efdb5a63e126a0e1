"""The batches of a semi-supervised run: a labelled batch and an unlabelled one per step."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from condet.data.datasets import DetectionDataset, detection_collate
from condet.errors import CondetError


class SemiSupervisedBatches(Dataset):
    """``(labelled batch, unlabelled batch)`` keyed by ``(step, labelled indices)``.

    The labelled batch is what supervised training gets at that step; the unlabelled batch is
    ``unlabelled_batch`` images of a seeded permutation of the pool per pass over it (process
    ``r`` of ``w`` takes every ``w``-th: each labels its own shard), flipped at random with a
    seed per step. Each unlabelled target carries ``known``: whether its boxes (the true boxes
    a label fraction hid, or offline pseudo-labels) may be used.
    """

    def __init__(
        self,
        labelled: DetectionDataset,
        unlabelled: DetectionDataset,
        known: np.ndarray,
        seed: int,
        unlabelled_batch: int,
    ) -> None:
        if len(unlabelled) < unlabelled_batch:
            raise CondetError(
                f"{len(unlabelled)} unlabelled images cannot fill a batch of {unlabelled_batch}; "
                "lower --batch-size or --unlabeled-ratio"
            )
        self.labelled, self.unlabelled, self.known = labelled, unlabelled, known
        self.seed, self.unlabelled_batch = seed, unlabelled_batch
        self.rank, self.world = 0, 1

    def shard(self, rank: int, world: int) -> None:
        """Take process ``rank``'s share of the unlabelled images (``fit`` calls this)."""
        if len(self.unlabelled) // world < self.unlabelled_batch:
            raise CondetError(
                f"{len(self.unlabelled)} unlabelled images over {world} processes cannot fill a "
                f"batch of {self.unlabelled_batch} each; lower --batch-size or --unlabeled-ratio"
            )
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self.labelled)

    def __getitem__(self, key: tuple[int, list[int]]) -> tuple[Any, Any]:
        step, indices = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            labelled = detection_collate([self.labelled[index] for index in indices])
        per_pass = len(self.unlabelled) // self.world // self.unlabelled_batch
        passes, position = divmod(step, per_pass)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 500_009 + passes)
        order = torch.randperm(len(self.unlabelled), generator=generator)[self.rank :: self.world]
        chosen = order[position * self.unlabelled_batch : (position + 1) * self.unlabelled_batch]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + step) * 7 + 3)
            images, targets = detection_collate([self.unlabelled[int(i)] for i in chosen])
        for target, index in zip(targets, chosen.tolist(), strict=True):
            target["known"] = bool(self.known[index])
        return labelled, (images, targets)
