"""The crop encoder (a backbone and a head) and loading one from a ``classify-train`` run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from condet.errors import CondetError
from condet.models.backbones import build_backbone
from condet.models.heads import ProjectionHead


class CropEncoder(nn.Module):
    """Backbone + head: a projection MLP (contrastive losses) or a linear classifier (CE).

    With ``small_input_stem`` a ResNet's 7x7 stride-2 stem and max-pool become a 3x3 stride-1
    convolution, as CIFAR ResNets (and the report's encoder) have, so 64x64 crops keep an 8x8
    final feature map.
    """

    def __init__(
        self,
        backbone_name: str,
        weights: str,
        outputs: int,
        contrastive: bool,
        small_input_stem: bool,
    ) -> None:
        super().__init__()
        self.backbone = build_backbone(backbone_name, weights)
        if small_input_stem and hasattr(self.backbone.body, "conv1"):
            width = self.backbone.body.conv1.out_channels
            self.backbone.body.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
            self.backbone.body.maxpool = nn.Identity()
        channels = self.backbone.out_channels
        self.contrastive = contrastive
        self.head = (
            ProjectionHead(channels, channels, outputs)
            if contrastive
            else nn.Linear(channels, outputs)
        )

    def forward(self, images: Tensor) -> Tensor:
        """Embeddings (contrastive) or logits (cross-entropy)."""
        return self.head(self.backbone.pool(images))

    def embed(self, images: Tensor) -> Tensor:
        """What is compared at test time: the normalised head output for contrastive
        encoders (the report's protocol), the pooled features for a classifier."""
        if self.contrastive:
            return F.normalize(self(images), dim=1)
        return self.backbone.pool(images)


def load_encoder(run: Path) -> tuple[CropEncoder, dict[str, Any]]:
    """A classify-train run's encoder and what was saved with it (classes, mean, std ...)."""
    path = run / "encoder.pt" if run.is_dir() else run
    if not path.is_file():
        raise CondetError(f"no encoder at {path}; point at a classify-train run folder")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    config = saved["config"]
    contrastive = config["loss"] != "ce"
    outputs = config["projection_dim"] if contrastive else len(saved["known"])
    encoder = CropEncoder(
        config["backbone"], "random", outputs, contrastive, config["small_input_stem"]
    )
    encoder.load_state_dict(saved["state_dict"])
    return encoder.eval(), saved
