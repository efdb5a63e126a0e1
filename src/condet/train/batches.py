"""The batches every condet training command draws: seeded, keyed by the step, resumable.

Resuming (``--resume``) is exact: data order and augmentations are functions of the seed and
the optimizer step, and the loader tells Lightning how far into the epoch it was, so a run
killed at any moment continues from its last checkpoint as if it had never stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from condet.errors import CondetError


class StepBatchSampler(Sampler[tuple[int, list[int]]]):
    """``(step, indices)`` of each batch, drawn from a seeded permutation per epoch.

    Where an iteration starts is a function of the optimizer steps already done
    (``steps_done()``): epoch ``e = steps // batches_per_epoch`` uses the permutation of
    ``seed + e``, and a run resumed mid-epoch starts at the batch it had reached. The step
    number travels with the batch so that its random augmentation can be seeded by it. Process
    ``r`` of ``w`` takes every ``w``-th sample of the permutation, and all processes yield the
    same number of full batches (DDP needs equal steps and the contrastive gather equal shapes).
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        steps_done: Callable[[], int],
        rank: int = 0,
        world: int = 1,
    ) -> None:
        per_process = size // world
        if per_process < batch_size:
            raise CondetError(
                f"{size} samples over {world} process(es) cannot fill one batch of {batch_size}; "
                "lower --batch-size"
            )
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.steps_done = steps_done
        self.rank, self.world = rank, world
        self.batches_per_epoch = per_process // batch_size

    def set_epoch(self, epoch: int) -> None:
        """Ignored: the epoch follows from the steps done (Lightning calls this each epoch)."""

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[tuple[int, list[int]]]:
        epoch, start = divmod(int(self.steps_done()), self.batches_per_epoch)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(self.size, generator=generator)[self.rank :: self.world]
        for batch in range(start, self.batches_per_epoch):
            indices = order[batch * self.batch_size : (batch + 1) * self.batch_size].tolist()
            yield epoch * self.batches_per_epoch + batch, indices


class StepBatches(Dataset):
    """Whole batches of a uint8 image tensor, keyed by ``(step, indices)``.

    ``transform(images, step)`` (e.g. two augmented views seeded by the step) runs where the
    batch is made: in a data-loading worker, in parallel with the training step, when the
    loader has workers. Without one, items are ``(images, step)``.
    """

    def __init__(self, images: torch.Tensor, transform: Callable | None = None) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: tuple[int, list[int]]) -> Any:
        step, indices = key
        batch = self.images[indices]
        return (batch, step) if self.transform is None else self.transform(batch, step)


class LabelledCrops:
    """``crops[indices]`` and their labels, as :class:`StepBatches` expects of a tensor."""

    def __init__(self, crops: Tensor, labels: Tensor) -> None:
        self.crops, self.labels = crops, labels

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        return self.crops[indices], self.labels[indices]


class ResumableLoader(DataLoader):
    """A DataLoader over a :class:`StepBatchSampler` that Lightning knows it can resume.

    Lightning resumes a mid-epoch checkpoint correctly only for loaders with a
    ``state_dict``; this one's position follows from the restored step count, so its state
    is just that count, kept for the record.
    """

    def __init__(self, dataset: StepBatches, sampler: StepBatchSampler, **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, batch_size=None, **kwargs)

    def state_dict(self) -> dict[str, int]:
        return {"steps_done": int(self.sampler.steps_done())}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Nothing to restore: the sampler reads the trainer's restored step count."""
