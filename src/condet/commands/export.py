"""``condet export``: a trained detector as ONNX or TorchScript."""

from __future__ import annotations

from condet.commands.registry import Command
from condet.config.export import ExportConfig


def run(config: ExportConfig) -> int:
    """Export; the config and ``metrics.json`` (the format) lie beside the file."""
    from condet.inference import export_detector, load_detector
    from condet.run_folder import write_config, write_metrics

    model, _, _ = load_detector(config.checkpoint)
    suffix = ".onnx" if config.format == "onnx" else ".torchscript.pt"
    run_folder = config.checkpoint if config.checkpoint.is_dir() else config.checkpoint.parent
    out = export_detector(
        model, config.out or run_folder / ("detector" + suffix), config.format, config.size
    )
    write_config(out, config, single_file=True)
    write_metrics(out, {"format": config.format, "size": config.size}, single_file=True)
    print(f"exported to {out}")
    return 0


COMMAND = Command(
    name="export",
    help="export a trained detector to ONNX or TorchScript",
    description="Write a detect-train run's detector as ONNX (onnxruntime) or TorchScript.",
    config=ExportConfig,
    run=run,
    output_suffix=".onnx",
)
