"""Models: backbones, heads and (later) the detector."""

from condet.models.backbones import (
    BACKBONES,
    Backbone,
    BackboneError,
    build_backbone,
    load_backbone_weights,
    save_backbone,
)
from condet.models.heads import ProjectionHead

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneError",
    "ProjectionHead",
    "build_backbone",
    "load_backbone_weights",
    "save_backbone",
]
