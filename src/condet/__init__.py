"""condet: contrastive representation learning for object detection."""

__version__ = "0.1.0"
