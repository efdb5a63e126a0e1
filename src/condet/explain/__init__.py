"""Explanations: Grad-CAM heatmaps of backbones, crop encoders and detectors."""
