"""``condet explain``: Grad-CAM heatmaps of several models side by side on the same images."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.explain import ExplainConfig


def run(config: ExplainConfig) -> int:
    """Explain (config and ``metrics.json`` lie beside the picture), then say where."""
    from condet.explain.comparison import run_explain

    print(f"heatmaps written to {run_explain(config)}")
    return 0


COMMAND = Command(
    name="explain",
    help="Grad-CAM heatmaps of models side by side on the same images",
    description="Grad-CAM / Grad-CAM++ / EigenCAM heatmaps of several models on the same "
    "images of a data set: backbones (e.g. a SimCLR run against random weights), crop "
    "encoders (classify-train runs, on object crops) or detectors (detect-train runs).",
    config=ExplainConfig,
    run=run,
    output_suffix=".png",
)
