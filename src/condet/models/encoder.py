"""The crop encoder (a backbone and a head) and loading one from a ``classify-train`` run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from condet.errors import CondetError
from condet.models.backbones import build_backbone
from condet.models.heads import ProjectionHead
from condet.models.weights import load_weights
from condet.run_folder import missing_model

ENCODER_FILES = ("encoder.safetensors", "encoder.pt")
"""What a classify-train run's encoder is saved as, newest format first."""


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


def load_encoder(run: Path, option: str = "--encoder") -> tuple[CropEncoder, dict[str, Any]]:
    """A classify-train run's encoder and what was saved with it (config, classes, known, mean,
    std, prototypes, threshold), from the run folder or its encoder file.

    ``option`` is how the user named ``run``, for the message when it holds no encoder.
    """
    path = encoder_file(run) if run.is_dir() else run
    if path is None or not path.is_file():
        looked = run / ENCODER_FILES[0] if path is None else path
        raise CondetError(missing_model(looked, "encoder", "classify-train", option))
    state_dict, saved = load_weights(path)
    config = saved["config"]
    contrastive = config["loss"] != "ce"
    outputs = config["projection_dim"] if contrastive else len(saved["known"])
    encoder = CropEncoder(
        config["backbone"], "random", outputs, contrastive, config["small_input_stem"]
    )
    encoder.load_state_dict(state_dict)
    return encoder.eval(), saved


def crop_context(saved: dict[str, Any]) -> float:
    """The margin around boxes, per box side, that the crops of an encoder :func:`load_encoder`
    read were cut with (``--context``)."""
    # encoders saved before the margin was recorded were all cut without one
    return saved["config"].get("context", 0.0)


def encoder_file(run: Path) -> Path | None:
    """The encoder file in a classify-train run folder (``encoder.safetensors``, or the
    ``encoder.pt`` of a run from before the one weights format), else None."""
    return next((run / name for name in ENCODER_FILES if (run / name).is_file()), None)
