"""Models: backbones, projection heads and the Faster R-CNN (FPN) detector built on them."""

from condet.models.backbones import (
    BACKBONES,
    Backbone,
    BackboneError,
    build_backbone,
    load_backbone_weights,
    save_backbone,
)
from condet.models.detector import build_detector
from condet.models.heads import ProjectionHead

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneError",
    "ProjectionHead",
    "build_backbone",
    "build_detector",
    "load_backbone_weights",
    "save_backbone",
]
