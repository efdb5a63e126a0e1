"""Projection heads: the MLP between a backbone's pooled features and a contrastive loss."""

from __future__ import annotations

from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """SimCLR's projection head: ``Linear -> BatchNorm -> ReLU -> Linear`` (Chen et al. 2020).

    The loss is applied to its output; downstream tasks use the backbone's features before it,
    which transfer better.

    Args:
        in_features: width of the backbone's pooled features.
        hidden_features: width of the hidden layer.
        out_features: width of the embedding (128 in SimCLR and SupCon).

    >>> import torch
    >>> head = ProjectionHead(512, 512, 128)
    >>> head(torch.randn(4, 512)).shape
    torch.Size([4, 128])
    """

    def __init__(self, in_features: int, hidden_features: int = 2048, out_features: int = 128):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden_features, bias=False),
            nn.BatchNorm1d(hidden_features),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_features, out_features),
        )

    def forward(self, features: Tensor) -> Tensor:
        """``[B, in_features]`` -> ``[B, out_features]``."""
        return self.layers(features)
