"""Explanations: Grad-CAM heatmaps of backbones, crop encoders and detectors."""

from condet.explain.detector_cam import detector_cam
from condet.explain.figures import overlay, save_grid
from condet.explain.gradcam import backbone_cam, encoder_cam

__all__ = ["backbone_cam", "detector_cam", "encoder_cam", "overlay", "save_grid"]
