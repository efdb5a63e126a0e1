"""Models: backbones, projection heads, the Faster R-CNN (FPN) detector and the crop encoder."""

from condet.models.backbones import (
    BACKBONES,
    Backbone,
    BackboneError,
    build_backbone,
    load_backbone_weights,
    save_backbone,
)
from condet.models.detector import build_detector
from condet.models.encoder import CropEncoder, load_encoder
from condet.models.heads import ProjectionHead

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneError",
    "CropEncoder",
    "ProjectionHead",
    "build_backbone",
    "build_detector",
    "load_backbone_weights",
    "load_encoder",
    "save_backbone",
]
