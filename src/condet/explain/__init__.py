"""Explanations: Grad-CAM heatmaps of backbones, crop encoders and detectors."""

from condet.explain.gradcam import backbone_cam, detector_cam, encoder_cam, overlay, save_grid

__all__ = ["backbone_cam", "detector_cam", "encoder_cam", "overlay", "save_grid"]
