"""A memory of past embeddings with their labels, for contrastive losses on small batches.

MoCo (He et al. 2020) keeps a queue of past keys so that the number of negatives does not
depend on the batch; the contrastive-detection report's code keeps such a queue with labels
for its supervised losses. The queue is a ring buffer of module buffers, so it is saved in
checkpoints and moves with the model between devices.

>>> import torch
>>> from condet.losses import supcon_loss
>>> queue = LabelledQueue(size=4096, dim=128)
>>> features, labels = torch.randn(8, 2, 128), torch.randint(0, 3, (8,))
>>> loss = supcon_loss(features, labels, memory=queue.contents())
>>> queue.push(features.flatten(0, 1), labels.repeat_interleave(2))
>>> queue.contents()[0].shape  # the 16 views pushed so far
torch.Size([16, 128])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LabelledQueue(nn.Module):
    """First in, first out: the last ``size`` embeddings pushed, with their labels.

    Args:
        size: how many embeddings it holds.
        dim: embedding width.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        self.register_buffer("embeddings", torch.zeros(size, dim))
        self.register_buffer("labels", torch.zeros(size, dtype=torch.long))
        self.register_buffer("pushed", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return len(self.embeddings)

    @torch.no_grad()
    def push(self, embeddings: Tensor, labels: Tensor) -> None:
        """Add ``[B, dim]`` embeddings and their ``[B]`` labels, dropping the oldest."""
        embeddings, labels = embeddings.detach()[-self.size :], labels[-self.size :]
        slots = (self.pushed + torch.arange(len(labels), device=labels.device)) % self.size
        self.embeddings[slots] = embeddings.to(self.embeddings.dtype)
        self.labels[slots] = labels.long()
        self.pushed += len(labels)

    def contents(self) -> tuple[Tensor, Tensor] | None:
        """The stored embeddings ``[Q, dim]`` and labels ``[Q]``, None while it is empty."""
        filled = min(int(self.pushed), self.size)
        if filled == 0:
            return None
        return self.embeddings[:filled], self.labels[:filled]
